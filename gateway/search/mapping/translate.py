"""A cohort question in the gateway's names → the same question in one member's names, and that member's answer
back in the gateway's; pure (no I/O), over one :class:`~gateway.search.mapping.model.IndexMapping`.

Questions (:func:`to_member`): field names are renamed wherever they occur in the Guppy filter (leaves, ``AND`` /
``OR`` at any depth, ``nested`` paths and the fields inside them, ``search`` fields), in facets and in row fields.
On a field whose values are mapped, a leaf asks for every member value the gateway sees as the wanted one:

* ``=`` v → ``IN`` (the member values of v) (``{"=": {"sex": "female"}}`` → ``{"IN": {"gender": ["F",
  "female"]}}``); ``IN`` [v…] → ``IN`` (all their member values);
* ``!=`` / ``EXCLUDES_ANY`` [v…] → ``!=`` / ``EXCLUDES_ANY`` (all their member values), a list (Guppy's ``!=`` on
  text takes one);
* ``CONTAINS_ALL`` [v…] → ``AND`` of one ``IN`` per v; ``EXCLUDES_ALL`` [v…] → ``OR`` of one ``EXCLUDES_ANY`` per v.

A value no member value maps to gives an empty list (``IN []`` matches nothing, ``EXCLUDES_ANY []`` everything); a
leaf whose values all map only to themselves is sent as it came, so its meaning (Guppy's ``no data``, number
fields) is the member's as before. What cannot be translated exactly raises :class:`UntranslatableQuery` rather
than asking something else: range operators (``>``, ``>=``, ``<``, ``<=``) and ``search`` on a field whose values
are mapped (member values order and read differently), ``search`` without ``fields`` on an index with value maps,
and a filter on a gateway field the member has no name for. A facet the member has no name for is not asked and
the answer is ``partial``; such a row field is not asked and its rows lack it.

Answers: :func:`counts_to_gateway` renames facets and maps bucket keys, SUMMING buckets that become one gateway key
(``all`` and ``accessible`` alike; for an array field, a record holding two member values of one gateway value
counts once per value, as the member's own buckets count it); a bucket the member hid hides the whole gateway
bucket it becomes part of (its visible parts are dropped: the sum is unknown), whose accessible part is known
(``hidden_accessible``: the visible parts' and the hidden ones' accessible counts summed) only when the member
told the accessible part of every hidden bucket in it. :func:`rows_to_gateway` renames
row keys (nested objects too) and maps values (text values, numbers by their text form, list elements).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.members.search import TOTAL, ZERO, CohortQuery, Count, HiddenCell, MemberCounts, RowsPage
from gateway.search.mapping.model import IndexMapping
from gateway.wire import guppy
from gateway.wire.guppy import spellings, text_of

EQ = spellings(guppy.EQ)
IN = spellings(guppy.IN)
CONTAINS_ALL = spellings(guppy.CONTAINS_ALL)
EXCLUDES_ANY = spellings(guppy.EXCLUDES_ANY)
EXCLUDES_ALL = spellings(guppy.EXCLUDES_ALL)
RANGES = spellings(*guppy.RANGES)


class UntranslatableQuery(ValueError):
    """The question cannot be put to the member exactly in its own names (the message says why)."""


@dataclass(frozen=True)
class MemberQuery:
    """A question in one member's names, and what its answer's names are at the gateway."""

    query: CohortQuery
    fields: tuple[str, ...]
    """Row fields, in the member's names."""
    facet_names: Mapping[str, str]
    """Member facet → gateway facet."""
    field_names: Mapping[str, str]
    """Member row field → gateway row field."""
    dropped_facets: tuple[str, ...] = ()
    """Gateway facets the member has no field for (not asked)."""


# --- questions ------------------------------------------------------------------------------------------------


def to_member(mapping: IndexMapping, member: str, query: CohortQuery, fields: Sequence[str] = ()) -> MemberQuery:
    """``query`` (and row ``fields``) in ``member``'s names; :class:`UntranslatableQuery` naming the member when
    it cannot be asked exactly."""
    try:
        flt = None if query.filter is None else _node(mapping, query.filter, "", "")
    except UntranslatableQuery as exc:
        raise UntranslatableQuery(f"the filter cannot be translated exactly for member {member!r}: {exc}") from None
    facets, facet_names, dropped = [], {}, []
    for facet in query.facets:
        name = mapping.member_field(facet)
        if name is None:
            dropped.append(facet)
        else:
            facets.append(name)
            facet_names[name] = facet
    row_fields, field_names = [], {}
    for field in fields:
        name = mapping.member_field(field)
        if name is not None:
            row_fields.append(name)
            field_names[name] = field
    if fields and not row_fields:
        raise UntranslatableQuery(f"member {member!r} has none of the row fields asked for under those names")
    return MemberQuery(CohortQuery(query.index, flt, tuple(facets)), tuple(row_fields), facet_names, field_names,
                       tuple(dropped))


