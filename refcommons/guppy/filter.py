"""Guppy's JSON filter language over plain dict rows: :func:`parse` checks a filter against an index's field
kinds and gives a small syntax tree; :func:`matches` evaluates it on one row. Pure, no I/O.

A filter is ``{}`` / ``null`` (everything), ``{"AND"|"OR": [filter, ...]}`` (any case; items that are empty
are left out, and a combination left with no item matches everything, as in Guppy), a leaf
``{<op>: {<field>: <value>}}``, ``{"search": {"keyword": str, "fields": str | [str]}}`` or
``{"nested": {"path": <nested field>, <op>: {...}}}``. Leaf operators, their spellings and what each means on a
text or a number field are Guppy's grammar (:mod:`gateway.wire.guppy`); here:

* text fields: ``eq`` (one value); ``in``, ``contains_all``, ``excludes_any`` and ``excludes_all`` (a list;
  ``!=``, spelled so, also takes one value). :data:`~gateway.wire.guppy.MISSING_DATA_ALIAS` given to ``eq`` or
  inside ``in`` also matches rows without the field (Guppy's ``aggs_include_missing_data``).
* number fields: ``eq`` (one value), ``in`` (a list), ``ne`` (``!=``: one value; never matches a missing value,
  like Guppy's ``gt OR lt``), ``gt``, ``gte``, ``lt``, ``lte``. Numeric strings are read as numbers, as
  Elasticsearch does.

A row's value may be a list (an array field): a leaf matches when any element does. ``search`` matches a
case-insensitive substring of the named text fields (default: every top-level text field). Anything else is a
:class:`FilterError` naming what is wrong; this is stricter than Guppy, which reads only the first key of an
object and lets Elasticsearch fail on the rest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway.wire.guppy import (
    CONJUNCTIONS,
    CONTAINS_ALL,
    EQ,
    EXCLUDES_ANY,
    GT,
    GTE,
    IN,
    LIST_OPS,
    LT,
    LTE,
    MISSING_DATA_ALIAS,
    NE,
    NESTED,
    NUMBER_OPS,
    SEARCH,
    TEXT_OPS,
    text_of,
)

FieldKind = Literal["text", "number", "nested"]
Scalar = str | float

MIN_SEARCH_LENGTH = 2
MAX_DEPTH = 64
SYNTAX = 'Please check your syntax for input "filter" argument'


class FilterError(ValueError):
    """The filter is not valid Guppy filter syntax for this index."""


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    """The operator's meaning (:data:`gateway.wire.guppy.TEXT_OPS` / :data:`~gateway.wire.guppy.NUMBER_OPS`)."""
    field: str
    values: tuple[Scalar, ...]
    number: bool


@dataclass(frozen=True, slots=True)
class Combine:
    conjunction: bool
    """``True``: AND; ``False``: OR."""
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Search:
    keyword: str
    fields: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Nested:
    path: str
    inner: Node


Node = Compare | Combine | Search | Nested
Filter = Node | None
"""A parsed filter; ``None`` matches every row."""


# --- parsing ------------------------------------------------------------------------------------------


def parse(raw: object, kinds: Mapping[str, FieldKind], *, _depth: int = 0) -> Filter:
    """The filter ``raw`` (decoded JSON) over fields of ``kinds`` (nested fields' children as ``path.child``)."""
    if _depth > MAX_DEPTH:
        raise FilterError(f"{SYNTAX}: nested more than {MAX_DEPTH} levels deep")
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise FilterError(f"{SYNTAX}: a filter is a JSON object, not {_kind_of(raw)}")
    if not raw:
        return None
    op, body = _single(raw, "a filter object takes exactly one operator")
    lowered = op.lower()
    if lowered in CONJUNCTIONS:
        if not isinstance(body, list):
            raise FilterError(f"{SYNTAX}: {op} takes a list of filters, not {_kind_of(body)}")
        items = tuple(n for n in (parse(item, kinds, _depth=_depth + 1) for item in body) if n is not None)
        return Combine(lowered == "and", items) if items else None
    if lowered == SEARCH:
        return _search(body, kinds)
    if lowered == NESTED:
        return _nested(body, kinds, _depth)
    return _compare(op, body, kinds)


