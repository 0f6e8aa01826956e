"""One member's harvested studies and harvest state (:class:`Snapshot`), and the set of every member's
(:class:`SnapshotSet`); pure (no I/O, no clock: the caller passes ``now``).

A :class:`Snapshot` is one member's harvested, mapped studies (``(guid, study)`` pairs, the study already in
the common schema, see :mod:`gateway.discovery.mapping.records`). A :class:`SnapshotSet` holds one snapshot per
configured member, in configured order, and is itself immutable: :meth:`SnapshotSet.succeeded` and
:meth:`SnapshotSet.failed` return a new set, so a publisher switches atomically by replacing its one
reference, and a reader that took the reference once sees one consistent state. A failed harvest never
replaces data: the member keeps its last good snapshot, marked :data:`STALE`, and its age (computed from the
``now`` the caller passes) is reported by :meth:`SnapshotSet.status`.

Records are kept sorted by GUID (a GUID repeated within one member keeps its last record); each study carries
``commons_name`` (the member's name, set here whatever the mapping produced). :attr:`Snapshot.texts` is the
case-folded text a full-text search looks in (:mod:`gateway.discovery.study_search`), built once per snapshot.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, Literal, cast

COMMONS_NAME = "commons_name"
MAX_ERROR_LENGTH = 500

OK: Final = "ok"
STALE: Final = "stale"
ERROR: Final = "error"
PENDING: Final = "pending"
Status = Literal["ok", "stale", "error", "pending"]
STATUSES = (OK, STALE, ERROR, PENDING)
"""``ok``: the last harvest succeeded; ``stale``: it failed, the last good records are served; ``error``: no
harvest has ever succeeded (no records); ``pending``: none attempted yet."""

Study = Mapping[str, Any]
EMPTY_HARVEST = "harvest returned no records; keeping the last good snapshot"


def _strings(value: Any) -> Iterator[str]:
    """Every string value inside ``value`` (not keys), depth-first, without recursion."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, (list, tuple)):
            stack.extend(reversed(node))


@dataclass(frozen=True)
class Snapshot:
    """One member's served records and harvest state; immutable (treat the study dicts as read-only).

    On construction the records are keyed by GUID (a repeated GUID keeps its last record), sorted by GUID,
    and each study gets ``commons_name`` = :attr:`commons`.
    """

    commons: str
    records: tuple[tuple[str, Study], ...] = ()
    harvested_at: float | None = None
    """When the served records were harvested (seconds since the epoch); ``None``: never."""
    status: Status = OK
    error: str | None = None
    attempted_at: float | None = None
    """When the last harvest attempt ended, successful or not."""
    commons_url: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.commons, str) or not self.commons:
            raise ValueError("a snapshot needs a commons name")
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")
        by_guid: dict[str, dict[str, Any]] = {}
        for item in self.records:
            guid, study = item
            if not isinstance(guid, str) or not guid:
                raise ValueError(f"{self.commons}: a record GUID must be a non-empty string")
            if not isinstance(study, Mapping):
                raise ValueError(f"{self.commons}: record {guid!r} is not an object")
            by_guid[guid] = {**study, COMMONS_NAME: self.commons}
        object.__setattr__(self, "records", tuple(sorted(by_guid.items())))
        if self.error is not None and len(self.error) > MAX_ERROR_LENGTH:
            object.__setattr__(self, "error", self.error[: MAX_ERROR_LENGTH - 1] + "…")

    def age(self, now: float) -> float | None:
        """Seconds since :attr:`harvested_at` (never negative); ``None`` if never harvested."""
        return None if self.harvested_at is None else max(0.0, now - self.harvested_at)

    @cached_property
    def index(self) -> Mapping[str, Study]:
        """GUID → study."""
        return dict(self.records)

    @cached_property
    def texts(self) -> tuple[str, ...]:
        """Per record (aligned with :attr:`records`): the case-folded text full-text search looks in."""
        return tuple("\n".join((guid, *_strings(study))).casefold() for guid, study in self.records)


