"""The `pattern:` matcher against a slow reference definition, and its worst case (rules 35, 36)."""

from __future__ import annotations

import time
from functools import cache

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.passports.rules.patterns import match, split_match

ALPHABET = "ab*?[].\\;"


def reference(pattern: str, text: str) -> bool:
    """The definition, literally: memoised recursion over (pattern index, text index)."""

    @cache
    def go(p: int, t: int) -> bool:
        if p == len(pattern):
            return t == len(text)
        c = pattern[p]
        if c == "*":
            return go(p + 1, t) or (t < len(text) and go(p, t + 1))
        if t == len(text):
            return False
        return (c == "?" or c == text[t]) and go(p + 1, t + 1)

    return go(0, 0)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=10), st.text(alphabet=ALPHABET, max_size=12))
def test_matches_reference(pattern: str, text: str) -> None:
    assert match(pattern, text) == reference(pattern, text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=8), st.lists(st.text(alphabet="ab*?[].\\", max_size=6), max_size=4))
def test_split_match_is_any_piece_of_the_value(pattern: str, pieces: list[str]) -> None:
    value = ";".join(pieces)
    assert split_match(pattern, value) == any(reference(pattern, piece) for piece in value.split(";"))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab[].\\", max_size=10))
def test_a_pattern_without_wildcards_is_exact_equality(text: str) -> None:
    assert match(text, text)
    assert not match(text, text + "a")
    assert not match(text + "a", text)


def test_literal_characters() -> None:
    assert match("[ab]", "[ab]")
    assert not match("[ab]", "a")
    assert not match("a.c", "abc")
    assert match("a.c", "a.c")
    assert match("a\\*", "a\\")  # no escapes: `\` is literal and `*` still a wildcard
    assert match("a\\*", "a\\xyz")
    assert not match("a\\*", "a*")
    assert not match("ABC", "abc")  # case-sensitive
    assert not match("abc", "abcd") and not match("bcd", "abcd")  # full string, never a substring


def test_wildcards() -> None:
    assert match("*", "")
    assert match("a*", "a")
    assert match("?", "é")
    assert not match("?", "")
    assert not match("??", "a")
    assert match("*a", "*ba")  # a literal `*` in the text is still swallowed by a pattern `*`
    assert match("https://*.example.org/?", "https://x.y.example.org/1")


def test_split_pattern_splits_the_value_not_the_pattern() -> None:
    assert split_match("b?", "a1;b2;c3")
    assert not split_match("a1;b2", "b2")  # DAM split the pattern into an OR list; we do not
    assert split_match("a1;b2", "a1;b2") is False  # pieces never contain `;`
    assert not split_match("b?", "a1b2")


def test_adversarial_inputs_finish_fast() -> None:
    n = 4000
    pattern = "a*" * 200 + "b"
    text = "a" * n
    start = time.perf_counter()
    assert not match(pattern, text)
    assert not match("*" + "?" * 50 + "b", "a" * n)
    assert match("*a*a*a*a*a*a*a*a*a*a", "a" * n)
    assert time.perf_counter() - start < 2.0
