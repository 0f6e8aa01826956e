"""Tiered access for merged counts: what a user may see of a cohort search (Guppy's tiers, across members).

Tiers (global ``TierPolicy.level``, overridable per member; one ``limit``, default 50):

* ``private``: the member's inaccessible records contribute nothing. Its counts are its accessible counts; in
  ``unaccessible`` mode it answers nothing (its own count is ``None`` without ``hidden``, it adds 0 to sums), and
  a bucket only its inaccessible records have does not appear at all.
* ``regular``: everything is counted, but a count whose *inaccessible part* is in ``(0, limit)`` is hidden
  (``None`` plus ``hidden``), even when its accessible part is large: ``accessible`` answers are never hidden, so
  showing ``all`` would reveal ``all - accessible``. This is Guppy's rule and it is kept.
* ``libre``: everything is visible.

A member's tier applies to its own contribution; it is the policy's tier for it (``per_member`` override, else
``level``), made stricter by ``MemberAnswer.tier`` if that is set. A merged count (the total, a bucket) is held to
the strictest rule any contributing member imposes: its *protected part* is the sum of the inaccessible parts of
its ``regular`` contributions, and it is hidden when that sum is in ``(0, limit)``, checked after summing across
members. ``libre`` inaccessible parts are public and do not help a count reach the limit (a regular member's 3
records next to a libre member's 1000 stay hidden); ``private`` ones are not counted at all. Each member's own
count is checked against its own protected part; ``libre`` and ``private`` members' own counts are never hidden.

Algorithm (:func:`~gateway.access.tiers.suppress`, the engine shared with discovery's study counts; here by
:func:`render` and :func:`render_counts`). Cells are the total ``T``, each
member count ``M_i`` and each bucket ``B_fk``. The adversary knows every accessible count (ask with
``accessible``), every public (non-regular) part, and these linear equations, which hold in every mode:

* ``T = sum_i M_i`` over the members that answered;
* for every facet ``f`` not declared non-partitioning: ``sum_k B_fk = T`` when every answered member reported
  ``f``, else ``sum_k B_fk = sum_{i reported f} M_i``. Facets are assumed to partition unless the caller says they
  do not (multi-valued fields), because an equation assumed but false costs only extra hiding, while a true one
  forgotten leaks.

1. Primary: hide every cell whose protected part is in ``(0, limit)``; public member counts are never hidden.
   A cell with a part some member hid itself (``MemberAnswer.hidden``: its ``all`` value is unknown) is hidden
   too, and counts as already hidden below (its unknown part adds nothing to its protected sum). In
   ``accessible`` mode nothing is suppressed: such a cell is shown with its accessible parts summed when every
   member that hid part of it told its accessible part (``MemberAnswer.hidden_accessible``, as Guppy's
   ``accessible`` aggregation does), and hidden only otherwise.
2. Complementary: restrict the equations to the hidden cells and row-reduce them (exact rationals). A hidden cell
   is derivable from the visible ones exactly when some reduced row has it as its only non-zero entry. While one
   is, hide one more cell from an equation in which it is the only hidden cell (else any equation containing it,
   else any equation): a visible, non-public cell, the total only as a last resort; among those the smallest whose
   protected part brings that equation's hidden protected sum to ``limit``, else the largest (so that the hidden
   cells' known sum is at least ``limit`` when possible). Hiding more never makes a cell derivable, so this ends.

The hidden set depends only on protected parts and structure, never on the mode, so the ``all`` and
``unaccessible`` answers hide the same cells and combining the three modes derives nothing more. When every member
reports every facet, each equation is ``T = sum of its own cells``; a truly partitioning facet then never needs
``T`` hidden (if ``T`` is visible another bucket can be hidden; if it is hidden, so is one of its buckets), so a
facet's extra hiding depends only on its own buckets and on ``T``'s primary rule, and asking for other facets in
another request does not change it. Not covered: differencing two *different* cohorts (other filters, other member
subsets) and bounds from non-negativity, which only narrow a hidden value to an interval.

Rows and exports never include inaccessible records: :func:`check_rows` refuses ``all``/``unaccessible`` (403)
unless every member involved is ``libre``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from gateway.access.tiers import Tier, TierPolicy, strictest, suppress
from gateway.members.search import ZERO, Count
from gateway.search.counts import MemberAnswer, Merged, SourceStatus


class Accessibility(StrEnum):
    """Which records a count covers: those the user may access, those they may not, or both."""

    ACCESSIBLE = "accessible"
    UNACCESSIBLE = "unaccessible"
    ALL = "all"


def member_tier(policy: TierPolicy, answer: MemberAnswer) -> Tier:
    """The policy's tier for the member, made stricter (never looser) by a tier carried on the answer."""
    configured = policy.tier_for(answer.commons)
    return configured if answer.tier is None else strictest((configured, answer.tier))


