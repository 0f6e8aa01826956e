"""Searching studies: full text and field filters over the snapshots (an addition Aggregate MDS lacks); pure.

* full text ``q``: split into words (``\\w+``, case-folded); a record matches when every word is contained
  (as a substring) in the case-folded text of the record's string values (any depth, plus its GUID). Each
  snapshot's text is built once (:attr:`~gateway.discovery.snapshots.Snapshot.texts`); a search is one pass over
  it, linear in the text size per word. ``q`` may hold at most :data:`MAX_QUERY_LENGTH` characters and
  :data:`MAX_QUERY_WORDS` words.
* field filters ``{path: value | [values]}``: ``path`` is a dotted path into the study; arrays met on the
  way are searched element by element, and an array at the end is searched element by element. A value
  matches when its text equals one of the wanted values' text (exact, case-sensitive; strings as is,
  numbers as JSON, booleans ``true``/``false``; a ``{name, category}`` tag object as ``category:name``, so
  ``{"tags": "Data Type:Genotype"}`` selects by tag). Values of one path OR, different paths AND (as MDS).
  Two paths under one array match independently (``tags.name`` and ``tags.category`` need not hit the
  same tag). At most :data:`MAX_FILTER_FIELDS` paths and :data:`MAX_FILTER_VALUES` values per path.

:func:`compile_query` checks a query (:class:`ValueError` over the limits or for a bad filter); :func:`matching`
runs it, seeing counts a request may not see as null (:meth:`~gateway.discovery.documents.Presenter.masked`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.discovery.documents import Presenter
from gateway.discovery.mapping.value_filters import scalar_text
from gateway.discovery.snapshots import Snapshot, Study

MAX_QUERY_LENGTH = 1000
MAX_QUERY_WORDS = 32
MAX_FILTER_FIELDS = 32
MAX_FILTER_VALUES = 100

_WORD = re.compile(r"\w+")


def _as_text(value: Any) -> str | None:
    """A leaf as filter text: :func:`~gateway.discovery.mapping.value_filters.scalar_text`, or a tag as
    ``category:name``."""
    text = scalar_text(value)
    if text is not None:
        return text
    if isinstance(value, dict) and isinstance(value.get("category"), str) and isinstance(value.get("name"), str):
        return f"{value['category']}:{value['name']}"
    return None


def _leaves(study: Study, path: tuple[str, ...]) -> Iterator[Any]:
    frontier: list[Any] = [study]
    for part in path:
        nxt: list[Any] = []
        for node in frontier:
            for item in node if isinstance(node, list) else (node,):
                if isinstance(item, dict) and part in item:
                    nxt.append(item[part])
        frontier = nxt
        if not frontier:
            return
    for value in frontier:
        if isinstance(value, list):
            yield from value
        else:
            yield value


@dataclass(frozen=True)
class Query:
    """A checked :func:`search` query (see the module docstring)."""

    words: tuple[str, ...] = ()
    filters: tuple[tuple[tuple[str, ...], frozenset[str]], ...] = ()

    def matches(self, study: Study, text: str) -> bool:
        """Whether the study (with ``text``, its :attr:`Snapshot.texts` entry) passes."""
        for word in self.words:
            if word not in text:
                return False
        return all(any(_as_text(v) in wanted for v in _leaves(study, path)) for path, wanted in self.filters)


def compile_query(q: str | None, filters: Mapping[str, Any] | None) -> Query:
    """A :class:`Query`; :class:`ValueError` for one over the limits or with a bad filter."""
    words: tuple[str, ...] = ()
    if q is not None:
        if not isinstance(q, str):
            raise ValueError("q must be a string")
        if len(q) > MAX_QUERY_LENGTH:
            raise ValueError(f"q is longer than {MAX_QUERY_LENGTH} characters")
        words = tuple(dict.fromkeys(_WORD.findall(q.casefold())))
        if len(words) > MAX_QUERY_WORDS:
            raise ValueError(f"q has more than {MAX_QUERY_WORDS} words")
    compiled = []
    if filters:
        if len(filters) > MAX_FILTER_FIELDS:
            raise ValueError(f"more than {MAX_FILTER_FIELDS} filter fields")
        for field, wanted in filters.items():
            path = tuple(field.split(".")) if isinstance(field, str) else ()
            if not path or any(not p for p in path):
                raise ValueError(f"bad filter field {field!r}")
            values = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
            if not values or len(values) > MAX_FILTER_VALUES:
                raise ValueError(f"filter {field!r} needs 1 to {MAX_FILTER_VALUES} values")
            texts = set()
            for v in values:
                text = _as_text(v) if isinstance(v, (str, int, float)) else None
                if text is None:
                    raise ValueError(f"filter {field!r}: values are strings, numbers or booleans")
                texts.add(text)
            compiled.append((path, frozenset(texts)))
    return Query(words, tuple(compiled))


def matching(snapshots: Iterable[Snapshot], query: Query,
             present: Presenter | None = None) -> Iterator[tuple[str, str, Study]]:
    """``(commons, guid, study)`` of the records matching; with ``present``, filters see hidden counts as null."""
    masked = present is not None and present.hider is not None and bool(query.filters)
    for s in snapshots:
        if not query.words and not query.filters:
            for guid, study in s.records:
                yield s.commons, guid, study
            continue
        texts = s.texts if query.words else None
        for i, (guid, study) in enumerate(s.records):
            seen = present.masked(s.commons, guid, study) if masked and present is not None else study
            if query.matches(seen, texts[i] if texts is not None else ""):
                yield s.commons, guid, study
