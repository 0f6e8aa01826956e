"""How the Aggregate MDS shows studies: one study as a document, one page of documents; pure.

A document is ``{"gen3_discovery": study}`` (:data:`STUDY_FIELD`). A page (:func:`shape`) is
``{commons: [{guid: document}, ...], ...}`` (only commons on the page, in member order), ``[{guid: document}, ...]``
with ``flatten``, and wrapped as ``{"results": ..., "pagination": {"hits", "offset", "pageSize", "pages"}}`` with
``pagination``. ``limit`` defaults to :data:`DEFAULT_LIMIT` (20, as Aggregate MDS) and is capped at
:data:`MAX_LIMIT` (2000, MDS's ``METADATA_QUERY_RESULTS_LIMIT``); ``pageSize`` reports the capped limit. A negative
``limit`` or ``offset`` is a :class:`ValueError` (:func:`page_bounds`). ``limit`` 0 gives an empty page and
``pages`` 0 (Aggregate MDS divides by zero there).

What a request sees of each study (:class:`Presenter`): ``counts`` replaces each named top-level study field
holding an array or object by its length and ``null`` by 0 (other values unchanged). Tiered counts: with a
:data:`CountHider`, each integer value of a ``counts`` field (after the length replacement) and of each field named
in ``counted_fields`` (e.g. ``_subjects_count``) is replaced by ``count_hider(commons, guid, field, value)``. When
that is ``None`` the count is hidden: the study lists such fields, in order, in :data:`HIDDEN_COUNTS`
(``"_hidden_counts": ["_subjects_count"]``; absent when nothing is hidden), and filters see the count as null
(:meth:`Presenter.masked`: a filter on a hidden count never matches, so ``hits`` cannot reveal it). Without a
hider, nothing is hidden.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gateway.discovery.snapshots import Study

STUDY_FIELD = "gen3_discovery"
DEFAULT_LIMIT = 20
MAX_LIMIT = 2000

Document = dict[str, Any]
CountHider = Callable[[str, str, str, int], Any]
"""``(commons, guid, field, count) -> value shown``; ``None`` hides the count (see the module docstring)."""
HIDDEN_COUNTS = "_hidden_counts"


def parse_counts(text: str | None) -> tuple[str, ...]:
    """``"a, b,,a"`` → ``("a", "b")`` (the ``counts`` query parameter)."""
    if not text:
        return ()
    return tuple(dict.fromkeys(p.strip() for p in text.split(",") if p.strip()))


def _count(value: Any) -> Any:
    if value is None:
        return 0
    if isinstance(value, (list, dict)):
        return len(value)
    return value


@dataclass(frozen=True)
class Presenter:
    """How one request shows each study: ``counts`` fields as lengths, counts the ``hider`` hides as null."""

    counts: tuple[str, ...] = ()
    hider: CountHider | None = None
    counted: tuple[str, ...] = ()

    def __call__(self, commons: str, guid: str, study: Study) -> Document:
        if not self.counts and self.hider is None:
            return {STUDY_FIELD: study}
        out = dict(study)
        for name in self.counts:
            if name in out:
                out[name] = _count(out[name])
        if self.hider is not None:
            hidden = []
            for name in dict.fromkeys((*self.counts, *self.counted)):
                value = out.get(name)
                if isinstance(value, int) and not isinstance(value, bool):
                    out[name] = self.hider(commons, guid, name, value)
                    if out[name] is None:
                        hidden.append(name)
            if hidden:
                out[HIDDEN_COUNTS] = hidden
        return {STUDY_FIELD: out}

    def masked(self, commons: str, guid: str, study: Study) -> Study:
        """``study`` as filters may see it: each integer count the hider hides is ``None`` (so no filter matches
        it, and ``hits`` cannot reveal it)."""
        if self.hider is None:
            return study
        out = None
        for name in dict.fromkeys((*self.counts, *self.counted)):
            value = study.get(name)
            if not isinstance(value, int) or isinstance(value, bool):
                continue
            if self.hider(commons, guid, name, value) is None:
                out = dict(study) if out is None else out
                out[name] = None
        return study if out is None else out


def presenter(counts: Iterable[str], count_hider: CountHider | None, counted_fields: Iterable[str]) -> Presenter:
    """The :class:`Presenter` of a request's ``counts`` (text or names), hider and counted fields."""
    counts = parse_counts(counts) if isinstance(counts, str) else tuple(dict.fromkeys(counts))
    return Presenter(counts, count_hider, tuple(counted_fields) if count_hider is not None else ())


def page_bounds(limit: int, offset: int) -> int:
    """The page size served for ``limit`` (capped at :data:`MAX_LIMIT`); :class:`ValueError` for a negative one."""
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")
    return min(limit, MAX_LIMIT)


def shape(rows: list[tuple[str, str, Document]], hits: int, limit: int, offset: int, flatten: bool,
          pagination: bool) -> Any:
    """A page of ``(commons, guid, document)`` rows as Aggregate MDS answers it (see the module docstring)."""
    results: Any
    if flatten:
        results = [{guid: doc} for _, guid, doc in rows]
    else:
        results = {}
        for commons, guid, doc in rows:
            results.setdefault(commons, []).append({guid: doc})
    if not pagination:
        return results
    return {
        "results": results,
        "pagination": {
            "hits": hits,
            "offset": offset,
            "pageSize": limit,
            "pages": math.ceil(hits / limit) if limit else 0,
        },
    }