@dataclass(frozen=True)
class Shown:
    """A count as returned: ``value`` is ``None`` when ``hidden``, or when there is nothing to report."""

    value: int | None
    hidden: bool = False
    below: bool = field(default=False, compare=False)
    """Hidden, and known to be under the tier limit: the cell was hidden by the primary rule (its protected part is
    in ``(0, limit)``) and its value in the mode asked is below ``limit`` too, so "fewer than N" is true of it. It is
    ``False`` for every cell hidden only to protect others (complementary suppression), for a primary one whose
    value in this mode reaches the limit (a large accessible part) and for one a member hid itself: of those,
    nothing but "hidden" may be said. It tells no more than Gen3's "fewer than N" does (a bound, never the value);
    it is never set on a shown count."""


@dataclass(frozen=True)
class Rendered:
    accessibility: Accessibility
    limit: int
    total: Shown
    histograms: Mapping[str, Mapping[str, Shown]]
    sources: tuple[SourceStatus, ...]
    """Every member's status, with its own count rendered under its tier."""

    @property
    def any_hidden(self) -> bool:
        """Whether anything was hidden (the UI then locks charts and says why, quoting ``limit``)."""
        return (
            self.total.hidden
            or any(s.hidden for s in self.sources)
            or any(b.hidden for h in self.histograms.values() for b in h.values())
        )


@dataclass(frozen=True)
class CountsView:
    values: Mapping[str, Shown]
    total: Shown | None = None


class RowsForbidden(Exception):
    """Rows or exports of data the user may not access were asked for."""

    status = 403

    def __init__(self, accessibility: str) -> None:
        super().__init__(
            f"rows and exports only include data you have access to, and accessibility: {accessibility} includes "
            "data you do not; use accessibility: accessible"
        )


def check_rows(accessibility: Accessibility | str, policy: TierPolicy, commons: Iterable[str] | None = None) -> None:
    """Refuse rows/exports of anything but accessible data unless every member involved is ``libre``.

    ``commons`` are the members the rows would come from; ``None`` means any member (every configured tier)."""
    mode = Accessibility(accessibility)
    if mode is Accessibility.ACCESSIBLE:
        return
    tiers = [policy.level, *policy.per_member.values()] if commons is None else [policy.tier_for(c) for c in commons]
    if any(t is not Tier.LIBRE for t in tiers):
        raise RowsForbidden(mode)


def _value(count: Count, tier: Tier, mode: Accessibility) -> int:
    """What one contribution adds to a count shown in ``mode``."""
    if mode is Accessibility.ACCESSIBLE or (tier is Tier.PRIVATE and mode is Accessibility.ALL):
        return count.accessible
    if tier is Tier.PRIVATE:
        return 0
    return count.all if mode is Accessibility.ALL else count.inaccessible


def _protected(count: Count, tier: Tier) -> int:
    return count.inaccessible if tier is Tier.REGULAR else 0


CellKey = tuple[str, ...]
"""A cell of the suppression: the total, one member's count or one bucket."""
TOTAL: CellKey = ("total",)


def member_cell(commons: str) -> CellKey:
    return ("member", commons)


def bucket_cell(facet: str, key: str) -> CellKey:
    return ("bucket", facet, key)


