"""Guppy's GraphQL schema and resolvers (graphql-core) over :class:`~refcommons.guppy.index.GuppyIndex` es.

Per index type ``t`` (``T`` capitalised), as Guppy generates them::

    type Query { t(offset: Int, first: Int, filter: JSON, sort: JSON, accessibility: Accessibility = all,
                   format: Format = json): [T]   _aggregation: Aggregation   _mapping: Mapping }
    type Aggregation { t(filter: JSON, filterSelf: Boolean = true, nestedAggFields: JSON,
                         accessibility: Accessibility = all): TAggregation }
    type TAggregation { _totalCount: Int  <field>: HistogramForString | HistogramForNumber ... }
    type Mapping { t(searchInput: String): [String] }

The caller's view (:class:`GuppyContext`, the ``context_value``) carries its :class:`Access` and the commons'
tier level and limit; the rules are :func:`~refcommons.guppy.index.plan` and the ``hide_*`` functions. Bad
filters, sorts and arguments are GraphQL errors with ``extensions.code`` ``BAD_USER_INPUT``; a refused
raw-row query has Guppy's message and code ``401``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLField,
    GraphQLFloat,
    GraphQLInt,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    value_from_ast_untyped,
)

from refcommons.guppy.filter import Filter, FilterError, Search, drop_field, parse, searches, values_of
from refcommons.guppy.index import (
    AUTH_FIELD,
    ENCRYPT_COUNT,
    Access,
    GuppyIndex,
    OutOfScope,
    Plan,
    QueryError,
    Row,
    cardinality,
    field_count,
    hidden,
    hide_buckets,
    hide_total,
    numeric_bucket_count,
    numeric_histogram,
    page,
    parse_sort,
    plan,
    sort_rows,
    sub_aggregations,
    text_histogram,
)
from refcommons.settings import TierLevel

BAD_USER_INPUT = "BAD_USER_INPUT"
MAX_SEARCH_INPUT = 200


@dataclass(frozen=True)
class GuppyContext:
    """Who is asking (their :class:`Access`) and the commons' tier settings, for one request."""

    access: Access
    level: TierLevel
    limit: int
    whitelist: frozenset[str] = frozenset()

    def within(self, which: str | None) -> frozenset[str] | None:
        if which is None:
            return None
        return self.access.accessible if which == "accessible" else self.access.unaccessible

    def out_of_scope(self, index: GuppyIndex, flt: Filter) -> bool:
        """Whether ``flt`` selects rows the caller may not read (only asked under ``regular``)."""
        return self.level == "regular" and any(r.get(AUTH_FIELD) not in self.access.accessible
                                               for r in index.select(flt))

    def decide(self, index: GuppyIndex, flt: Filter, accessibility: Any, *, raw: bool) -> Plan:
        return plan(self.level, accessibility, self.out_of_scope(index, flt), raw=raw)


