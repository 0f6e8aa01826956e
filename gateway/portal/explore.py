"""The cohort explorer (``/explore``): facet checkboxes over the federated cohort search, with tiered counts.

A thin client of ``POST /search/v1/cohort``: :func:`explore` calls the same
:meth:`~gateway.search.cohort.CohortService.search` for the caller the web edge builds the same way, and renders its
tiered answer. Values of one facet OR, facets AND (Guppy's ``IN`` under ``AND``). As in Gen3's explorer, a facet
with a selection lists its values as they would be without its own selection (one more search per such facet, all
concurrently), so a person can add values to it.

**Hidden counts.** A count the tiers hide (:mod:`gateway.search.tiering`: ``hidden``, its value ``None``) is
rendered only as the words :func:`count_text` gives, "fewer than N" with N the tier limit (Gen3's wording) when the
tiers mark it as under the limit, else "hidden" (complementary suppression hides larger counts too), and never as a
number: not in the text, not in a chart (a hidden value has no bar), not in an attribute. The rule is one
function, applied to every count the page shows (the total, each bucket, each member's count).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.access.caller import SearchCaller
from gateway.members.search import CohortQuery
from gateway.search.cohort import CohortResult, CohortService, RowsRequest
from gateway.search.counts import Status
from gateway.search.tiering import Shown
from gateway.settings.search import CohortIndex

INDEX: CohortIndex = "subject"
MAX_VALUES_PER_FACET = 50
MAX_MANIFEST_SUBJECTS = 10_000
"""Most subjects whose files a manifest export from the explorer lists (their ids make the file index's filter)."""
SUBJECT_ID = "subject_id"
HIDDEN = "hidden"
"""How a hidden count that may be ``limit`` or more reads."""


@dataclass(frozen=True)
class Bucket:
    key: str
    text: str
    """The count as shown: a number, or "fewer than N" when hidden."""
    bar: int | None
    """The count for the chart; ``None`` for a hidden one (no bar)."""
    selected: bool


@dataclass(frozen=True)
class Panel:
    facet: str
    buckets: tuple[Bucket, ...]

    @property
    def chart_max(self) -> int:
        return max((b.bar for b in self.buckets if b.bar is not None), default=0) or 1


@dataclass(frozen=True)
class SourceRow:
    member_id: str
    status: str
    text: str
    took_ms: int
    error: str | None


@dataclass(frozen=True)
class ExploreView:
    total_text: str
    limit: int
    any_hidden: bool
    panels: tuple[Panel, ...]
    sources: tuple[SourceRow, ...]
    selected: Mapping[str, tuple[str, ...]]
    answered: bool


def count_text(shown: Shown, limit: int) -> str:
    """The one rule for showing a tiered count: never a hidden one's value. "fewer than N" only when the tiers say
    that is true of it (:attr:`~gateway.search.tiering.Shown.below`: hidden by the primary rule and under the limit);
    any other hidden count (hidden to protect others, or with a large accessible part) reads "hidden"."""
    if shown.hidden:
        return f"fewer than {limit}" if shown.below else HIDDEN
    if shown.value is None:
        return "no answer"
    return f"{shown.value:,}"


def bar_of(shown: Shown) -> int | None:
    return None if shown.hidden or shown.value is None else shown.value


def guppy_filter(selected: Mapping[str, Sequence[str]], *, without: str | None = None) -> dict[str, Any] | None:
    """Guppy's filter for the selection: values of a facet OR (``IN``), facets AND; ``without`` one facet."""
    parts = [{"IN": {facet: list(values)}} for facet, values in sorted(selected.items())
             if values and facet != without]
    return {"AND": parts} if parts else None


def selection(query: Mapping[str, Sequence[str]], facets: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The selected values per offered facet from the query string's ``f.<facet>`` values (others ignored)."""
    out: dict[str, tuple[str, ...]] = {}
    for facet in facets:
        values = tuple(dict.fromkeys(v for v in query.get(f"f.{facet}", ()) if v))[:MAX_VALUES_PER_FACET]
        if values:
            out[facet] = values
    return out


def _panel(facet: str, histogram: Mapping[str, Shown], chosen: Sequence[str], limit: int) -> Panel:
    buckets = [Bucket(key, count_text(shown, limit), bar_of(shown), key in chosen) for key, shown in histogram.items()]
    listed = {b.key for b in buckets}
    buckets += [Bucket(key, "0", 0, True) for key in chosen if key not in listed]  # selected, none left
    return Panel(facet, tuple(buckets))


def view_of(main: CohortResult, own: Mapping[str, CohortResult], facets: Sequence[str],
            selected: Mapping[str, tuple[str, ...]]) -> ExploreView:
    """The page from the search's answers (pure): ``main`` under the whole selection, ``own[facet]`` without that
    facet's own selection."""
    r = main.rendered
    panels = []
    for facet in facets:
        source = own.get(facet, main).rendered
        panels.append(_panel(facet, source.histograms.get(facet, {}), selected.get(facet, ()), source.limit))
    sources = tuple(SourceRow(s.commons, s.status.value, count_text(Shown(s.count, s.hidden, s.below), r.limit),
                              s.took_ms, s.error) for s in r.sources)
    any_hidden = r.any_hidden or any(o.rendered.any_hidden for o in own.values())
    return ExploreView(count_text(r.total, r.limit) if main.answered else "no answer", r.limit, any_hidden,
                       tuple(panels), sources, selected, main.answered)


async def explore(cohort: CohortService, caller: SearchCaller, facets: Sequence[str],
                  selected: Mapping[str, tuple[str, ...]]) -> ExploreView:
    """Counts for the selection (every facet histogrammed), plus each selected facet without its own selection."""
    async def ask(flt: dict[str, Any] | None, wanted: Sequence[str]) -> CohortResult:
        return await cohort.search(CohortQuery(INDEX, flt, tuple(wanted)), "all", caller=caller)

    own_facets = [f for f in facets if selected.get(f)]
    results = await asyncio.gather(ask(guppy_filter(selected), facets),
                                   *(ask(guppy_filter(selected, without=f), [f]) for f in own_facets))
    return view_of(results[0], dict(zip(own_facets, results[1:], strict=True)), facets, selected)


class CohortNotListed(Exception):
    """The cohort's subjects could not all be listed (too many, or a member did not answer): ``str()`` says why."""


def files_filter(subject_ids: Sequence[str]) -> dict[str, Any]:
    """The file index's filter for the files of these subjects (Gen3's explorer manifest: the cohort's ids looked
    up in the file index's ``subject_id``)."""
    return {"IN": {SUBJECT_ID: list(subject_ids)}}


async def cohort_subjects(cohort: CohortService, caller: SearchCaller, selected: Mapping[str, tuple[str, ...]], *,
                          most: int = MAX_MANIFEST_SUBJECTS) -> list[str]:
    """The ids of the cohort's subjects the caller may access (the rows ``POST /search/v1/cohort`` pages through,
    accessible only), every member answering; :class:`CohortNotListed` past ``most`` or when one does not."""
    found: dict[str, None] = {}
    cursor = None
    flt = guppy_filter(selected)
    while True:
        result = await cohort.search(CohortQuery(INDEX, flt, ()), "accessible", caller=caller,
                                     rows=RowsRequest((SUBJECT_ID,), 1000, cursor))
        page = result.rows
        if page is None:
            return list(found)
        failed = [s.commons for s in page.sources if s.status is not Status.OK]
        if failed:
            raise CohortNotListed(f"member {', '.join(failed)} did not list its subjects: the manifest would miss "
                                  "their files; try again")
        found.update((str(r[SUBJECT_ID]), None) for r in page.rows if r.get(SUBJECT_ID))
        if len(found) > most:
            raise CohortNotListed(f"the cohort has more than {most:,} subjects you can access: narrow it to export "
                                  "a manifest of their files")
        cursor = page.next_cursor
        if cursor is None:
            return list(found)
