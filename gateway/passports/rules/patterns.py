"""The GA4GH ``pattern:`` matcher and ``split_pattern:`` semantics (rulebook rules 35 and 36).

A pattern matches the *whole* string, case-sensitively. ``?`` matches exactly one character, ``*`` matches any
run of characters including the empty one. There is no escape character: every other character, including ``[``,
``]``, ``.`` and ``\\``, is literal. No ``re`` and no ``fnmatch`` (character classes, case folding on some systems,
and backtracking blow-ups): a greedy two-pointer scan that remembers the last ``*`` runs in O(len(pattern) *
len(text)) in the worst case and in linear time for the usual patterns.
"""

from __future__ import annotations

STAR = "*"
ANY_ONE = "?"
SPLIT = ";"


def match(pattern: str, text: str) -> bool:
    """Whether ``pattern`` matches all of ``text``."""
    m, n = len(pattern), len(text)
    p = t = 0
    star = -1  # index in pattern of the last `*` seen, -1 when none yet
    resume = 0  # index in text where that `*` is currently assumed to stop swallowing
    while t < n:
        if p < m:
            c = pattern[p]
            # `*` is checked first: a literal `*` in the text must not be taken as matched by the wildcard
            # without recording the backtrack point
            if c == STAR:
                star, resume = p, t
                p += 1
                continue
            if c == ANY_ONE or c == text[t]:
                p += 1
                t += 1
                continue
        if star < 0:
            return False
        # let the last `*` swallow one more character and retry the rest of the pattern from there
        resume += 1
        t = resume
        p = star + 1
    while p < m and pattern[p] == STAR:
        p += 1
    return p == m


def split_match(pattern: str, value: str) -> bool:
    """``split_pattern:`` semantics: split the *value* on ``;`` and match the whole pattern against each piece.

    The pattern itself is never split (a ``;`` in it is a literal that can then never match a piece).
    """
    return any(match(pattern, piece) for piece in value.split(SPLIT))