def _member_name(mapping: IndexMapping, full: str, member_prefix: str) -> str:
    """The member's name of gateway field ``full``, relative to the member's nested path ``member_prefix``."""
    name = mapping.member_field(full)
    if name is None:
        raise UntranslatableQuery(f"the member has no field {full!r} (its {full!r} is the gateway's "
                                  f"{mapping.gateway_field(full)!r})")
    if not name.startswith(member_prefix):  # checked at start-up; kept as a guard
        raise UntranslatableQuery(f"field {full!r} is not under its nested path at the member")
    return name[len(member_prefix):]


def _node(mapping: IndexMapping, node: Any, prefix: str, member_prefix: str) -> Any:
    if not isinstance(node, Mapping) or len(node) > 1:
        raise UntranslatableQuery("each filter is an object with one operator")
    if not node:
        return {}
    ((op, arg),) = node.items()
    if not isinstance(op, str):
        raise UntranslatableQuery("operators are strings")
    if op.lower() in guppy.CONJUNCTIONS:
        if not isinstance(arg, list):
            raise UntranslatableQuery(f"{op} takes a list of filters")
        return {op: [_node(mapping, item, prefix, member_prefix) for item in arg]}
    if op.lower() == guppy.NESTED:
        return {op: _nested(mapping, arg, prefix, member_prefix)}
    if op.lower() == guppy.SEARCH:
        return {op: _search(mapping, arg, prefix, member_prefix)}
    if not isinstance(arg, Mapping) or len(arg) != 1:
        raise UntranslatableQuery(f"{op} takes {{<field>: <value>}}")
    ((field, operand),) = arg.items()
    if not isinstance(field, str):
        raise UntranslatableQuery("field names are strings")
    full = prefix + field
    name = _member_name(mapping, full, member_prefix)
    if not mapping.maps_values(full):
        return {op: {name: operand}}
    return _mapped_leaf(mapping, op, full, name, operand)


def _nested(mapping: IndexMapping, arg: Any, prefix: str, member_prefix: str) -> dict[str, Any]:
    if not isinstance(arg, Mapping) or not isinstance(arg.get("path"), str):
        raise UntranslatableQuery('nested takes {"path": <field>, <operator>: ...}')
    full = prefix + arg["path"]
    path = _member_name(mapping, full, member_prefix)
    inner = _node(mapping, {k: v for k, v in arg.items() if k != "path"}, full + ".", member_prefix + path + ".")
    return {"path": path, **inner}


def _search(mapping: IndexMapping, arg: Any, prefix: str, member_prefix: str) -> Any:
    if not isinstance(arg, Mapping):
        raise UntranslatableQuery('search takes {"keyword": ..., "fields": [...]}')
    if "fields" not in arg or arg["fields"] is None:
        if mapping.values:
            raise UntranslatableQuery("search without fields on an index whose values are mapped (name the fields)")
        return dict(arg)
    names = arg["fields"]
    single = isinstance(names, str)
    out = []
    for field in [names] if single else names if isinstance(names, list) else [None]:
        if not isinstance(field, str):
            raise UntranslatableQuery("search fields are field names")
        if mapping.maps_values(prefix + field):
            raise UntranslatableQuery(f"search on {prefix + field!r}, whose values are mapped")
        out.append(_member_name(mapping, prefix + field, member_prefix))
    return {**arg, "fields": out[0] if single else out}


def _wanted(op: str, full: str, operand: Any) -> list[str]:
    values = operand if isinstance(operand, list) else [operand]
    texts = [text_of(v) for v in values]
    if any(t is None for t in texts):
        raise UntranslatableQuery(f"{op} on {full!r} takes strings or numbers")
    return [t for t in texts if t is not None]


def _union(mapping: IndexMapping, full: str, wanted: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(m for v in wanted for m in mapping.member_values(full, v)))


