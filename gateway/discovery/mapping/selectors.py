"""The selector language of field mappings: a safe subset of JSONPath, parsed once, evaluated without ``eval``; pure.

A mapping rule gives a selector as ``path:<selector>`` or ``{"path": ...}`` (see
:mod:`gateway.discovery.mapping.records`); :func:`parse_selector` takes the text without the ``path:`` prefix and
returns a :class:`Selector`.

Syntax: an optional root ``$``, then steps ``.name``, ``['quoted name']`` / ``["quoted name"]`` (``\\`` escapes
the quote and itself), ``[3]`` (negative indexes count from the end), ``[*]`` / ``.*`` (every element of an
array or value of an object). A first step may omit the dot (``description``, ``coverage[0].name``, as
Aggregate MDS configurations are written). Not supported, and refused (:class:`SelectorError`; a mapping
refuses it at start-up): recursive descent ``..``, filter expressions ``[?(...)]``, slices ``[a:b]``, unions
``[a,b]``. At most :data:`MAX_SELECTOR_LENGTH` characters and :data:`MAX_STEPS` steps.

A selector without wildcards yields one value; one with a wildcard yields the list of every match in document
order (Aggregate MDS unwraps a single match; we do not, so the output type does not depend on the data). No
match is *missing* (:data:`MISSING`). Evaluation visits each input node at most once per step and keeps at
most :data:`MAX_MATCHES` matches, so its work is bounded by ``steps × nodes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# --- limits ---------------------------------------------------------------------------------------------

MAX_SELECTOR_LENGTH = 512
MAX_STEPS = 32
MAX_MATCHES = 100_000
MAX_INDEX_DIGITS = 9


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""A value that is absent (no selector match, a failed coercion); never appears in output."""


class SelectorError(ValueError):
    """A selector outside the supported subset; the message says where."""


# --- selectors ------------------------------------------------------------------------------------------

KEY = "key"
INDEX = "index"
ALL = "all"

Step = tuple[str, Any]
"""``("key", name)``, ``("index", n)`` or ``("all", None)``."""

_NAME_STOP = frozenset(".[]*'\"")


@dataclass(frozen=True)
class Selector:
    """A parsed selector; :meth:`find` and :meth:`get` never raise."""

    text: str
    steps: tuple[Step, ...]

    @property
    def definite(self) -> bool:
        """Whether the selector has no wildcard (so it yields at most one value)."""
        return all(kind != ALL for kind, _ in self.steps)

    def find(self, value: Any) -> list[Any]:
        """Every match, in document order (at most :data:`MAX_MATCHES`)."""
        frontier = [value]
        for kind, arg in self.steps:
            nxt: list[Any] = []
            for node in frontier:
                if kind == KEY:
                    if isinstance(node, dict) and arg in node:
                        nxt.append(node[arg])
                elif kind == INDEX:
                    if isinstance(node, list) and -len(node) <= arg < len(node):
                        nxt.append(node[arg])
                elif isinstance(node, list):
                    nxt.extend(node[: MAX_MATCHES - len(nxt)])
                elif isinstance(node, dict):
                    for child in node.values():
                        if len(nxt) >= MAX_MATCHES:
                            break
                        nxt.append(child)
                if len(nxt) >= MAX_MATCHES:
                    break
            frontier = nxt
            if not frontier:
                break
        return frontier

    def get(self, value: Any) -> Any:
        """One value for a definite selector, the list of matches otherwise; :data:`MISSING` for none."""
        found = self.find(value)
        if not found:
            return MISSING
        return found[0] if self.definite else found


def _parse_quoted(text: str, i: int) -> tuple[str, int]:
    quote = text[i]
    i += 1
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            if i + 1 >= len(text) or text[i + 1] not in ("\\", quote):
                raise SelectorError(f"bad escape at {i} in {text!r} (only \\\\ and \\{quote})")
            out.append(text[i + 1])
            i += 2
        elif ch == quote:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise SelectorError(f"unclosed quote in {text!r}")


def _parse_name(text: str, i: int) -> tuple[str, int]:
    start = i
    while i < len(text) and text[i] not in _NAME_STOP and not text[i].isspace():
        i += 1
    if i == start:
        where = repr(text[i]) if i < len(text) else "the end"
        raise SelectorError(f"expected a field name at {i} in {text!r}, found {where}")
    return text[start:i], i


def _parse_bracket(text: str, i: int) -> tuple[Step, int]:
    i += 1  # past "["
    if i >= len(text):
        raise SelectorError(f"unclosed '[' in {text!r}")
    ch = text[i]
    if ch == "*":
        step: Step = (ALL, None)
        i += 1
    elif ch in ("'", '"'):
        name, i = _parse_quoted(text, i)
        step = (KEY, name)
    elif ch == "-" or ch.isdigit():
        start = i
        if ch == "-":
            i += 1
        digits = i
        while i < len(text) and text[i] in "0123456789":
            i += 1
        if i == digits or i - digits > MAX_INDEX_DIGITS:
            raise SelectorError(f"bad array index at {start} in {text!r}")
        step = (INDEX, int(text[start:i]))
    elif ch == "?":
        raise SelectorError(f"filter expressions [?(...)] are not supported: {text!r}")
    else:
        raise SelectorError(f"unexpected {ch!r} at {i} in {text!r}")
    if i >= len(text) or text[i] != "]":
        found = repr(text[i]) if i < len(text) else "the end"
        if i < len(text) and text[i] in ":,":
            raise SelectorError(f"slices and unions are not supported: {text!r}")
        raise SelectorError(f"expected ']' at {i} in {text!r}, found {found}")
    return step, i + 1


def parse_selector(text: str) -> Selector:
    """Parse ``text`` (without the ``path:`` prefix); :class:`SelectorError` for anything unsupported."""
    if not isinstance(text, str):
        raise SelectorError("a selector must be a string")
    if not text:
        raise SelectorError("empty selector")
    if len(text) > MAX_SELECTOR_LENGTH:
        raise SelectorError(f"selector longer than {MAX_SELECTOR_LENGTH} characters")
    steps: list[Step] = []
    i = 0
    if text[0] == "$":
        i = 1
    elif text[0] not in ".[":
        name, i = _parse_name(text, 0)
        steps.append((KEY, name))
    while i < len(text):
        ch = text[i]
        if ch == ".":
            i += 1
            if i < len(text) and text[i] == ".":
                raise SelectorError(f"recursive descent '..' is not supported: {text!r}")
            if i < len(text) and text[i] == "*":
                steps.append((ALL, None))
                i += 1
            else:
                name, i = _parse_name(text, i)
                steps.append((KEY, name))
        elif ch == "[":
            step, i = _parse_bracket(text, i)
            steps.append(step)
        else:
            raise SelectorError(f"unexpected {ch!r} at {i} in {text!r}")
        if len(steps) > MAX_STEPS:
            raise SelectorError(f"more than {MAX_STEPS} steps in {text!r}")
    return Selector(text, tuple(steps))