@dataclass(frozen=True)
class SnapshotSet:
    """One snapshot per configured member, in configured order; immutable (every change is a new set)."""

    snapshots: tuple[Snapshot, ...] = ()

    def __post_init__(self) -> None:
        names = [s.commons for s in self.snapshots]
        if len(set(names)) != len(names):
            raise ValueError("member names must be unique")

    @classmethod
    def initial(cls, members: Sequence[str], commons_urls: Mapping[str, str] | None = None) -> SnapshotSet:
        """Every member :data:`PENDING`, without records."""
        urls = commons_urls or {}
        return cls(tuple(Snapshot(m, (), None, PENDING, commons_url=urls.get(m)) for m in members))

    @property
    def members(self) -> tuple[str, ...]:
        return tuple(s.commons for s in self.snapshots)

    def __iter__(self) -> Iterator[Snapshot]:
        return iter(self.snapshots)

    def __len__(self) -> int:
        return len(self.snapshots)

    def get(self, commons: str) -> Snapshot | None:
        for s in self.snapshots:
            if s.commons == commons:
                return s
        return None

    def _with(self, snapshot: Snapshot) -> SnapshotSet:
        return SnapshotSet(tuple(snapshot if s.commons == snapshot.commons else s for s in self.snapshots))

    def _member(self, commons: str) -> Snapshot:
        found = self.get(commons)
        if found is None:
            raise KeyError(f"unknown member {commons!r}")
        return found

    def succeeded(self, commons: str, records: Iterable[tuple[str, Study]], harvested_at: float, *,
                  allow_empty: bool = False) -> SnapshotSet:
        """The set with ``commons``'s records replaced by a complete, successful harvest.

        A result older than the served one (``harvested_at`` earlier) is ignored. An empty harvest of a
        member that has records counts as a failure (:data:`EMPTY_HARVEST`) unless ``allow_empty``.
        """
        prev = self._member(commons)
        if prev.harvested_at is not None and harvested_at < prev.harvested_at:
            return self
        records = tuple(records)
        if not records and prev.records and not allow_empty:
            return self.failed(commons, EMPTY_HARVEST, harvested_at)
        return self._with(Snapshot(commons, records, harvested_at, OK, None, harvested_at, prev.commons_url))

    def failed(self, commons: str, error: str, attempted_at: float) -> SnapshotSet:
        """The set after a failed (or partial) harvest of ``commons``: its last good records stay, marked
        :data:`STALE`; a member never harvested becomes :data:`ERROR`. A failure older than the served
        harvest is ignored."""
        prev = self._member(commons)
        if prev.harvested_at is not None and attempted_at < prev.harvested_at:
            return self
        if prev.harvested_at is None:
            return self._with(Snapshot(commons, (), None, ERROR, error, attempted_at, prev.commons_url))
        return self._with(dataclasses.replace(prev, status=STALE, error=error, attempted_at=attempted_at))

    def status(self, now: float) -> list[dict[str, Any]]:
        """:func:`sources` of this set."""
        return sources(self, now)


def status_of(value: object) -> Status:
    """A status read back from a store document (``pending`` when it has none; :class:`Snapshot` refuses an unknown
    one)."""
    return cast(Status, value or PENDING)


def sources(snapshots: Iterable[Snapshot], now: float) -> list[dict[str, Any]]:
    """Per member: ``{commons, status, count, last_success, last_attempt, age, error}`` (times in seconds
    since the epoch, ``age`` in seconds since ``last_success``)."""
    return [
        {
            "commons": s.commons,
            "status": s.status,
            "count": len(s.records),
            "last_success": s.harvested_at,
            "last_attempt": s.attempted_at,
            "age": s.age(now),
            "error": s.error,
        }
        for s in snapshots
    ]
