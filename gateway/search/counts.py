"""What each member commons answered to a cohort search, normalised, and the merge across members.

Every count a member reports is kept as two numbers, ``all`` and ``accessible`` (the inaccessible part is their
difference), because the tiering rules (:mod:`gateway.search.tiering`) need both: in ``regular`` a count's
visibility depends on its inaccessible part while the number shown is the whole. The merge keeps each member's
contribution to every cell (:class:`Cell`) instead of only the sum, since per-member tiers change what a member
contributes (a ``private`` member's inaccessible records contribute nothing); :mod:`~gateway.search.tiering` derives
the sums. The count type itself, and the cells a member hid, are the adapters' (:mod:`gateway.members.search`); the
bucket of records without a value is Guppy's missing-data alias (:data:`gateway.wire.guppy.MISSING_DATA_ALIAS`).

Only answers whose status is ``ok``, ``partial`` or ``stale`` are counted; every answer, counted or not, gets an
entry in the response's ``sources`` list (:class:`SourceStatus`), so a member that timed out is never dropped
silently. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from gateway.access.tiers import Tier
from gateway.members.search import TOTAL, ZERO, Count, HiddenCell, is_integer
from gateway.wire.guppy import MISSING_DATA_ALIAS


class Status(StrEnum):
    """The exact vocabulary of ``sources[].status``."""

    OK = "ok"
    PARTIAL = "partial"
    """Answered, but incompletely (e.g. paging was truncated); the counts are still used."""
    TIMEOUT = "timeout"
    ERROR = "error"
    UNSUPPORTED = "unsupported"
    """The member cannot answer this kind of query (e.g. no faceted search)."""
    STALE = "stale"
    """Served from the last good answer because the member could not be asked now; the counts are used."""


ANSWERED = frozenset({Status.OK, Status.PARTIAL, Status.STALE})
"""Statuses whose counts go into the merge."""


def total(counts: Iterable[Count]) -> Count:
    out = ZERO
    for c in counts:
        out = out + c
    return out


@dataclass(frozen=True)
class MemberAnswer:
    """One member's answer, normalised by its adapter.

    ``histograms`` maps a facet to its buckets; a ``None`` key is the bucket of records without a value and is
    filed under the merge's missing alias. A member that answered (``ANSWERED``) must give its ``total``; the
    counts of any other answer are ignored. ``tier`` is an optional tier known for this answer (e.g. a per-index
    level); it can only make the gateway's configured tier for the member stricter (see
    :func:`gateway.search.tiering.member_tier`).

    ``hidden`` lists the cells the member hid itself (:data:`TOTAL` or ``(facet, key)``, a ``None`` key
    being the missing bucket): their values are unknown, so any merged cell they are part of is hidden too, and
    whatever number the answer carries for them is ignored. ``hidden_accessible`` gives, for hidden cells whose
    *accessible* part the member still told (Guppy hides an ``all`` count, never an ``accessible`` one), that
    accessible count: such a cell stays hidden in ``all`` and ``unaccessible`` answers, but is known in
    ``accessible`` ones.
    """

    commons: str
    status: Status
    took_ms: int
    total: Count | None = None
    histograms: Mapping[str, Mapping[str | None, Count]] = field(default_factory=dict)
    error: str | None = None
    tier: Tier | None = None
    hidden: frozenset[HiddenCell] = frozenset()
    hidden_accessible: Mapping[HiddenCell, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "hidden", frozenset(self.hidden))
        object.__setattr__(self, "hidden_accessible", dict(self.hidden_accessible))
        for cell, n in self.hidden_accessible.items():
            if cell not in self.hidden:
                raise ValueError(f"{self.commons}: an accessible count for {cell!r}, which is not hidden")
            if not is_integer(n) or n < 0:
                raise ValueError(f"{self.commons}: the accessible count of {cell!r} must be a non-negative integer")
        if not is_integer(self.took_ms) or self.took_ms < 0:
            raise ValueError(f"took_ms must be a non-negative integer, got {self.took_ms!r}")
        if self.answered and self.total is None:
            raise ValueError(f"{self.commons}: an answer with status {self.status} needs a total")

    @property
    def answered(self) -> bool:
        return self.status in ANSWERED

    @property
    def total_hidden(self) -> bool:
        """Whether the member hid its own total."""
        return TOTAL in self.hidden

    @property
    def accessible_total(self) -> int | None:
        """The member's accessible total: ``None`` only if it did not answer, or hid its total entirely."""
        if not self.answered or self.total is None:
            return None
        return self.hidden_accessible.get(TOTAL) if self.total_hidden else self.total.accessible

    def hidden_buckets(self, facet: str) -> frozenset[str | None]:
        return frozenset(c[1] for c in self.hidden if isinstance(c, tuple) and c[0] == facet)

    def reports(self, facet: str) -> bool:
        """Whether the answer has ``facet``'s histogram (some of its buckets may be hidden)."""
        return facet in self.histograms or bool(self.hidden_buckets(facet))