def render(
    merged: Merged,
    policy: TierPolicy,
    accessibility: Accessibility | str,
    *,
    non_partitioning: Collection[str] = (),
) -> Rendered:
    """What the API returns for a merged cohort search under ``policy``, in ``accessibility`` mode.

    ``non_partitioning`` names facets whose buckets do not partition the records (multi-valued fields); every
    other facet is assumed to, which only ever hides more."""
    mode = Accessibility(accessibility)
    counted = merged.counted
    tiers = {a.commons: member_tier(policy, a) for a in counted}

    def kept(parts: Iterable[tuple[str, Count]]) -> list[tuple[Tier, Count]]:
        # a private member's inaccessible records do not exist for the user, so neither do buckets only they have
        out = [(tiers[c], n) for c, n in parts]
        return [(t, n) for t, n in out if not (t is Tier.PRIVATE and n.accessible == 0)]

    cells: dict[CellKey, list[tuple[Tier, Count]]] = {TOTAL: kept(merged.total.parts)}
    # cells a member hid part of → the accessible part of those hidden parts, when every such member told it
    unknown: dict[CellKey, int | None] = {}
    if merged.total.hidden_by:
        unknown[TOTAL] = merged.total.accessible_hidden
    for a in counted:
        cells[member_cell(a.commons)] = [] if a.total_hidden else [(tiers[a.commons], a.total or ZERO)]
        if a.total_hidden:
            unknown[member_cell(a.commons)] = a.accessible_total
    facets: dict[str, list[str]] = {}
    for facet, histogram in merged.histograms.items():
        facets[facet] = []
        for key, cell in histogram.items():
            parts = kept(cell.parts)
            if parts or cell.hidden_by:
                facets[facet].append(key)
                cells[bucket_cell(facet, key)] = parts
                if cell.hidden_by:
                    unknown[bucket_cell(facet, key)] = cell.accessible_hidden

    # accessible answers hide nothing of the caller's own data: only what a member hid without telling its part
    hidden = frozenset(c for c, known in unknown.items() if known is None)
    primary: frozenset[CellKey] = frozenset()
    if mode is not Accessibility.ACCESSIBLE:
        equations: list[dict[CellKey, int]] = []
        if counted:
            equations.append({TOTAL: 1, **{member_cell(a.commons): -1 for a in counted}})
        for facet, keys in facets.items():
            if facet in non_partitioning:
                continue
            reporters = [a.commons for a in counted if a.reports(facet)]
            eq: dict[CellKey, int] = {bucket_cell(facet, k): 1 for k in keys}
            if len(reporters) == len(counted):
                eq[TOTAL] = -1
            else:
                eq.update((member_cell(c), -1) for c in reporters)
            equations.append(eq)
        protected = {cell: sum(_protected(n, t) for t, n in parts) for cell, parts in cells.items()}
        public = {member_cell(c) for c, t in tiers.items() if t is not Tier.REGULAR}
        hidden = suppress(protected, policy.limit, equations, public=public, reluctant={TOTAL}, forced=set(unknown))
        primary = frozenset(c for c, s in protected.items()
                            if 0 < s < policy.limit and c not in public and c not in unknown)

    def shown(cell: CellKey) -> Shown:
        if cell in hidden:
            below = cell in primary and sum(_value(n, t, mode) for t, n in cells[cell]) < policy.limit
            return Shown(None, True, below)
        told = unknown.get(cell) or 0  # only ever reached in accessible mode: elsewhere such cells are forced hidden
        return Shown(sum(_value(n, t, mode) for t, n in cells[cell]) + told)

    sources = []
    for a in merged.answers:
        if not a.answered:
            sources.append(SourceStatus(a.commons, a.status, a.took_ms, error=a.error))
            continue
        own = (
            Shown(None)
            if mode is Accessibility.UNACCESSIBLE and tiers[a.commons] is Tier.PRIVATE
            else shown(member_cell(a.commons))
        )
        sources.append(SourceStatus(a.commons, a.status, a.took_ms, own.value, own.hidden, a.error, own.below))
    return Rendered(
        accessibility=mode,
        limit=policy.limit,
        total=shown(TOTAL),
        histograms={f: {k: shown(bucket_cell(f, k)) for k in keys} for f, keys in facets.items()},
        sources=tuple(sources),
    )


def render_counts(
    counts: Mapping[str, Count],
    policy: TierPolicy,
    accessibility: Accessibility | str,
    *,
    commons: str | None = None,
    total: Count | None = None,
) -> CountsView:
    """A map of counts from one member (e.g. a study's ``counts=`` fields) under that member's tier.

    Each count gets the primary rule. Pass ``total`` only when it is shown too and the counts partition it: it
    then takes part in complementary suppression (and is hidden only as a last resort)."""
    mode = Accessibility(accessibility)
    tier = policy.level if commons is None else policy.tier_for(commons)
    cells: dict[CellKey, Count] = {("count", k): n for k, n in counts.items()}
    if total is not None:
        cells[TOTAL] = total
    hidden: frozenset[CellKey] = frozenset()
    if mode is not Accessibility.ACCESSIBLE:
        equations: list[dict[CellKey, int]] = []
        if total is not None:
            equations.append({TOTAL: 1, **{("count", k): -1 for k in counts}})
        protected = {c: _protected(n, tier) for c, n in cells.items()}
        hidden = suppress(protected, policy.limit, equations, reluctant={TOTAL})

    def shown(cell: CellKey) -> Shown:
        if mode is Accessibility.UNACCESSIBLE and tier is Tier.PRIVATE:
            return Shown(None)
        if cell in hidden:
            n = cells[cell]
            below = 0 < _protected(n, tier) < policy.limit and _value(n, tier, mode) < policy.limit
            return Shown(None, True, below)
        return Shown(_value(cells[cell], tier, mode))

    return CountsView(
        values={k: shown(("count", k)) for k in counts},
        total=None if total is None else shown(TOTAL),
    )
