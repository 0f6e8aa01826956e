"""Guppy's JSON filter language (refcommons.guppy.filter): every operator and spelling, missing data, array
values, search, nested, filterSelf, clear errors, and properties checked with hypothesis."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refcommons.guppy.filter import (
    MAX_DEPTH,
    NUMBER_OPS,
    TEXT_OPS,
    Combine,
    FilterError,
    Search,
    conjoin,
    drop_field,
    matches,
    parse,
    searches,
)

KINDS: dict[str, Any] = {"sex": "text", "race": "text", "tags": "text", "age": "number", "bmi": "number",
                         "visits": "nested", "visits.label": "text", "visits.day": "number"}
ROWS = [
    {"id": 1, "sex": "female", "race": "Asian", "tags": ["a", "b"], "age": 30, "bmi": 21.5,
     "visits": [{"label": "v1", "day": 1}, {"label": "v2", "day": 9}]},
    {"id": 2, "sex": "male", "race": "White", "tags": ["b"], "age": 50, "bmi": 30.0,
     "visits": [{"label": "v1", "day": 3}]},
    {"id": 3, "sex": "female", "tags": [], "age": 70},
    {"id": 4, "race": "Black or African American", "tags": ["c"], "bmi": 25.0},
]


def ids(raw: Any) -> list[int]:
    flt = parse(raw, KINDS)
    return [r["id"] for r in ROWS if matches(flt, r)]


def test_empty_filters_match_everything():
    assert parse(None, KINDS) is None and parse({}, KINDS) is None
    for raw in (None, {}, {"AND": []}, {"OR": []}, {"and": [{}, {"or": []}]}):
        assert ids(raw) == [1, 2, 3, 4]


@pytest.mark.parametrize("op", [k for k, v in TEXT_OPS.items() if v == "eq"])
def test_text_equality_spellings(op):
    assert ids({op: {"sex": "female"}}) == [1, 3]


@pytest.mark.parametrize("op", [k for k, v in TEXT_OPS.items() if v == "in"])
def test_text_in_spellings(op):
    assert ids({op: {"race": ["Asian", "White", "nope"]}}) == [1, 2]
    assert ids({op: {"race": []}}) == []


@pytest.mark.parametrize("op", [k for k, v in TEXT_OPS.items() if v == "excludes_any"])
def test_text_excludes_any_spellings(op):
    assert ids({op: {"sex": ["female"]}}) == [2, 4]  # rows without the field are kept (must_not)
    assert ids({op: {"tags": ["a", "c"]}}) == [2, 3]


def test_not_equal_takes_one_value_too():
    assert ids({"!=": {"sex": "male"}}) == [1, 3, 4]


def test_contains_all_and_excludes_all():
    for op in ("contains_all", "CONTAINS_ALL"):
        assert ids({op: {"tags": ["a", "b"]}}) == [1]
        assert ids({op: {"tags": ["b"]}}) == [1, 2]
    for op in ("excludes_all", "EXCLUDES_ALL"):
        assert ids({op: {"tags": ["a", "b"]}}) == [2, 3, 4]


def test_missing_data_alias():
    assert ids({"=": {"sex": "no data"}}) == [4]
    assert ids({"IN": {"race": ["no data", "White"]}}) == [2, 3]
    assert ids({"IN": {"tags": ["no data"]}}) == [3]  # an empty list is missing
    assert ids({"!=": {"sex": "no data"}}) == [1, 2, 3, 4]  # Guppy: != is a plain must_not term


@pytest.mark.parametrize("op,value,expected", [
    (">", 30, [2, 3]), ("gt", 30, [2, 3]), ("GT", 30, [2, 3]),
    (">=", 30, [1, 2, 3]), ("gte", 30, [1, 2, 3]), ("GTE", 30, [1, 2, 3]),
    ("<", 50, [1]), ("lt", 50, [1]), ("LT", 50, [1]),
    ("<=", 50, [1, 2]), ("lte", 50, [1, 2]), ("LTE", 50, [1, 2]),
    ("=", 50, [2]), ("eq", 50.0, [2]), ("EQ", "50", [2]),
    ("!=", 50, [1, 3]),  # a missing value never matches (gt OR lt)
])
def test_number_operators(op, value, expected):
    assert ids({op: {"age": value}}) == expected


def test_number_in_and_string_numbers():
    assert ids({"in": {"age": [30, "70"]}}) == [1, 3]
    assert ids({"IN": {"bmi": [21.5]}}) == [1]


def test_range_combined_with_and():
    assert ids({"AND": [{">=": {"age": 30}}, {"<=": {"age": 50}}]}) == [1, 2]
    assert ids({"or": [{"<": {"age": 40}}, {">": {"age": 60}}]}) == [1, 3]


def test_and_or_are_case_insensitive_and_combine():
    raw = {"And": [{"OR": [{"=": {"race": "Asian"}}, {"=": {"race": "White"}}]}, {"=": {"sex": "male"}}]}
    assert ids(raw) == [2]
    assert ids({"oR": [{"=": {"sex": "male"}}, {"=": {"race": "Asian"}}]}) == [1, 2]


def test_search():
    assert ids({"search": {"keyword": "AFRIC", "fields": "race"}}) == [4]
    assert ids({"search": {"keyword": "as", "fields": ["race", "sex"]}}) == [1]
    assert ids({"search": {"keyword": "male"}}) == [1, 2, 3]  # every top-level text field
    unit = parse({"AND": [{"search": {"keyword": "whi"}}, {"=": {"sex": "male"}}]}, KINDS)
    assert searches(unit) == [Search("whi", ("sex", "race", "tags"))]


def test_nested():
    assert ids({"nested": {"path": "visits", ">=": {"day": 5}}}) == [1]
    assert ids({"nested": {"path": "visits", "AND": [{"=": {"label": "v1"}}, {">": {"day": 2}}]}}) == [2]
    assert ids({"nested": {"path": "visits"}}) == [1, 2, 3, 4]


@pytest.mark.parametrize("raw,message", [
    ([1], "a filter is a JSON object, not a list"),
    ("x", "a filter is a JSON object, not a string"),
    ({"=": {"sex": "f"}, "IN": {"race": []}}, "exactly one operator"),
    ({"=": {"sex": "f", "race": "x"}}, "exactly one field"),
    ({"=": "female"}, "takes an object"),
    ({"AND": {"=": {"sex": "f"}}}, "takes a list of filters"),
    ({"=": {"nope": "x"}}, "no field 'nope'"),
    ({"like": {"sex": "f"}}, 'Invalid operation "like" in filter argument.'),
    ({">": {"sex": "f"}}, 'Invalid operation ">" in filter argument.'),
    ({"contains_any": {"age": [1]}}, 'Invalid numeric operation "contains_any" for field "age"'),
    ({"IN": {"sex": "female"}}, "takes a list of values"),
    ({"=": {"sex": ["female"]}}, "takes a single value"),
    ({"=": {"sex": None}}, "takes strings"),
    ({"=": {"age": "old"}}, "takes numbers"),
    ({"=": {"age": True}}, "takes numbers"),
    ({"=": {"age": 10**5000}}, "takes numbers"),
    ({"=": {"sex": 10**5000}}, "takes strings"),
    ({"=": {"age": float("inf")}}, "takes numbers"),
    ({"!=": {"age": [1]}}, "takes a single value"),
    ({"search": {"fields": "race"}}, "missing 'keyword' field"),
    ({"search": {"keyword": "a"}}, "Keyword too short (length < 2)"),
    ({"search": {"keyword": "ab", "bogus": 1}}, "unrecognized field 'bogus'"),
    ({"search": {"keyword": "ab", "fields": ["age"]}}, 'invalid field age in "filter" variable'),
    ({"nested": {"path": "sex", "=": {"x": 1}}}, "does not exist in ES index as a nested field"),
    ({"=": {"visits": "x"}}, "is a nested field"),
])
def test_invalid_filters_are_clear_errors(raw, message):
    with pytest.raises(FilterError) as info:
        parse(raw, KINDS)
    assert message in str(info.value)


def test_depth_is_bounded():
    raw: Any = {"=": {"sex": "female"}}
    for _ in range(MAX_DEPTH + 2):
        raw = {"AND": [raw]}
    with pytest.raises(FilterError, match="levels deep"):
        parse(raw, KINDS)


def test_drop_field_is_filter_self_false():
    flt = parse({"AND": [{"=": {"sex": "female"}}, {"OR": [{"=": {"sex": "male"}}]}, {">": {"age": 40}}]}, KINDS)
    assert drop_field(flt, "sex") == parse({"AND": [{">": {"age": 40}}]}, KINDS)
    assert drop_field(parse({"=": {"sex": "female"}}, KINDS), "sex") is None
    nested = parse({"nested": {"path": "visits", "=": {"label": "v1"}}}, KINDS)
    assert drop_field(nested, "visits.label") is None and drop_field(nested, "label") == nested


def test_conjoin():
    a, b = parse({"=": {"sex": "female"}}, KINDS), parse({">": {"age": 40}}, KINDS)
    assert conjoin(None, b) is b and conjoin(a, None) is a and conjoin(None, None) is None
    assert conjoin(a, b) == Combine(True, (a, b))


# --- properties ---------------------------------------------------------------------------------------

TEXTS = ("female", "male", "x", "no data")
text_values = st.none() | st.sampled_from(TEXTS[:3]) | st.lists(st.sampled_from(TEXTS[:3]), max_size=3)
number_values = st.none() | st.integers(-5, 5) | st.lists(st.integers(-5, 5), max_size=3)
rows = st.fixed_dictionaries({"sex": text_values, "age": number_values})
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.sampled_from(["AND", "or", "=", "IN", "!=", ">", "lte", "search", "nested", "sex", "age", "keyword",
                         "path", "fields"]) | st.text(max_size=4), children, max_size=3),
    max_leaves=15,
)
PROPS = settings(max_examples=200, deadline=None, derandomize=True)


@PROPS
@given(json_values, rows)
def test_parse_is_total(raw, row):
    """Any JSON is either a filter (which evaluates on any row) or a FilterError; never another exception."""
    try:
        flt = parse(raw, KINDS)
    except FilterError:
        return
    assert isinstance(matches(flt, row), bool)


@PROPS
@given(st.lists(st.sampled_from(TEXTS), max_size=3), rows)
def test_in_is_an_or_of_equalities(values, row):
    as_in = parse({"IN": {"sex": values}}, KINDS)
    as_or = parse({"OR": [{"=": {"sex": v}} for v in values]}, KINDS)
    assert matches(as_in, row) == (bool(values) and matches(as_or, row))


@PROPS
@given(st.lists(st.sampled_from(TEXTS[:3]), min_size=1, max_size=3), rows)
def test_excludes_any_is_not_in(values, row):
    assert matches(parse({"!=": {"sex": values}}, KINDS), row) != matches(parse({"IN": {"sex": values}}, KINDS), row)


@PROPS
@given(st.integers(-6, 6), rows)
def test_ranges_agree(n, row):
    def m(op: str) -> bool:
        return matches(parse({op: {"age": n}}, KINDS), row)

    assert m(">=") == (m(">") or m("="))
    assert m("<=") == (m("<") or m("="))
    assert m("!=") == (m(">") or m("<"))
    if isinstance(row["age"], int):  # a single value: exactly one of <, =, >
        assert [m("<"), m("="), m(">")].count(True) == 1


@PROPS
@given(st.lists(st.sampled_from([{"=": {"sex": "female"}}, {">": {"age": 0}}, {"IN": {"sex": ["x", "male"]}},
                                 {}]), max_size=4), rows)
def test_and_or_are_all_and_any(items, row):
    parts = [matches(parse(i, KINDS), row) for i in items if i]
    assert matches(parse({"AND": items}, KINDS), row) == all(parts)
    assert matches(parse({"OR": items}, KINDS), row) == (any(parts) if parts else True)
    assert matches(drop_field(parse({"AND": items}, KINDS), "race"), row) == all(parts)


@pytest.mark.parametrize("op", sorted(NUMBER_OPS))
def test_every_number_spelling_parses(op):
    value: Any = [1] if NUMBER_OPS[op] == "in" else 1
    assert parse({op: {"age": value}}, KINDS) is not None