@dataclass(frozen=True)
class Cell:
    """One merged count with each counted member's contribution, in answer order. ``hidden_by`` lists the members
    that hid their part themselves: it is unknown, so is the cell's value, and it is not in ``parts``.
    ``hidden_accessible`` gives the accessible part of those hidden parts whose member told it."""

    parts: tuple[tuple[str, Count], ...] = ()
    hidden_by: tuple[str, ...] = ()
    hidden_accessible: tuple[tuple[str, int], ...] = ()

    @property
    def accessible_hidden(self) -> int | None:
        """The accessible part of the hidden contributions, known only if every member in ``hidden_by`` told its
        own (0 when nothing is hidden)."""
        given = dict(self.hidden_accessible)
        if any(c not in given for c in self.hidden_by):
            return None
        return sum(given[c] for c in self.hidden_by)

    @property
    def count(self) -> Count:
        """The untiered sum: what a ``libre`` gateway would show."""
        return total(c for _, c in self.parts)


@dataclass(frozen=True)
class Merged:
    answers: tuple[MemberAnswer, ...]
    """Every answer in the order given, counted or not (the ``sources`` list is built from these)."""
    total: Cell
    histograms: Mapping[str, Mapping[str, Cell]]
    """Facet → bucket key → cell; keys in first-seen order."""
    missing_alias: str = MISSING_DATA_ALIAS

    @property
    def counted(self) -> tuple[MemberAnswer, ...]:
        return tuple(a for a in self.answers if a.answered)


@dataclass(frozen=True)
class SourceStatus:
    """One entry of a response's ``sources`` list. ``count`` is the member's own total as rendered by the tiering
    rules: ``None`` with ``hidden`` when suppressed, ``None`` without it when there is nothing to report."""

    commons: str
    status: Status
    took_ms: int
    count: int | None = None
    hidden: bool = False
    error: str | None = None
    below: bool = field(default=False, compare=False)
    """Hidden and known to be under the tier limit (:attr:`gateway.search.tiering.Shown.below`)."""


def buckets(histogram: Mapping[str | None, Count], missing_alias: str = MISSING_DATA_ALIAS) -> dict[str, Count]:
    """A member's buckets with string keys: ``None`` goes under ``missing_alias``, summed with an explicit bucket
    of that name if the member also sent one."""
    out: dict[str, Count] = {}
    for key, count in histogram.items():
        k = missing_alias if key is None else key
        out[k] = out.get(k, ZERO) + count
    return out


def merge(answers: Iterable[MemberAnswer], *, missing_alias: str = MISSING_DATA_ALIAS) -> Merged:
    """Sum the totals and every facet's buckets over the members that answered, keeping each contribution."""
    answers = tuple(answers)
    seen: set[str] = set()
    for a in answers:
        if a.commons in seen:
            raise ValueError(f"two answers from member {a.commons}")
        seen.add(a.commons)
    counted = [a for a in answers if a.answered]
    parts: dict[str, dict[str, list[tuple[str, Count]]]] = {}
    hidden: dict[str, dict[str, list[str]]] = {}
    known: dict[str, dict[str, list[tuple[str, int]]]] = {}
    for a in counted:
        for facet, histogram in a.histograms.items():
            cells = parts.setdefault(facet, {})
            unknown = {missing_alias if k is None else k for k in a.hidden_buckets(facet)}
            for key, count in buckets(histogram, missing_alias).items():
                if key not in unknown:
                    cells.setdefault(key, []).append((a.commons, count))
        for (facet, k), accessible in _hidden_buckets(a, missing_alias).items():
            parts.setdefault(facet, {}).setdefault(k, [])
            hidden.setdefault(facet, {}).setdefault(k, []).append(a.commons)
            if accessible is not None:
                known.setdefault(facet, {}).setdefault(k, []).append((a.commons, accessible))
    hid_total = [a for a in counted if a.total_hidden]
    return Merged(
        answers=answers,
        total=Cell(
            tuple((a.commons, a.total) for a in counted if a.total is not None and not a.total_hidden),
            tuple(a.commons for a in hid_total),
            tuple((a.commons, a.hidden_accessible[TOTAL]) for a in hid_total
                  if TOTAL in a.hidden_accessible),
        ),
        histograms={
            f: {k: Cell(tuple(p), tuple(hidden.get(f, {}).get(k, ())), tuple(known.get(f, {}).get(k, ())))
                for k, p in cells.items()}
            for f, cells in parts.items()
        },
        missing_alias=missing_alias,
    )


def _hidden_buckets(answer: MemberAnswer, missing_alias: str) -> dict[tuple[str, str], int | None]:
    """The member's hidden buckets under their merged keys → the accessible part of its contribution to each
    (``None`` when some hidden part of it came without one). A visible bucket filed under the same key (the
    ``None`` bucket next to an explicit one named ``missing_alias``) is dropped from the merge with it, so its
    accessible part is added here."""
    out: dict[tuple[str, str], int | None] = {}
    for cell in sorted(answer.hidden, key=repr):
        if isinstance(cell, tuple):
            facet, key = cell
            merged_key = (facet, missing_alias if key is None else key)
            given, so_far = answer.hidden_accessible.get(cell), out.get(merged_key, 0)
            out[merged_key] = None if given is None or so_far is None else so_far + given
    for (facet, k), accessible in out.items():
        if accessible is not None:
            out[(facet, k)] = accessible + sum(
                c.accessible for key, c in answer.histograms.get(facet, {}).items()
                if (missing_alias if key is None else key) == k and (facet, key) not in answer.hidden)
    return out