def _mapped_leaf(mapping: IndexMapping, op: str, full: str, name: str, operand: Any) -> dict[str, Any]:
    if op in RANGES:
        raise UntranslatableQuery(f"{op} on {full!r}, whose values are mapped (member values order differently)")
    if op in EQ and isinstance(operand, list):
        raise UntranslatableQuery(f"{op} on {full!r} takes one value")
    if op not in EQ | IN | CONTAINS_ALL | EXCLUDES_ANY | EXCLUDES_ALL:
        raise UntranslatableQuery(f"unknown operator {op!r}")
    wanted = _wanted(op, full, operand)
    if all(mapping.member_values(full, v) == (v,) for v in wanted):
        return {op: {name: operand}}  # nothing changes meaning: sent as it came
    if op in EQ:
        return {"IN": {name: _union(mapping, full, wanted)}}
    if op in IN or op in EXCLUDES_ANY:
        return {op: {name: _union(mapping, full, wanted)}}
    originals = operand if isinstance(operand, list) else [operand]
    if op in CONTAINS_ALL:  # a value that maps only to itself keeps the operator (and Guppy's `no data`)
        return {"AND": [{op: {name: [original]}} if mapping.member_values(full, v) == (v,) else
                        {"IN": {name: list(mapping.member_values(full, v))}} for original, v in zip(originals, wanted)]}
    return {"OR": [{"EXCLUDES_ANY": {name: list(mapping.member_values(full, v))}} for v in wanted]}


# --- answers --------------------------------------------------------------------------------------------------


def counts_to_gateway(mapping: IndexMapping, question: MemberQuery, counts: MemberCounts) -> MemberCounts:
    """The member's counts in the gateway's facet names and values (see the module docstring)."""
    histograms: dict[str, dict[str | None, Count]] = {}
    # gateway hidden cell → the accessible part of its member cells, None once one of them was hidden untold
    told: dict[HiddenCell, int | None] = {TOTAL: counts.hidden_accessible.get(TOTAL)} if TOTAL in counts.hidden else {}

    def gateway(facet: str) -> str:
        return question.facet_names.get(facet) or mapping.gateway_field(facet) or facet

    def key_of(facet: str, key: str | None) -> str | None:
        return None if key is None else mapping.gateway_value(facet, key)

    for cell in sorted(counts.hidden, key=repr):
        if isinstance(cell, tuple):
            facet = gateway(cell[0])
            target = (facet, key_of(facet, cell[1]))
            given, so_far = counts.hidden_accessible.get(cell), told.get(target, 0)
            told[target] = None if given is None or so_far is None else so_far + given
    for member_facet, buckets in counts.histograms.items():
        facet = gateway(member_facet)
        out = histograms.setdefault(facet, {})
        for key, count in buckets.items():
            mapped = key_of(facet, key)
            if (facet, mapped) not in told:
                out[mapped] = out.get(mapped, ZERO) + count
            elif (member_facet, key) not in counts.hidden and (so_far := told[(facet, mapped)]) is not None:
                told[(facet, mapped)] = so_far + count.accessible  # a visible part of a hidden gateway bucket
    return MemberCounts(counts.total, histograms, frozenset(told),
                        hidden_accessible={cell: n for cell, n in told.items() if n is not None},
                        partial=counts.partial or bool(question.dropped_facets))


def value_to_gateway(mapping: IndexMapping, field: str, value: Any) -> Any:
    """One row value of gateway ``field`` (full name) as the gateway sees it."""
    if isinstance(value, list):
        return [value_to_gateway(mapping, field, v) for v in value]
    if isinstance(value, Mapping):
        return _object_to_gateway(mapping, value, field + ".")
    if not mapping.maps_values(field):
        return value
    text = text_of(value)
    if text is None:
        return value
    mapped = mapping.gateway_value(field, text)
    return value if mapped == text else mapped


def _object_to_gateway(mapping: IndexMapping, row: Mapping[str, Any], prefix: str,
                       names: Mapping[str, str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    member_prefix = "" if not prefix else (mapping.member_field(prefix[:-1]) or prefix[:-1]) + "."
    for key, value in row.items():
        full = names.get(key) if names is not None and key in names else mapping.gateway_field(member_prefix + key)
        if full is None:
            continue  # a member field the gateway has no name for
        out[full[len(prefix):] if full.startswith(prefix) else full] = value_to_gateway(mapping, full, value)
    return out


def row_to_gateway(mapping: IndexMapping, row: Mapping[str, Any],
                   names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One member row in the gateway's names and values (``names``: member → gateway names asked for)."""
    return _object_to_gateway(mapping, row, "", names)


def rows_to_gateway(mapping: IndexMapping, question: MemberQuery, page: RowsPage) -> RowsPage:
    return RowsPage(tuple(row_to_gateway(mapping, r, question.field_names) for r in page.rows), page.next_offset,
                    page.total)
