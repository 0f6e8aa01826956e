"""The plain types a cohort question and a member's answers to it come in (pure).

A member adapter that can search implements :class:`~gateway.members.protocols.CohortSearch` (and
:class:`~gateway.members.protocols.StudyDiscovery`) with these types (``gateway.members.gen3``: Guppy GraphQL and MDS
over HTTP; ``gateway.app.inprocess``: the in-process commons directly). A member that cannot (a plain DRS server)
raises :class:`SearchUnsupported`, which the gateway reports as ``unsupported`` in ``sources`` rather than as a
failure.

Counts always come split by the caller's access: ``all`` and ``accessible`` (see
:class:`gateway.members.search.Count`). Where the member itself hid a count (Guppy answers ``-1`` for a bucket whose
inaccessible part is small), the adapter reports the cell in :attr:`MemberCounts.hidden` and leaves it out of the
numbers: nobody, the gateway included, knows its ``all`` value. Guppy never hides an ``accessible`` aggregation, so
the caller's own part of such a cell is usually still known: the adapter gives it in
:attr:`MemberCounts.hidden_accessible` (the gateway shows it when asked for accessible data only).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.core.errors import UpstreamError
from gateway.settings.search import CohortIndex

TOTAL = "_total"
"""The key of the total in :attr:`MemberCounts.hidden` (buckets are ``(facet, key)`` pairs)."""


class SearchUnsupported(UpstreamError):
    """The member offers no search of this kind (answered ``unsupported``, never an error)."""

    status = 501


@dataclass(frozen=True)
class CohortQuery:
    """One cohort question, in the shared schema: Guppy's JSON filter language over the index's fields."""

    index: CohortIndex
    filter: Mapping[str, Any] | None = None
    facets: tuple[str, ...] = ()


@dataclass(frozen=True)
class MemberCounts:
    total: Count
    histograms: Mapping[str, Mapping[str | None, Count]] = field(default_factory=dict)
    """Facet → bucket key (``None``: records without a value) → count."""
    hidden: frozenset[HiddenCell] = frozenset()
    """Cells the member hid itself: :data:`TOTAL` or ``(facet, key)``; their counts are not in the numbers."""
    hidden_accessible: Mapping[HiddenCell, int] = field(default_factory=dict)
    """Of the cells in :attr:`hidden`, those whose accessible part the member still gave: cell → that accessible
    count (cells it hid entirely are absent)."""
    partial: bool = False
    """The member answered only part of the question (e.g. some facets failed)."""


@dataclass(frozen=True)
class RowsPage:
    """Accessible rows only. ``next_offset`` is ``None`` on the last page."""

    rows: tuple[Mapping[str, Any], ...]
    next_offset: int | None
    total: int | None = None


HiddenCell = str | tuple[str, str | None]


def is_integer(value: object) -> bool:
    """An ``int`` that is not a ``bool`` (what a count must be)."""
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Count:
    """One count, split by the user's access: ``all`` records and the ``accessible`` ones among them."""

    all: int
    accessible: int

    def __post_init__(self) -> None:
        if not (is_integer(self.all) and is_integer(self.accessible)):
            raise TypeError(f"counts must be integers, got {self.all!r}, {self.accessible!r}")
        if not 0 <= self.accessible <= self.all:
            raise ValueError(f"need 0 <= accessible <= all, got all={self.all}, accessible={self.accessible}")

    @property
    def inaccessible(self) -> int:
        return self.all - self.accessible

    def __add__(self, other: Count) -> Count:
        return Count(self.all + other.all, self.accessible + other.accessible)


ZERO = Count(0, 0)
