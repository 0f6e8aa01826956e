"""Guppy's JSON filter language: its grammar, written once (pure; no I/O).

Every reader of a Guppy filter takes its vocabulary from here: the cohort-search check of a question
(:mod:`gateway.search.question`), the translation of a question into a member's names
(:mod:`gateway.search.mapping.translate`), the GraphQL the gateway sends (:mod:`gateway.members.guppy_wire`) and the
reference commons' own evaluator (:mod:`refcommons.guppy.filter`).

A filter is ``{}`` (everything), ``{"AND"|"OR": [filter, ...]}`` (:data:`CONJUNCTIONS`, in any case), a leaf
``{<operator>: {<field>: <value>}}``, ``{"search": {"keyword", "fields"}}`` (:data:`SEARCH`) or
``{"nested": {"path": <nested field>, <operator>: ...}}`` (:data:`NESTED`). A leaf operator has several spellings
and means one thing on a text field (:data:`TEXT_OPS`) and possibly another on a number field
(:data:`NUMBER_OPS`): ``!=`` is ``excludes_any`` on text and ``ne`` on numbers; ``contains_any``, ``contains_all``
and the ``excludes_*`` operators are text only; the ranges are numbers only. :func:`spellings` gives every spelling
of one meaning.

Names: :data:`NAME` is a GraphQL name (an index, a facet, a row field: what may go into query text);
:data:`FIELD` a filter field, dotted for a nested field's children. :data:`MISSING_DATA_ALIAS` is the text value
that stands for "no value" (Guppy's ``missing_data_alias``): a histogram bucket of records without the field, and a
value ``=``/``IN`` match on records without it. :func:`text_of` is how a scalar reads as text on a text field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]*")
"""A GraphQL name: an index, a facet, a row field."""
FIELD = re.compile(r"[_A-Za-z][_0-9A-Za-z]*(\.[_A-Za-z][_0-9A-Za-z]*)*")
"""A field in a filter: a GraphQL name, dotted for a nested field's children (``visits.kind``)."""

CONJUNCTIONS = frozenset({"and", "or"})
"""The combinations, compared lower-cased (``AND``, ``and``, ``And``)."""
NESTED = "nested"
SEARCH = "search"

MISSING_DATA_ALIAS = "no data"
"""Guppy's default ``missing_data_alias``: the text value of records without a value."""

# Meanings of a leaf operator. On text fields:
EQ = "eq"
IN = "in"
CONTAINS_ALL = "contains_all"
EXCLUDES_ANY = "excludes_any"
EXCLUDES_ALL = "excludes_all"
# on number fields (with EQ and IN):
NE = "ne"
GT = "gt"
GTE = "gte"
LT = "lt"
LTE = "lte"

_OPERATORS: tuple[tuple[tuple[str, ...], str | None, str | None], ...] = (
    # spellings, meaning on a text field, meaning on a number field (None: not allowed there)
    (("=", "eq", "EQ"), EQ, EQ),
    (("in", "IN"), IN, IN),
    (("contains_any", "CONTAINS_ANY"), IN, None),
    (("contains_all", "CONTAINS_ALL"), CONTAINS_ALL, None),
    (("!=",), EXCLUDES_ANY, NE),
    (("excludes_any", "EXCLUDES_ANY"), EXCLUDES_ANY, None),
    (("excludes_all", "EXCLUDES_ALL"), EXCLUDES_ALL, None),
    ((">", "gt", "GT"), None, GT),
    ((">=", "gte", "GTE"), None, GTE),
    (("<", "lt", "LT"), None, LT),
    (("<=", "lte", "LTE"), None, LTE),
)

TEXT_OPS: Mapping[str, str] = {s: text for spelled, text, _ in _OPERATORS if text is not None for s in spelled}
"""Spelling → meaning on a text field."""
NUMBER_OPS: Mapping[str, str] = {s: number for spelled, _, number in _OPERATORS if number is not None for s in spelled}
"""Spelling → meaning on a number field."""
LEAF_OPS = frozenset(TEXT_OPS) | frozenset(NUMBER_OPS)
"""Every spelling of a leaf operator."""
LIST_OPS = frozenset({IN, CONTAINS_ALL, EXCLUDES_ANY, EXCLUDES_ALL})
"""Text meanings whose operand is a list (``!=`` also takes one value)."""
RANGES = frozenset({GT, GTE, LT, LTE})


def spellings(*meanings: str) -> frozenset[str]:
    """Every spelling of the given meanings, on text or number fields (``spellings(EQ)``: ``= eq EQ``)."""
    return frozenset(s for spelled, text, number in _OPERATORS if text in meanings or number in meanings
                     for s in spelled)


def text_of(value: object) -> str | None:
    """A scalar's text as Guppy compares it on a text field: strings as they are, booleans ``true``/``false``,
    integers in decimal, finite floats as an integer when integral (``2.0`` is ``2``) else their ``repr``;
    ``None`` for anything else (an integer too large for a string form, a container, ``null``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and abs(value) < 10**300:  # a huge int has no string form (int_max_str_digits)
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    return None