def _kind_of(value: object) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _single(raw: Mapping[Any, Any], what: str) -> tuple[str, Any]:
    if len(raw) != 1:
        raise FilterError(f"{SYNTAX}: {what}, got {len(raw)}: {', '.join(map(str, raw))}")
    key, value = next(iter(raw.items()))
    return str(key), value


def _compare(op: str, body: object, kinds: Mapping[str, FieldKind]) -> Compare:
    if not isinstance(body, Mapping):
        raise FilterError(f"{SYNTAX}: {op} takes an object {{field: value}}, not {_kind_of(body)}")
    field, value = _single(body, f"{op} takes exactly one field")
    kind = kinds.get(field)
    if kind is None or kind == "nested":
        raise FilterError(f"{SYNTAX}: no field {field!r} in this index" if kind is None else
                          f"{SYNTAX}: {field!r} is a nested field; use a nested filter")
    if kind == "number":
        canonical = NUMBER_OPS.get(op)
        if canonical is None:
            raise FilterError(f'Invalid numeric operation "{op}" for field "{field}" in filter argument')
        return Compare(canonical, field, _operands(op, field, value, canonical == IN, _number), True)
    canonical = TEXT_OPS.get(op)
    if canonical is None:
        raise FilterError(f'Invalid operation "{op}" in filter argument.')
    single_ok = canonical not in LIST_OPS or op == "!="
    if single_ok and not isinstance(value, list):
        return Compare(canonical, field, (_text(op, field, value),), False)
    return Compare(canonical, field, _operands(op, field, value, canonical in LIST_OPS, _text), False)


def _operands(
    op: str, field: str, value: object, as_list: bool, convert: Callable[[str, str, object], Scalar]
) -> tuple[Scalar, ...]:
    if as_list != isinstance(value, list):
        want = "a list of values" if as_list else "a single value"
        raise FilterError(f"{SYNTAX}: {op} on {field!r} takes {want}, not {_kind_of(value)}")
    return tuple(convert(op, field, v) for v in value) if isinstance(value, list) else (convert(op, field, value),)


def _text(op: str, field: str, value: object) -> str:
    text = text_of(value)
    if text is None:
        raise FilterError(f"{SYNTAX}: {op} on text field {field!r} takes strings, not {_kind_of(value)}")
    return text


def _number(op: str, field: str, value: object) -> float:
    number: float | None = None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            number = float(value.strip())
    except (ValueError, OverflowError):
        number = None
    if number is None or not math.isfinite(number):
        shown = repr(value[:40]) if isinstance(value, str) else _kind_of(value)
        raise FilterError(f"{SYNTAX}: {op} on number field {field!r} takes numbers, not {shown}")
    return number


def _search(body: object, kinds: Mapping[str, FieldKind]) -> Search:
    if not isinstance(body, Mapping) or "keyword" not in body:
        raise FilterError("Invalid search filter syntax: missing 'keyword' field")
    extra = [str(k) for k in body if k not in ("keyword", "fields")]
    if extra:
        raise FilterError(f"Invalid search filter syntax: unrecognized field '{extra[0]}'")
    keyword = body["keyword"]
    if not isinstance(keyword, str) or len(keyword) < MIN_SEARCH_LENGTH:
        raise FilterError(f"Keyword too short (length < {MIN_SEARCH_LENGTH})")
    raw_fields = body.get("fields")
    if raw_fields is None:
        return Search(keyword, tuple(f for f, k in kinds.items() if k == "text" and "." not in f))
    names = [raw_fields] if isinstance(raw_fields, str) else raw_fields
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise FilterError("Invalid search filter syntax: fields is a field name or a list of field names")
    bad = [n for n in names if kinds.get(n) != "text"]
    if bad:
        raise FilterError(f'invalid field {bad[0]} in "filter" variable')
    return Search(keyword, tuple(names))


