"""Guppy's filter grammar (gateway.wire.guppy): the one operator table, the name grammars and scalar text."""

from __future__ import annotations

import pytest

from gateway.wire import guppy
from gateway.wire.guppy import FIELD, LEAF_OPS, NAME, NUMBER_OPS, TEXT_OPS, spellings, text_of


def test_text_operators_are_guppys_spellings():
    assert TEXT_OPS == {
        "=": "eq", "eq": "eq", "EQ": "eq",
        "in": "in", "IN": "in", "contains_any": "in", "CONTAINS_ANY": "in",
        "contains_all": "contains_all", "CONTAINS_ALL": "contains_all",
        "!=": "excludes_any", "excludes_any": "excludes_any", "EXCLUDES_ANY": "excludes_any",
        "excludes_all": "excludes_all", "EXCLUDES_ALL": "excludes_all",
    }


def test_number_operators_are_guppys_spellings():
    assert NUMBER_OPS == {
        "=": "eq", "eq": "eq", "EQ": "eq", "in": "in", "IN": "in", "!=": "ne",
        ">": "gt", "gt": "gt", "GT": "gt", ">=": "gte", "gte": "gte", "GTE": "gte",
        "<": "lt", "lt": "lt", "LT": "lt", "<=": "lte", "lte": "lte", "LTE": "lte",
    }


def test_every_leaf_spelling_and_the_spellings_of_a_meaning():
    assert set(TEXT_OPS) | set(NUMBER_OPS) == LEAF_OPS and len(LEAF_OPS) == 26
    assert spellings(guppy.EQ) == {"=", "eq", "EQ"}
    assert spellings(guppy.IN) == {"in", "IN", "contains_any", "CONTAINS_ANY"}
    assert spellings(guppy.EXCLUDES_ANY) == {"!=", "excludes_any", "EXCLUDES_ANY"}
    assert spellings(*guppy.RANGES) == {">", "gt", "GT", ">=", "gte", "GTE", "<", "lt", "LT", "<=", "lte", "LTE"}
    assert spellings(guppy.NE) == {"!="}
    assert set(TEXT_OPS.values()) >= guppy.LIST_OPS


@pytest.mark.parametrize("name, is_name, is_field", [
    ("sex", True, True), ("_x1", True, True), ("visits.kind", False, True), ("a.b.c", False, True),
    ("1sex", False, False), ("gen-der", False, False), ("sex.", False, False), (".sex", False, False),
    ("a..b", False, False), ("", False, False),
])
def test_names_and_fields(name, is_name, is_field):
    assert bool(NAME.fullmatch(name)) is is_name
    assert bool(FIELD.fullmatch(name)) is is_field


@pytest.mark.parametrize("value, text", [
    ("F", "F"), (True, "true"), (False, "false"), (3, "3"), (-7, "-7"), (2.0, "2"), (2.5, "2.5"),
    (1e300, str(int(1e300))),
    (float("nan"), None), (float("inf"), None), (10**300, None), (None, None), ([1], None), ({"a": 1}, None),
])
def test_scalar_text(value, text):
    assert text_of(value) == text
