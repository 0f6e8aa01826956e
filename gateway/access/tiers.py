"""Tiered access: what of a count a caller who may not read all of it sees, and the suppression that keeps a hidden
count from following from the visible ones (pure; exact rationals, no I/O).

:class:`TierPolicy` is the configured tiers (``aggregate.tier``, :meth:`TierPolicy.from_settings`): a global
:class:`Tier` (``private``, ``regular``, ``libre``), per-member overrides and the ``limit``. Under ``regular`` a count
whose inaccessible (protected) part is in ``(0, limit)`` is hidden (:meth:`TierPolicy.hides`, Guppy's rule).

:func:`suppress` is the cell suppression both tiered paths use, the cohort search's merged counts
(:mod:`gateway.search.tiering`) and the study counts of discovery (:mod:`gateway.discovery.study_tiering`): the
primary rule, then complementary hiding until no hidden cell is derivable from the visible ones through the linear
equations the caller knows (:func:`derivable`, by row reduction).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction
from typing import TypeVar

from gateway.settings.aggregate import TierSettings

K = TypeVar("K", bound=Hashable)


class Tier(StrEnum):
    PRIVATE = "private"
    REGULAR = "regular"
    LIBRE = "libre"


_STRICTNESS = {Tier.LIBRE: 0, Tier.REGULAR: 1, Tier.PRIVATE: 2}


def strictest(tiers: Iterable[Tier | str]) -> Tier:
    return max((Tier(t) for t in tiers), key=_STRICTNESS.__getitem__)


@dataclass(frozen=True)
class TierPolicy:
    level: Tier
    limit: int = 50
    per_member: Mapping[str, Tier] = field(default_factory=dict)
    """Member commons → its tier, overriding ``level`` (either way: a member may be looser or stricter)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "level", Tier(self.level))
        object.__setattr__(self, "per_member", {c: Tier(t) for c, t in self.per_member.items()})
        if not isinstance(self.limit, int) or isinstance(self.limit, bool) or self.limit < 0:
            raise ValueError(f"tier access limit must be a non-negative integer, got {self.limit!r}")

    @classmethod
    def from_settings(cls, settings: TierSettings) -> TierPolicy:
        """The policy ``aggregate.tier`` configures."""
        return cls(Tier(settings.level), settings.limit, {m: Tier(t) for m, t in settings.per_member.items()})

    def tier_for(self, commons: str) -> Tier:
        return self.per_member.get(commons, self.level)

    def hides(self, protected: int) -> bool:
        """The primary rule: a count whose protected inaccessible part is in ``(0, limit)`` is hidden."""
        return 0 < protected < self.limit


def _rref(rows: list[list[Fraction]]) -> list[list[Fraction]]:
    width = len(rows[0]) if rows else 0
    top = 0
    for col in range(width):
        if top == len(rows):
            break
        pick = next((r for r in range(top, len(rows)) if rows[r][col]), None)
        if pick is None:
            continue
        rows[top], rows[pick] = rows[pick], rows[top]
        pivot = rows[top][col]
        rows[top] = [v / pivot for v in rows[top]]
        for r in range(len(rows)):
            if r != top and rows[r][col]:
                f = rows[r][col]
                rows[r] = [a - f * b for a, b in zip(rows[r], rows[top])]
        top += 1
    return rows[:top]


def derivable(hidden: Sequence[K], equations: Sequence[Mapping[K, int]]) -> list[K]:
    """The hidden cells whose values follow from the visible ones by the equations (each ``sum coef*cell = 0``)."""
    index = {c: i for i, c in enumerate(hidden)}
    rows = []
    for eq in equations:
        row = [Fraction(0)] * len(hidden)
        for c, k in eq.items():
            if c in index:
                row[index[c]] += k
        if any(row):
            rows.append(row)
    out = []
    for row in _rref(rows):
        nonzero = [j for j, v in enumerate(row) if v]
        if len(nonzero) == 1:
            out.append(hidden[nonzero[0]])
    return out


def suppress(
    protected: Mapping[K, int],
    limit: int,
    equations: Sequence[Mapping[K, int]] = (),
    *,
    public: Collection[K] = (),
    reluctant: Collection[K] = (),
    forced: Collection[K] = (),
) -> frozenset[K]:
    """The cells to hide: primary (protected part in ``(0, limit)``) plus complementary, until none is derivable.

    ``protected`` lists every cell (in a stable order: ties go to the first); ``public`` cells are known to
    everyone and are never hidden unless ``forced``; ``reluctant`` cells are hidden only when nothing else will do;
    ``forced`` cells are hidden whatever their protected part (a member hid part of them)."""
    hidden = {c: None for c, s in protected.items() if c in forced or (0 < s < limit and c not in public)}
    exposed: set[K] = set()
    while True:
        x = next((c for c in derivable(list(hidden), equations) if c not in exposed), None)
        if x is None:
            return frozenset(hidden)
        containing = [eq for eq in equations if eq.get(x)]
        alone = [eq for eq in containing if not any(c in hidden for c in eq if c != x and eq[c])]
        extra = None
        for stage in (alone, containing, equations):
            extra = _complement(stage, hidden, protected, limit, public, reluctant)
            if extra is not None:
                break
        if extra is None:
            exposed.add(x)  # follows from public values alone; nothing left to hide would help
        else:
            hidden[extra] = None


def _complement(
    equations: Iterable[Mapping[K, int]],
    hidden: Mapping[K, None],
    protected: Mapping[K, int],
    limit: int,
    public: Collection[K],
    reluctant: Collection[K],
) -> K | None:
    best: tuple[tuple[bool, bool, int, int], K] | None = None
    order = {c: i for i, c in enumerate(protected)}
    for eq in equations:
        need = limit - sum(protected.get(c, 0) for c in eq if c in hidden)
        for c, k in eq.items():
            if not k or c in hidden or c in public or c not in protected:
                continue
            s = protected[c]
            rank = (c in reluctant, s < need, s if s >= need else -s, order[c])
            if best is None or rank < best[0]:
                best = (rank, c)
    return None if best is None else best[1]
