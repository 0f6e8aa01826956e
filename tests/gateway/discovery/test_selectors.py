"""The selector language (gateway.discovery.mapping.selectors): parsing, evaluation, refusals, and bounded work on
arbitrary input."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.discovery.mapping.selectors import (
    MAX_MATCHES,
    MAX_SELECTOR_LENGTH,
    MAX_STEPS,
    MISSING,
    SelectorError,
    parse_selector,
)

DOC = {
    "a": {"b": 1, "c": [10, 20, 30]},
    "list": [{"name": "x", "n": 1}, {"name": "y"}, {"n": 3}],
    "a b": "spaced",
    "it's": "quoted",
    'say "hi"': "double",
    "0": "zero-key",
    "@id": "at",
    "empty": [],
    "null": None,
}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("$", DOC),
        ("$.a.b", 1),
        ("a.b", 1),
        ("a", DOC["a"]),
        ("$.a.c[0]", 10),
        ("a.c[2]", 30),
        ("$.a.c[-1]", 30),
        ("$.a.c[-3]", 10),
        ("$.a.c[3]", MISSING),
        ("$.a.c[-4]", MISSING),
        ("$.list[1].name", "y"),
        ("$['a b']", "spaced"),
        ('$["a b"]', "spaced"),
        ("$['it\\'s']", "quoted"),
        ('$["say \\"hi\\""]', "double"),
        ("$['a']['b']", 1),
        ("$.0", "zero-key"),
        ("$.@id", "at"),
        ("$.null", None),
        ("$.nope", MISSING),
        ("$.a.b.c", MISSING),
        ("$.a.c.x", MISSING),
        ("$.a[0]", MISSING),
        ("$.list.name", MISSING),
    ],
)
def test_definite_selectors(text: str, expected: Any) -> None:
    sel = parse_selector(text)
    assert sel.definite
    if expected is MISSING:
        assert sel.get(DOC) is MISSING
    else:
        assert sel.get(DOC) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("$.a.c[*]", [10, 20, 30]),
        ("$.list[*].name", ["x", "y"]),
        ("$.list[*].n", [1, 3]),
        ("$.list[*]['name']", ["x", "y"]),
        ("$.a.*", [1, [10, 20, 30]]),
        ("$.a[*]", [1, [10, 20, 30]]),
        ("$.a.*[*]", [10, 20, 30]),
        ("$.list[*].*", ["x", 1, "y", 3]),
    ],
)
def test_wildcard_selectors_yield_lists(text: str, expected: list[Any]) -> None:
    sel = parse_selector(text)
    assert not sel.definite
    assert sel.get(DOC) == expected


def test_wildcard_single_match_stays_a_list_and_no_match_is_missing() -> None:
    assert parse_selector("$.x[*]").get({"x": ["only"]}) == ["only"]
    assert parse_selector("$.empty[*]").get(DOC) is MISSING
    assert parse_selector("$.a.b[*]").get(DOC) is MISSING
    assert parse_selector("$[*]").get("scalar") is MISSING


def test_selector_steps() -> None:
    assert parse_selector("$.a[0]['b c'][*].*").steps == (
        ("key", "a"), ("index", 0), ("key", "b c"), ("all", None), ("all", None),
    )
    assert parse_selector("[0]").steps == (("index", 0),)
    assert parse_selector("$").steps == ()


def test_matches_are_capped() -> None:
    assert len(parse_selector("$[*]").find(list(range(MAX_MATCHES + 50)))) == MAX_MATCHES
    nested = [[1] * 1000 for _ in range(200)]
    assert len(parse_selector("$[*][*]").find(nested)) == MAX_MATCHES


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("$..a", "recursive descent"),
        ("a..b", "recursive descent"),
        ("$.a[?(@.b)]", "filter expressions"),
        ("$.a[0:2]", "slices"),
        ("$.a[0,1]", "slices and unions"),
        ("$.a[", "unclosed"),
        ("$.a[x]", "unexpected"),
        ("$.", "expected a field name"),
        ("$.a.", "expected a field name"),
        ("$['a", "unclosed quote"),
        ("$['a\\x']", "bad escape"),
        ("$['a'", "expected ']'"),
        ("a b", "unexpected"),
        ("$a", "unexpected"),
        ("$.a]", "unexpected"),
        ("$.a*", "unexpected"),
        ("$[-]", "bad array index"),
        ("$[1234567890]", "bad array index"),
        ("x" * (MAX_SELECTOR_LENGTH + 1), "longer than"),
        ("$" + ".a" * (MAX_STEPS + 1), "more than"),
    ],
)
def test_bad_selectors(text: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_selector(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5),
    max_leaves=40,
)

_names = st.text(alphabet="abc_0-é", min_size=1, max_size=4)
_steps = st.one_of(
    _names.map(lambda n: (f".{n}", ("key", n))),
    st.text(max_size=5).map(lambda n: ("['" + n.replace("\\", "\\\\").replace("'", "\\'") + "']", ("key", n))),
    st.integers(-5, 5).map(lambda i: (f"[{i}]", ("index", i))),
    st.just(("[*]", ("all", None))),
    st.just((".*", ("all", None))),
)


def _count_nodes(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(_count_nodes(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(_count_nodes(v) for v in value)
    return 1


@settings(max_examples=300, deadline=None)
@given(st.lists(_steps, max_size=8), json_values)
def test_generated_selectors_parse_back_and_never_raise(steps: list[tuple[str, Any]], doc: Any) -> None:
    text = "$" + "".join(t for t, _ in steps)
    sel = parse_selector(text)
    assert sel.steps == tuple(s for _, s in steps)
    found = sel.find(doc)
    assert len(found) <= _count_nodes(doc)
    sel.get(doc)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="$.[]*'\"\\?:,-0123456789ab \t", max_size=40), json_values)
def test_arbitrary_selector_text_fails_cleanly_or_evaluates(text: str, doc: Any) -> None:
    started = time.perf_counter()
    try:
        sel = parse_selector(text)
    except SelectorError:
        return
    sel.find(doc)
    sel.get(doc)
    assert time.perf_counter() - started < 1.0
