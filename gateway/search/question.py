"""What a cohort question may hold before any member is asked: Guppy filter syntax, facet and row-field names (pure).

The cohort search (``POST /search/v1/cohort``) and the export (``POST /search/v1/export``) both check the question
they were sent here, after parsing the body, and answer 400 (:class:`~gateway.core.errors.ApiError`) naming what is
wrong. Only the syntax is checked, with the grammar of :mod:`gateway.wire.guppy`: shape, operators, field names and
that leaf values are strings or numbers; whether a field exists, and its type, are the members' business (a member
that refuses the question reports it in ``sources``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.core.errors import ApiError
from gateway.wire.guppy import CONJUNCTIONS, FIELD, LEAF_OPS, NAME, NESTED, SEARCH

MAX_NAMES = 100
"""Most facets, and most row fields, one question may name."""
MAX_DEPTH = 32
"""Deepest nesting of ``AND``/``OR``/``nested`` in a filter."""


def check_filter(value: Any, depth: int = 0) -> None:
    """Guppy filter syntax (shape, operators, field names); values and field types are the members' business."""
    if depth > MAX_DEPTH:
        raise ApiError(400, f"invalid filter: nested more than {MAX_DEPTH} levels")
    if not isinstance(value, dict):
        raise ApiError(400, "invalid filter: each filter must be a JSON object")
    if not value:
        return
    if len(value) != 1:
        raise ApiError(400, f"invalid filter: one operator per object, got {sorted(value)}"[:300])
    ((op, arg),) = value.items()
    if op.lower() in CONJUNCTIONS:
        if not isinstance(arg, list):
            raise ApiError(400, f"invalid filter: {op} takes a list of filters")
        for item in arg:
            check_filter(item, depth + 1)
        return
    if op == NESTED:
        if not isinstance(arg, dict) or not isinstance(arg.get("path"), str) or not FIELD.fullmatch(arg["path"]):
            raise ApiError(400, "invalid filter: nested takes {\"path\": <field>, <op>: {...}}")
        check_filter({k: v for k, v in arg.items() if k != "path"}, depth + 1)
        return
    if op == SEARCH:
        if not isinstance(arg, dict) or not isinstance(arg.get("keyword"), str):
            raise ApiError(400, "invalid filter: search takes {\"keyword\": str, \"fields\": [...]}")
        fields = arg.get("fields", [])
        fields = [fields] if isinstance(fields, str) else fields
        if not isinstance(fields, list) or not all(isinstance(f, str) and FIELD.fullmatch(f) for f in fields):
            raise ApiError(400, "invalid filter: search fields must be field names")
        return
    if op not in LEAF_OPS:
        raise ApiError(400, f"invalid filter: unknown operator {op!r}"[:300])
    if not isinstance(arg, dict) or len(arg) != 1:
        raise ApiError(400, f"invalid filter: {op} takes {{<field>: <value>}}")
    ((name, operand),) = arg.items()
    if not FIELD.fullmatch(name):
        raise ApiError(400, f"invalid filter: not a field name: {name!r}"[:300])
    items = operand if isinstance(operand, list) else [operand]
    if not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in items):
        raise ApiError(400, f"invalid filter: {op} on {name} takes strings or numbers")


def check_names(names: Sequence[str], what: str) -> tuple[str, ...]:
    """``names`` (facets, or row fields) as a tuple: each a GraphQL name, none twice; else a 400 naming ``what``."""
    bad = [n for n in names if not NAME.fullmatch(n)]
    if bad:
        raise ApiError(400, f"invalid {what} name: {bad[0]!r}"[:300])
    if len(set(names)) != len(names):
        raise ApiError(400, f"duplicate {what} names")
    return tuple(names)
