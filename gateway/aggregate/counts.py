"""What each member commons answered to a cohort search, normalised, and the merge across members.

Every count a member reports is kept as two numbers, ``all`` and ``accessible`` (the inaccessible part is their
difference), because the tiering rules (:mod:`gateway.aggregate.tiering`) need both: in ``regular`` a count's
visibility depends on its inaccessible part while the number shown is the whole. The merge keeps each member's
contribution to every cell (:class:`Cell`) instead of only the sum, since per-member tiers change what a member
contributes (a ``private`` member's inaccessible records contribute nothing); :mod:`tiering` derives the sums.

Only answers whose status is ``ok``, ``partial`` or ``stale`` are counted; every answer, counted or not, gets an
entry in the response's ``sources`` list (:class:`SourceStatus`), so a member that timed out is never dropped
silently. Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.aggregate.tiering import Tier

MISSING_ALIAS = "no data"
"""The histogram key for records without a value (Guppy's ``missing_data_alias`` default)."""

MEMBER_TOTAL = "_total"
"""In :attr:`MemberAnswer.hidden`, the member's total (buckets are ``(facet, key)`` pairs); the same key as
:data:`adapters.search.TOTAL`."""

HiddenCell = str | tuple[str, str | None]


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


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Count:
    """One count, split by the user's access: ``all`` records and the ``accessible`` ones among them."""

    all: int
    accessible: int

    def __post_init__(self) -> None:
        if not (_is_int(self.all) and _is_int(self.accessible)):
            raise TypeError(f"counts must be integers, got {self.all!r}, {self.accessible!r}")
        if not 0 <= self.accessible <= self.all:
            raise ValueError(f"need 0 <= accessible <= all, got all={self.all}, accessible={self.accessible}")

    @property
    def inaccessible(self) -> int:
        return self.all - self.accessible

    def __add__(self, other: Count) -> Count:
        return Count(self.all + other.all, self.accessible + other.accessible)


ZERO = Count(0, 0)


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
    :func:`gateway.aggregate.tiering.member_tier`).

    ``hidden`` lists the cells the member hid itself (:data:`MEMBER_TOTAL` or ``(facet, key)``, a ``None`` key
    being the missing bucket): their values are unknown, so any merged cell they are part of is hidden too, and
    whatever number the answer carries for them is ignored.
    """

    commons: str
    status: Status
    took_ms: int
    total: Count | None = None
    histograms: Mapping[str, Mapping[str | None, Count]] = field(default_factory=dict)
    error: str | None = None
    tier: Tier | None = None
    hidden: frozenset[HiddenCell] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "hidden", frozenset(self.hidden))
        if not _is_int(self.took_ms) or self.took_ms < 0:
            raise ValueError(f"took_ms must be a non-negative integer, got {self.took_ms!r}")
        if self.answered and self.total is None:
            raise ValueError(f"{self.commons}: an answer with status {self.status} needs a total")

    @property
    def answered(self) -> bool:
        return self.status in ANSWERED

    @property
    def total_hidden(self) -> bool:
        """Whether the member hid its own total."""
        return MEMBER_TOTAL in self.hidden

    def hidden_buckets(self, facet: str) -> frozenset[str | None]:
        return frozenset(c[1] for c in self.hidden if isinstance(c, tuple) and c[0] == facet)

    def reports(self, facet: str) -> bool:
        """Whether the answer has ``facet``'s histogram (some of its buckets may be hidden)."""
        return facet in self.histograms or bool(self.hidden_buckets(facet))


@dataclass(frozen=True)
class Cell:
    """One merged count with each counted member's contribution, in answer order. ``hidden_by`` lists the members
    that hid their part themselves: it is unknown, so is the cell's value, and it is not in ``parts``."""

    parts: tuple[tuple[str, Count], ...] = ()
    hidden_by: tuple[str, ...] = ()

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
    missing_alias: str = MISSING_ALIAS

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


def buckets(histogram: Mapping[str | None, Count], missing_alias: str = MISSING_ALIAS) -> dict[str, Count]:
    """A member's buckets with string keys: ``None`` goes under ``missing_alias``, summed with an explicit bucket
    of that name if the member also sent one."""
    out: dict[str, Count] = {}
    for key, count in histogram.items():
        k = missing_alias if key is None else key
        out[k] = out.get(k, ZERO) + count
    return out


def merge(answers: Iterable[MemberAnswer], *, missing_alias: str = MISSING_ALIAS) -> Merged:
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
    for a in counted:
        for facet, histogram in a.histograms.items():
            cells = parts.setdefault(facet, {})
            unknown = {missing_alias if k is None else k for k in a.hidden_buckets(facet)}
            for key, count in buckets(histogram, missing_alias).items():
                if key not in unknown:
                    cells.setdefault(key, []).append((a.commons, count))
        for cell in sorted(a.hidden, key=repr):
            if isinstance(cell, tuple):
                facet, key = cell
                k = missing_alias if key is None else key
                parts.setdefault(facet, {}).setdefault(k, [])
                hidden.setdefault(facet, {}).setdefault(k, []).append(a.commons)
    return Merged(
        answers=answers,
        total=Cell(
            tuple((a.commons, a.total) for a in counted if a.total is not None and not a.total_hidden),
            tuple(a.commons for a in counted if a.total_hidden),
        ),
        histograms={
            f: {k: Cell(tuple(p), tuple(hidden.get(f, {}).get(k, ()))) for k, p in cells.items()}
            for f, cells in parts.items()
        },
        missing_alias=missing_alias,
    )