def _bad_input(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": BAD_USER_INPUT})


def _guarded(resolve: Callable[..., Any]) -> Callable[..., Any]:
    """``resolve`` with this module's errors turned into GraphQL errors Guppy would give."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return resolve(*args, **kwargs)
        except (FilterError, QueryError) as exc:
            raise _bad_input(str(exc)) from None
        except OutOfScope as exc:
            raise GraphQLError(str(exc), extensions={"code": 401}) from None

    return wrapper


# --- raw rows -----------------------------------------------------------------------------------------


def _highlight(row: Row, found: list[Search]) -> Row:
    matched = []
    for unit in found:
        pattern = re.compile(re.escape(unit.keyword), re.IGNORECASE)
        for name in unit.fields:
            hits = [pattern.sub(lambda m: f"<em>{m.group(0)}</em>", str(v)) for v in values_of(row, name)
                    if pattern.search(str(v))]
            if hits:
                matched.append({"field": name, "highlights": hits})
    return {**row, "_matched": matched} if matched else row


def _rows_resolver(index: GuppyIndex) -> Callable[..., Any]:
    @_guarded
    def resolve(_root: Any, info: Any, **args: Any) -> list[Row]:
        ctx: GuppyContext = info.context
        flt = parse(args.get("filter"), index.kinds)
        keys = parse_sort(args.get("sort"), index)
        decision = ctx.decide(index, flt, args["accessibility"], raw=True)
        rows = page(sort_rows(index.select(flt, ctx.within(decision.within)), keys), args.get("offset"),
                    args.get("first"))
        found = searches(flt)
        return [_highlight(r, found) for r in rows] if found else rows

    return resolve


# --- aggregations -------------------------------------------------------------------------------------


@dataclass
class AggScope:
    """One ``_aggregation { t(...) }``: its filter and tier plan, and the rows it reads (memoised)."""

    ctx: GuppyContext
    index: GuppyIndex
    flt: Filter
    filter_self: bool
    decision: Plan
    nested: tuple[list[str], list[str]] | None
    _rows: dict[tuple[str | None, bool], list[Row]] = field(default_factory=dict)

    def rows(self, name: str | None = None, unaccessible: bool = False) -> list[Row]:
        """Rows of the scope; ``name``: ignoring filters on that field if ``filterSelf`` is false;
        ``unaccessible``: only those the caller may not read."""
        skip = None if self.filter_self else name
        key = (skip, unaccessible)
        if key not in self._rows:
            flt = self.flt if skip is None else drop_field(self.flt, skip)
            within = self.ctx.within(self.decision.within)
            if unaccessible:
                others = self.ctx.access.unaccessible
                within = others if within is None else within & others
            self._rows[key] = self.index.select(flt, within)
        return self._rows[key]

    def guard_total(self, count: Callable[[list[Row]], int]) -> int:
        total = count(self.rows())
        return hide_total(total, count(self.rows(unaccessible=True)), self.ctx.limit) if self.decision.encrypt \
            else total


@dataclass(frozen=True)
class FieldScope:
    scope: AggScope
    name: str
    numeric: bool


def _nested_spec(raw: object, index: GuppyIndex) -> tuple[list[str], list[str]] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) - {"termsFields", "missingFields"}:
        raise QueryError("nestedAggFields takes {termsFields: [field], missingFields: [field]}")
    lists = [raw.get("termsFields") or [], raw.get("missingFields") or []]
    for names in lists:
        if not isinstance(names, list) or not all(isinstance(n, str) and index.field(n) for n in names):
            raise QueryError("nestedAggFields lists fields of this index")
    return lists[0], lists[1]


def _agg_resolver(index: GuppyIndex) -> Callable[..., Any]:
    @_guarded
    def resolve(_root: Any, info: Any, **args: Any) -> AggScope:
        ctx: GuppyContext = info.context
        flt = parse(args.get("filter"), index.kinds)
        filter_self = args["filterSelf"] is not False
        touched = flt if filter_self else drop_field(flt, AUTH_FIELD)
        decision = ctx.decide(index, touched, args["accessibility"], raw=False)
        return AggScope(ctx, index, flt, filter_self, decision, _nested_spec(args.get("nestedAggFields"), index))

    return resolve


def _text_buckets(fs: FieldScope) -> list[dict[str, Any]]:
    scope, name = fs.scope, fs.name
    nested = scope.nested
    rows = scope.rows(name)
    buckets = text_histogram(rows, name, numeric=fs.numeric, include_missing=nested is None)
    if nested is not None:
        buckets = sub_aggregations(rows, name, buckets, *nested)
    if not scope.decision.encrypt:
        return buckets
    others = text_histogram(scope.rows(name, unaccessible=True), name, numeric=fs.numeric)
    return hide_buckets(buckets, {b["key"]: b["count"] for b in others}, scope.ctx.limit, scope.ctx.whitelist)


@_guarded
def _number_buckets(fs: FieldScope, _info: Any, **args: Any) -> list[dict[str, Any]]:
    scope, name = fs.scope, fs.name
    options = {"range_start": args.get("rangeStart"), "range_end": args.get("rangeEnd"),
               "range_step": args.get("rangeStep"), "bin_count": args.get("binCount")}
    buckets = numeric_histogram(scope.rows(name), name, **options)
    if not scope.decision.encrypt:
        return buckets
    closed = all(options[k] is None for k in ("range_end", "range_step", "bin_count"))
    others = scope.rows(name, unaccessible=True)
    limit = scope.ctx.limit
    return [{"key": b["key"], "count": ENCRYPT_COUNT} if hidden(numeric_bucket_count(others, name, b["key"], closed),
                                                                 limit) else b for b in buckets]


def _count_of(kind: Callable[[list[Row], str], int]) -> Callable[..., int]:
    def resolve(fs: FieldScope, _info: Any, **_args: Any) -> int:
        total = kind(fs.scope.rows(), fs.name)
        if not fs.scope.decision.encrypt:
            return total
        return hide_total(total, field_count(fs.scope.rows(unaccessible=True), fs.name), fs.scope.ctx.limit)

    return resolve


def _total_count(scope: AggScope, _info: Any) -> int:
    return scope.guard_total(len)


# --- the schema ---------------------------------------------------------------------------------------


def _json_literal(node: Any, variables: dict[str, Any] | None = None) -> Any:
    return value_from_ast_untyped(node, variables)


JSON = GraphQLScalarType("JSON", serialize=lambda v: v, parse_value=lambda v: v, parse_literal=_json_literal,
                         description="Any JSON value (Guppy's filters, sorts and nestedAggFields)")
ACCESSIBILITY = GraphQLEnumType("Accessibility", {"all": "all", "accessible": "accessible",
                                                  "unaccessible": "unaccessible"})
FORMAT = GraphQLEnumType("Format", {"json": "json", "tsv": "tsv", "csv": "csv"})
SCALARS: dict[str, GraphQLOutputType] = {"String": GraphQLString, "Int": GraphQLInt, "Float": GraphQLFloat}


def _obj(name: str, fields: Mapping[str, GraphQLField | GraphQLOutputType]) -> GraphQLObjectType:
    return GraphQLObjectType(name, {k: v if isinstance(v, GraphQLField) else GraphQLField(v) for k, v in
                                    fields.items()})


MATCHED = _obj("MatchedItem", {"field": GraphQLString, "highlights": GraphQLList(GraphQLString)})
MISSING_FIELDS = _obj("BucketsForNestedMissingFields", {"field": GraphQLString, "count": GraphQLInt})
STRING_BUCKET = _obj("BucketsForString", {"key": GraphQLString, "count": GraphQLInt})
TERMS_FIELDS = _obj("BucketsForNestedTermsFields", {"field": GraphQLString, "count": GraphQLInt,
                                                    "terms": GraphQLList(STRING_BUCKET)})
_SUB = {"missingFields": GraphQLList(MISSING_FIELDS), "termsFields": GraphQLList(TERMS_FIELDS)}
TEXT_BUCKET = _obj("BucketsForNestedStringAgg", {"key": GraphQLString, "count": GraphQLInt, **_SUB})
NUMBER_BUCKET = _obj("BucketsForNestedNumberAgg", {
    "key": GraphQLList(GraphQLFloat), "min": GraphQLFloat, "max": GraphQLFloat, "avg": GraphQLFloat,
    "sum": GraphQLFloat, "count": GraphQLInt, **_SUB,
})
_COUNTS = {
    "_totalCount": GraphQLField(GraphQLInt, resolve=_count_of(field_count)),
    "_cardinalityCount": GraphQLField(GraphQLInt, {"precision_threshold": GraphQLArgument(GraphQLInt, 3000)},
                                      resolve=_count_of(cardinality)),
}
_AS_TEXT = GraphQLField(GraphQLList(TEXT_BUCKET), resolve=lambda fs, _info: _text_buckets(fs))
HISTOGRAM_FOR_STRING = _obj("HistogramForString", {**_COUNTS, "histogram": _AS_TEXT, "asTextHistogram": _AS_TEXT})
HISTOGRAM_FOR_NUMBER = _obj("HistogramForNumber", {
    **_COUNTS,
    "histogram": GraphQLField(GraphQLList(NUMBER_BUCKET), {
        k: GraphQLArgument(GraphQLInt) for k in ("rangeStart", "rangeEnd", "rangeStep", "binCount")
    }, resolve=_number_buckets),
    "asTextHistogram": _AS_TEXT,
})


def _title(name: str) -> str:
    return name[:1].upper() + name[1:]


def _index_types(index: GuppyIndex) -> tuple[GraphQLObjectType, GraphQLObjectType]:
    row_type = _obj(_title(index.type), {**{f.name: SCALARS[f.gql] for f in index.fields},
                                         "_matched": GraphQLList(MATCHED)})

    def field_resolver(name: str, numeric: bool) -> Callable[..., FieldScope]:
        return lambda scope, _info: FieldScope(scope, name, numeric)

    aggs: dict[str, GraphQLField] = {"_totalCount": GraphQLField(GraphQLInt, resolve=_total_count)}
    for f in index.fields:
        numeric = f.kind == "number"
        aggs[f.name] = GraphQLField(HISTOGRAM_FOR_NUMBER if numeric else HISTOGRAM_FOR_STRING,
                                    resolve=field_resolver(f.name, numeric))
    return row_type, GraphQLObjectType(f"{_title(index.type)}Aggregation", aggs)


def _mapping_resolver(index: GuppyIndex) -> Callable[..., list[str]]:
    @_guarded
    def resolve(_root: Any, _info: Any, searchInput: str | None = None) -> list[str]:
        if searchInput is None:
            return index.mapping()
        if len(searchInput) > MAX_SEARCH_INPUT:
            raise QueryError(f"searchInput is longer than {MAX_SEARCH_INPUT} characters")
        try:
            pattern = re.compile(searchInput)
        except re.error as exc:
            raise QueryError(f"invalid searchInput regular expression: {exc}") from None
        return [name for name in index.mapping() if pattern.search(name)]

    return resolve


def build_schema(indices: Mapping[str, GuppyIndex]) -> GraphQLSchema:
    """The GraphQL schema Guppy would generate for ``indices``."""
    query: dict[str, GraphQLField] = {}
    aggregation: dict[str, GraphQLField] = {}
    mapping: dict[str, GraphQLField] = {}
    for index in indices.values():
        row_type, agg_type = _index_types(index)
        query[index.type] = GraphQLField(GraphQLList(row_type), {
            "offset": GraphQLArgument(GraphQLInt), "first": GraphQLArgument(GraphQLInt),
            "filter": GraphQLArgument(JSON), "sort": GraphQLArgument(JSON),
            "accessibility": GraphQLArgument(ACCESSIBILITY, "all"), "format": GraphQLArgument(FORMAT, "json"),
        }, resolve=_rows_resolver(index))
        aggregation[index.type] = GraphQLField(agg_type, {
            "filter": GraphQLArgument(JSON), "filterSelf": GraphQLArgument(GraphQLBoolean, True),
            "nestedAggFields": GraphQLArgument(JSON), "accessibility": GraphQLArgument(ACCESSIBILITY, "all"),
        }, resolve=_agg_resolver(index))
        mapping[index.type] = GraphQLField(GraphQLList(GraphQLString), {"searchInput": GraphQLArgument(GraphQLString)},
                                           resolve=_mapping_resolver(index))
    query["_aggregation"] = GraphQLField(GraphQLObjectType("Aggregation", aggregation), resolve=lambda *_: {})
    query["_mapping"] = GraphQLField(GraphQLObjectType("Mapping", mapping), resolve=lambda *_: {})
    return GraphQLSchema(GraphQLObjectType("Query", query))
