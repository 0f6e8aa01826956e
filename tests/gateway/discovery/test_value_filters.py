"""Coercion and value filters (gateway.discovery.mapping.value_filters): every type and filter, missing values, and
linear work on hostile text."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gateway.discovery.mapping.selectors import MISSING
from gateway.discovery.mapping.value_filters import coerce, run_filters

# --- coercion -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value, type_, expected",
    [
        ("x", "string", "x"),
        (12, "string", "12"),
        (1.5, "string", "1.5"),
        (True, "string", "true"),
        (["a", "b"], "string", "a, b"),
        ([1], "string", MISSING),
        ({"a": 1}, "string", MISSING),
        (float("inf"), "string", MISSING),
        (7, "integer", 7),
        (7.0, "integer", 7),
        (7.5, "integer", MISSING),
        (" -42 ", "integer", -42),
        ("4.2", "integer", MISSING),
        ("12abc", "integer", MISSING),
        ("1_000", "integer", MISSING),
        ("9" * 31, "integer", MISSING),
        (True, "integer", MISSING),
        ([1], "integer", MISSING),
        (3, "number", 3),
        (2.5, "number", 2.5),
        ("2.5e3", "number", 2500.0),
        (".5", "number", 0.5),
        ("1e999", "number", MISSING),
        ("nan", "number", MISSING),
        ("inf", "number", MISSING),
        (float("nan"), "number", MISSING),
        (False, "number", MISSING),
        (True, "boolean", True),
        ("Yes", "boolean", True),
        (" FALSE ", "boolean", False),
        ("0", "boolean", False),
        (1, "boolean", True),
        (2, "boolean", MISSING),
        ("maybe", "boolean", MISSING),
        ([1, 2], "array", [1, 2]),
        ("", "array", []),
        ("a", "array", ["a"]),
        ({"k": 1}, "array", [{"k": 1}]),
        (0, "array", [0]),
        ({"k": 1}, "object", {"k": 1}),
        ('{"k": [1]}', "object", {"k": [1]}),
        ("[1]", "object", MISSING),
        ("{bad", "object", MISSING),
        ("[" * 100_000, "object", MISSING),
        (5, "object", MISSING),
        (None, "integer", None),
        ("anything", None, "anything"),
    ],
)
def test_coerce(value: Any, type_: str | None, expected: Any) -> None:
    got = coerce(value, type_)
    if expected is MISSING:
        assert got is MISSING
    else:
        assert got == expected and type(got) is type(expected)


def test_coerce_passes_missing_through() -> None:
    assert coerce(MISSING, "string") is MISSING


# --- filters --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, params, value, expected",
    [
        ("strip_html", None, "<p>Hi <b>there</b> &amp; all</p>", "Hi there & all"),
        ("strip_html", None, "a < b and c > d", "a < b and c > d"),
        ("strip_html", None, "<<<x", "<<<x"),
        ("strip_html", None, ["<i>a</i>", 3], ["a", 3]),
        ("strip_html", None, 7, 7),
        ("strip_email", None, "mail me at a.b+c@ex-ample.org now", "mail me at  now"),
        ("strip_email", None, "no address @ here", "no address @ here"),
        ("trim", None, "  a \n\t b  ", "a b"),
        ("uppercase", None, "abc", "ABC"),
        ("lowercase", None, ["AbC", None], ["abc", None]),
        ("normalize_value", {"2": "Stage 2"}, "2", "Stage 2"),
        ("normalize_value", {"2": "Stage 2"}, "3", "3"),
        ("normalize_value", {"2": "Stage 2"}, ["2", "3", 2], ["Stage 2", "3", 2]),
        ("normalize_value", {"2": "Stage 2"}, 2, 2),
        (
            "normalize_tags",
            {"Stage": {"II": "2"}},
            [{"name": "II", "category": "Stage"}, {"name": "II", "category": "Other"}, {"name": "II"}, "x"],
            [{"name": "2", "category": "Stage"}, {"name": "II", "category": "Other"}, {"name": "II"}, "x"],
        ),
        ("normalize_tags", {"Stage": {"II": "2"}}, "II", "II"),
        ("first", None, [4, 5], 4),
        ("first", None, [], MISSING),
        ("first", None, "s", "s"),
        ("length", None, [1, 2, 3], 3),
        ("length", None, {"a": 1}, 1),
        ("length", None, "abc", "abc"),
        ("sum", None, [1, 2.5, "3", True, None, float("inf")], 3.5),
        ("sum", None, [], 0),
        ("sum", None, [1e308, 1e308], MISSING),
        ("sum", None, 4, 4),
        ("join", None, ["a", 1, True, None, [2], 1.5], "a, 1, true, 1.5"),
        ("join", None, "a", "a"),
        ("unique", None, ["a", "b", "a", 1, 1.0, True, {"k": 1}, {"k": 1}, [1], [1]],
         ["a", "b", 1, 1.0, True, {"k": 1}, [1]]),
        ("unique", None, "a", "a"),
    ],
)
def test_filters(name: str, params: Any, value: Any, expected: Any) -> None:
    got = run_filters(value, [(name, params)])
    if expected is MISSING:
        assert got is MISSING
    else:
        assert got == expected


def test_filters_skip_missing_and_chain_in_order() -> None:
    assert run_filters(MISSING, [("trim", None)]) is MISSING
    assert run_filters("  <b>x</b>  ", [("strip_html", None), ("trim", None), ("uppercase", None)]) == "X"
    assert run_filters([], [("first", None), ("uppercase", None)]) is MISSING


def test_text_filters_are_linear_on_hostile_input() -> None:
    hostile = ["a" * 200_000, "<" * 200_000, "a." * 100_000 + "@", "x@" * 100_000]
    started = time.perf_counter()
    for text in hostile:
        for name in ("strip_html", "strip_email", "trim"):
            run_filters(text, [(name, None)])
    assert time.perf_counter() - started < 5.0