def _nested(body: object, kinds: Mapping[str, FieldKind], depth: int) -> Filter:
    if not isinstance(body, Mapping) or not isinstance(body.get("path"), str):
        raise FilterError(f"{SYNTAX}: nested takes {{\"path\": <nested field>, <operator>: ...}}")
    path = body["path"]
    if kinds.get(path) != "nested":
        raise FilterError(f"Field {path} does not exist in ES index as a nested field")
    prefix = path + "."
    children = {k[len(prefix):]: v for k, v in kinds.items() if k.startswith(prefix)}
    inner = parse({k: v for k, v in body.items() if k != "path"}, children, _depth=depth + 1)
    return None if inner is None else Nested(path, inner)


# --- combining and evaluating -------------------------------------------------------------------------


def conjoin(a: Filter, b: Filter) -> Filter:
    """``a AND b`` (Guppy's ``addTwoFilters``)."""
    if a is None or b is None:
        return a if b is None else b
    return Combine(True, (a, b))


def drop_field(node: Filter, field: str, _prefix: str = "") -> Filter:
    """``node`` without the leaves on ``field`` (Guppy's ``filterSelf: false``); a combination left empty is
    left out, as Guppy does."""
    if isinstance(node, Compare):
        return None if _prefix + node.field == field else node
    if isinstance(node, Combine):
        items = tuple(n for n in (drop_field(i, field, _prefix) for i in node.items) if n is not None)
        return Combine(node.conjunction, items) if items else None
    if isinstance(node, Nested):
        inner = drop_field(node.inner, field, f"{_prefix}{node.path}.")
        return None if inner is None else Nested(node.path, inner)
    return node


def searches(node: Filter) -> list[Search]:
    """The ``search`` units of ``node`` outside nested filters (for ``_matched`` highlights)."""
    if isinstance(node, Search):
        return [node]
    if isinstance(node, Combine):
        return [s for item in node.items for s in searches(item)]
    return []


def values_of(row: Mapping[str, Any], field: str) -> list[Any]:
    """The values ``row`` holds for ``field`` (``[]`` when missing; a list field gives its non-null elements)."""
    value = row.get(field)
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [v for v in value if v is not None]
    return [value]


def matches(node: Filter, row: Mapping[str, Any]) -> bool:
    """Whether ``row`` satisfies ``node``."""
    if node is None:
        return True
    if isinstance(node, Combine):
        results: Iterable[bool] = (matches(item, row) for item in node.items)
        return all(results) if node.conjunction else any(results)
    if isinstance(node, Search):
        needle = node.keyword.lower()
        return any(needle in str(v).lower() for f in node.fields for v in values_of(row, f))
    if isinstance(node, Nested):
        elements = values_of(row, node.path)
        return any(isinstance(e, Mapping) and matches(node.inner, e) for e in elements)
    present = values_of(row, node.field)
    return _number_leaf(node, present) if node.number else _text_leaf(node, present)


def _text_leaf(node: Compare, present: list[Any]) -> bool:
    have = {v if isinstance(v, str) else _text("=", node.field, v) for v in present}
    wanted = node.values
    if node.op == EQ:
        return not have if wanted[0] == MISSING_DATA_ALIAS else wanted[0] in have
    if node.op == IN:
        return (MISSING_DATA_ALIAS in wanted and not have) or any(v in have for v in wanted)
    if node.op == CONTAINS_ALL:
        return all(v in have for v in wanted)
    if node.op == EXCLUDES_ANY:
        return not any(v in have for v in wanted)
    return not all(v in have for v in wanted)  # excludes_all


def _number_leaf(node: Compare, present: list[Any]) -> bool:
    numbers = [float(v) for v in present if isinstance(v, int | float) and not isinstance(v, bool)]
    op, wanted = node.op, node.values
    if op in (IN, EQ):
        return any(n in wanted for n in numbers)
    target = float(wanted[0])
    if op == NE:
        return any(n != target for n in numbers)
    test = {GT: target.__lt__, GTE: target.__le__, LT: target.__gt__, LTE: target.__ge__}[op]
    return any(test(n) for n in numbers)
