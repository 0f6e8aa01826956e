"""The syntax check of a cohort question (gateway.search.question): what the search and the export refuse (400)
before asking any member, and what they let through for the members to judge."""

from __future__ import annotations

import pytest

from gateway.core.errors import ApiError
from gateway.search.question import MAX_DEPTH, check_filter, check_names


@pytest.mark.parametrize("flt", [
    {},
    {"=": {"sex": "female"}},
    {"IN": {"visits.kind": ["a", 1, 2.5]}},
    {"And": [{">=": {"age": 3}}, {"or": [{"!=": {"sex": "m"}}, {}]}]},
    {"nested": {"path": "visits", "=": {"kind": "x"}}},
    {"search": {"keyword": "ab", "fields": "name"}},
    {"search": {"keyword": "ab"}},
    {"EXCLUDES_ALL": {"tags": ["a"]}},
])
def test_valid_syntax_passes(flt):
    check_filter(flt)


@pytest.mark.parametrize("flt, words", [
    ([], "must be a JSON object"),
    ({"=": {"a": 1}, "IN": {"a": [1]}}, "one operator per object"),
    ({"AND": {"=": {"a": 1}}}, "AND takes a list of filters"),
    ({"like": {"sex": "f"}}, "unknown operator 'like'"),
    ({"NESTED": {"path": "visits", "=": {"kind": "x"}}}, "unknown operator 'NESTED'"),  # nested/search: exact case
    ({"nested": {"path": "visits kind", "=": {"kind": "x"}}}, "nested takes"),
    ({"nested": {"=": {"kind": "x"}}}, "nested takes"),
    ({"search": {"fields": ["a"]}}, "search takes"),
    ({"search": {"keyword": "ab", "fields": ["a b"]}}, "search fields must be field names"),
    ({"=": {"sex; drop": "f"}}, "not a field name"),
    ({"=": {"a": 1, "b": 2}}, "= takes {<field>: <value>}"),
    ({"=": {"a": True}}, "takes strings or numbers"),
    ({"IN": {"a": [None]}}, "takes strings or numbers"),
    ({"=": {"a": {"b": 1}}}, "takes strings or numbers"),
])
def test_invalid_syntax_is_a_400_naming_the_problem(flt, words):
    with pytest.raises(ApiError) as exc:
        check_filter(flt)
    assert exc.value.status == 400 and words in str(exc.value)


def test_depth_is_bounded():
    deep: dict = {"=": {"a": 1}}
    for _ in range(MAX_DEPTH):
        deep = {"AND": [deep]}
    check_filter(deep)
    with pytest.raises(ApiError, match="nested more than"):
        check_filter({"OR": [deep]})


def test_names():
    assert check_names(["sex", "_x1"], "facet") == ("sex", "_x1")
    with pytest.raises(ApiError, match=r"invalid facet name: 'visits\.kind'"):
        check_names(["visits.kind"], "facet")
    with pytest.raises(ApiError, match="duplicate field names"):
        check_names(["a", "a"], "field")
