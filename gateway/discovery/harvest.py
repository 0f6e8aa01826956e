"""Background harvest of every active member's study-discovery records into shared, per-member snapshots.

Every ``aggregate.harvest.interval`` seconds (slots aligned on the wall clock, as the health prober's), each
active member is asked for its discovery records (:meth:`gateway.members.protocols.StudyDiscovery.discovery_records`,
concurrently, each under ``aggregate.harvest.timeout``); the records are mapped into the common study schema
(:mod:`gateway.discovery.mapping.records`) and the member's snapshot is replaced (:meth:`SnapshotSet.succeeded`). A
failure keeps the last good records, marked ``stale`` (``error`` when there never were any); a member that
cannot search (:class:`~gateway.members.search.SearchUnsupported`, e.g. a plain DRS server) is left out of the
listing and reported ``unsupported``.

Mapping per member: ``aggregate.mappings.members[<id>]`` when configured; for a ``reference`` member, by
default :func:`~gateway.discovery.mapping.reference.refcommons_mapping` (its ``commons`` field = the member's name);
otherwise the records pass through unmapped (``keep_original_fields`` with no field rules: the study object
under ``gen3_discovery`` is copied as is, records without one are skipped).

Scale-out. The shared :class:`~gateway.store.Store` is the source of truth:

* namespace :data:`NS_SNAPSHOTS`, one document per member id: ``{commons, records: [[guid, study], ...],
  harvested_at, attempted_at, status, error, commons_url, count}`` (times in seconds since the epoch). It is
  updated with conditional writes (read, merge with :class:`SnapshotSet` semantics, write with
  ``expect_rev``; retried on a conflict), so an older result never replaces a newer one.
* namespace :data:`NS_LEASES`, one document per member id: ``{slot, holder, at}``. A replica harvests a
  member for a slot only after moving the lease's ``slot`` forward with a conditional write, so exactly one
  replica harvests each member per interval (if it dies mid-harvest, that slot is simply missed).
* every replica serves from the store's documents: :meth:`Harvester.view` re-reads them at most every
  ``recheck`` seconds (one ``get_many``) and rebuilds a member's :class:`Snapshot` only when the document's
  revision moved, so once it rechecks a replica never serves an older snapshot than the store holds.

Commons names: the snapshot's commons (``gen3_discovery.commons_name``, ``/aggregate/commons``) is the member
**id** (unique and URL-safe, like Aggregate MDS's config keys); its ``commons_url`` is the member's base URL.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gateway.core.deadline import Deadline
from gateway.core.errors import UpstreamError
from gateway.core.member import Member
from gateway.discovery.mapping.compiler import compile_mapping, compile_mappings
from gateway.discovery.mapping.records import CompiledMapping, apply_all
from gateway.discovery.mapping.reference import refcommons_mapping
from gateway.discovery.snapshots import PENDING, Snapshot, SnapshotSet, sources, status_of
from gateway.members.protocols import StudyDiscovery
from gateway.members.search import SearchUnsupported
from gateway.registry.directory import Directory
from gateway.settings.aggregate import AggregateConfig
from gateway.settings.discovery import MemberMappingSettings
from gateway.store import ABSENT, Conflict, Store, Stored, claim_slot

log = logging.getLogger("gateway.discovery.harvest")

NS_SNAPSHOTS = "mds_snapshots"
NS_LEASES = "mds_harvest_leases"
UNSUPPORTED = "unsupported"
RECHECK = 1.0
"""Seconds a replica serves its in-process view before re-reading the store's revisions."""
_WRITE_RETRIES = 5


# --- documents ------------------------------------------------------------------------------------------


def snapshot_doc(snapshot: Snapshot) -> dict[str, Any]:
    """The store document of one member's snapshot."""
    return {
        "commons": snapshot.commons,
        "records": [[guid, study] for guid, study in snapshot.records],
        "harvested_at": snapshot.harvested_at,
        "attempted_at": snapshot.attempted_at,
        "status": snapshot.status,
        "error": snapshot.error,
        "commons_url": snapshot.commons_url,
        "count": len(snapshot.records),
    }


def snapshot_from_doc(commons: str, doc: dict[str, Any], commons_url: str | None) -> Snapshot:
    """The :class:`Snapshot` a store document holds (``unsupported`` documents have no snapshot: the caller
    checks first). ``commons_url`` is the member's current one."""
    records = tuple((str(g), s) for g, s in doc.get("records") or ())
    return Snapshot(commons, records, doc.get("harvested_at"), status_of(doc.get("status")), doc.get("error"),
                    doc.get("attempted_at"), commons_url)


@dataclass(frozen=True)
class Outcome:
    """One harvest attempt's result: records (success), or an error, or unsupported."""

    at: float
    records: tuple[tuple[str, dict[str, Any]], ...] | None = None
    error: str | None = None
    unsupported: bool = False


def merged_doc(member: Member, found: Stored | None, outcome: Outcome) -> dict[str, Any]:
    """The member's next document: the stored one updated by ``outcome`` with :class:`SnapshotSet` rules
    (an older result is ignored; a failure keeps the last good records, ``stale``)."""
    if outcome.unsupported:
        return {"commons": member.id, "records": [], "harvested_at": None, "attempted_at": outcome.at,
                "status": UNSUPPORTED, "error": outcome.error, "commons_url": member.base_url, "count": 0}
    prev_doc = found.doc if found is not None else None
    if prev_doc is None or prev_doc.get("status") == UNSUPPORTED:
        prev = Snapshot(member.id, (), None, PENDING, commons_url=member.base_url)
    else:
        prev = snapshot_from_doc(member.id, prev_doc, member.base_url)
    one = SnapshotSet((prev,))
    if outcome.records is not None:
        one = one.succeeded(member.id, outcome.records, outcome.at)
    else:
        one = one.failed(member.id, outcome.error or "harvest failed", outcome.at)
    snap = one.snapshots[0]
    if snap is prev and prev_doc is not None:
        return prev_doc  # an outdated result: nothing changes
    return snapshot_doc(snap)


# --- the view replicas serve ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DiscoveryView:
    """What the routes serve: the snapshots of the members that can be listed, in member-id order, plus the
    members that cannot search."""

    snapshots: SnapshotSet
    unsupported: tuple[tuple[str, dict[str, Any]], ...] = ()
    """``(member id, its store document)`` for members answering :class:`SearchUnsupported`."""
    prefixes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Lower-case GUID prefix → ``{host, name, type}`` (``/aggregate/info/dg.XXXX``)."""

    def status(self, now: float) -> list[dict[str, Any]]:
        """Per member (id order): ``{commons, status, count, last_success, last_attempt, age, error}``."""
        rows = {row["commons"]: row for row in sources(self.snapshots, now)}
        for member_id, doc in self.unsupported:
            rows[member_id] = {"commons": member_id, "status": UNSUPPORTED, "count": 0, "last_success": None,
                               "last_attempt": doc.get("attempted_at"), "age": None, "error": doc.get("error")}
        return [rows[k] for k in sorted(rows)]


def _prefix_info(members: list[Member]) -> dict[str, dict[str, Any]]:
    """As the resolver's ``/mds/aggregate/info/{prefix}`` answers (gen3 drs-pull's ``commons_mds`` resolver)."""
    return {p.lower(): {"host": urlsplit(m.base_url).netloc, "name": m.name, "type": "indexd"}
            for m in members for p in m.prefixes}


# --- the harvester --------------------------------------------------------------------------------------


@dataclass
class Harvester:
    """Harvests members into the store and serves the store's snapshots (one per app; see the module doc)."""

    store: Store
    directory: Directory
    config: AggregateConfig
    clock: Callable[[], float] = time.time
    recheck: float = RECHECK
    replica: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    harvested: int = field(default=0, init=False)
    """How many member harvests this replica ran (claimed a lease and asked the member)."""
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _first_round: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)
    _configured: dict[str, CompiledMapping] = field(default_factory=dict, init=False, repr=False)
    _mappings: dict[str, tuple[Member, CompiledMapping]] = field(default_factory=dict, init=False, repr=False)
    _memo: dict[str, tuple[int, str, Snapshot | None]] = field(default_factory=dict, init=False, repr=False)
    _view: DiscoveryView | None = field(default=None, init=False, repr=False)
    _view_key: tuple[int, tuple[tuple[str, int], ...]] | None = field(default=None, init=False, repr=False)
    _checked_at: float = field(default=float("-inf"), init=False, repr=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self._configured = compile_mappings(self.config.mappings)  # a bad mapping stops the gateway as it starts

    # --- mapping --------------------------------------------------------------------------------------

    def mapping_for(self, member: Member) -> CompiledMapping:
        held = self._mappings.get(member.id)
        if held is not None and held[0] == member:
            return held[1]
        configured = self._configured.get(member.id)
        schema = self.config.mappings.study_schema
        if configured is not None:
            compiled = configured
        elif member.kind == "reference":
            compiled = compile_mapping(member.id, refcommons_mapping(member.name), schema)
        else:
            compiled = compile_mapping(member.id, MemberMappingSettings(keep_original_fields=True), schema)
        self._mappings[member.id] = (member, compiled)
        return compiled

    # --- harvesting -----------------------------------------------------------------------------------

    def current_slot(self) -> int:
        return int(self.clock() // self.config.harvest.interval)

    async def claim(self, member_id: str, slot: int) -> bool:
        """Move the member's lease to ``slot`` (conditional write); ``False`` when another replica has it."""
        return await claim_slot(self.store, NS_LEASES, member_id, slot, holder=self.replica, at=self.clock())

    async def fetch(self, member: Member) -> Outcome:
        """Ask the member for its records under the harvest timeout; never raises (but on cancellation)."""
        timeout = self.config.harvest.timeout
        try:
            adapter = self.directory.adapter(member)
            if not isinstance(adapter, StudyDiscovery):
                raise SearchUnsupported(member.id, f"a {member.kind} member offers no study discovery")
            async with asyncio.timeout(timeout + min(1.0, timeout)):  # not wait_for: on 3.11 it can swallow a cancel
                raw = await adapter.discovery_records(Deadline.after(timeout))
            records = apply_all(self.mapping_for(member), raw)
            return Outcome(self.clock(), records=records)
        except asyncio.CancelledError:
            raise
        except SearchUnsupported as exc:
            return Outcome(self.clock(), error=exc.message or "study discovery unsupported", unsupported=True)
        except TimeoutError:
            return Outcome(self.clock(), error=f"no complete answer within {timeout:g}s")
        except UpstreamError as exc:  # public (the snapshot's status): its message, never the detail
            return Outcome(self.clock(), error=exc.message)
        except Exception:
            log.warning("discovery harvest: unexpected failure", extra={"member_id": member.id}, exc_info=True)
            return Outcome(self.clock(), error="unexpected failure")

    async def record(self, member: Member, outcome: Outcome) -> None:
        """Merge ``outcome`` into the member's store document (conditional write, retried on conflict)."""
        for _ in range(_WRITE_RETRIES):
            found = await self.store.get(NS_SNAPSHOTS, member.id)
            doc = merged_doc(member, found, outcome)
            if found is not None and doc is found.doc:
                return
            try:
                await self.store.put(NS_SNAPSHOTS, member.id, doc, expect_rev=found.rev if found else ABSENT)
            except Conflict:
                continue
            self._checked_at = float("-inf")  # serve what was just written at the next read
            if outcome.records is None and not outcome.unsupported:  # a member without discovery is no failure
                log.warning("discovery harvest failed", extra={"member_id": member.id, "error": outcome.error})
            return
        log.warning("discovery harvest not recorded: too many concurrent writes", extra={"member_id": member.id})

    async def harvest_member(self, member: Member, slot: int) -> bool:
        """Harvest ``member`` if this replica wins its lease for ``slot``; ``True`` when it did."""
        if not await self.claim(member.id, slot):
            return False
        self.harvested += 1
        await self.record(member, await self.fetch(member))
        return True

    async def run_once(self, slot: int | None = None) -> int:
        """One round over every active member (concurrently) for ``slot`` (default: the current one); how
        many members this replica harvested."""
        slot = self.current_slot() if slot is None else slot
        routes = await self.directory.routes(fresh=True)

        async def one(member: Member) -> bool:
            try:
                return await self.harvest_member(member, slot)
            except asyncio.CancelledError:
                raise
            except Exception:  # store trouble for one member: log, keep going
                log.warning("discovery harvest not recorded", extra={"member_id": member.id}, exc_info=True)
                return False

        members = [routes.members[k] for k in sorted(routes.members)]
        return sum(await asyncio.gather(*(one(m) for m in members)))

    async def _loop(self) -> None:
        interval = self.config.harvest.interval
        first = True
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the registry could not be read: try again next interval
                log.warning("discovery harvest round failed", exc_info=True)
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # a cancel some library swallowed: honour it anyway
                raise asyncio.CancelledError
            if first:
                first = False
                self._first_round.set()
            now = self.clock()
            await asyncio.sleep(max(0.0, (int(now // interval) + 1) * interval - now))

    def start(self) -> None:
        """Run the loop in the background: a round at once (not awaited), then one per interval slot."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="mds-harvest")

    async def started(self) -> None:
        """Wait until the first round (started by :meth:`start`) has finished."""
        await self._first_round.wait()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    # --- serving --------------------------------------------------------------------------------------

    async def view(self, *, fresh: bool = False) -> DiscoveryView:
        """The store's snapshots of the active members, re-read at most every ``recheck`` seconds (``fresh``:
        now). While one caller re-reads, the others keep the view they have."""
        if not fresh and self._view is not None and time.monotonic() - self._checked_at < self.recheck:
            return self._view
        if not fresh and self._view is not None and self._lock.locked():
            return self._view
        async with self._lock:
            if not fresh and self._view is not None and time.monotonic() - self._checked_at < self.recheck:
                return self._view
            checked = time.monotonic()
            routes = await self.directory.routes()
            members = [routes.members[k] for k in sorted(routes.members)]
            found = await self.store.get_many(NS_SNAPSHOTS, [m.id for m in members])
            key = (routes.version, tuple((m.id, found[m.id].rev if m.id in found else 0) for m in members))
            if key != self._view_key or self._view is None:
                self._view = self._build(members, found)
                self._view_key = key
            self._checked_at = checked
            return self._view

    def _build(self, members: list[Member], found: dict[str, Stored]) -> DiscoveryView:
        snaps: list[Snapshot] = []
        unsupported: list[tuple[str, dict[str, Any]]] = []
        memo: dict[str, tuple[int, str, Snapshot | None]] = {}
        for m in members:
            stored = found.get(m.id)
            if stored is None:
                snaps.append(Snapshot(m.id, (), None, PENDING, commons_url=m.base_url))
                continue
            if stored.doc.get("status") == UNSUPPORTED:
                unsupported.append((m.id, stored.doc))
                continue
            held = self._memo.get(m.id)
            if held is not None and held[0] == stored.rev and held[1] == m.base_url and held[2] is not None:
                snap = held[2]
            else:
                snap = snapshot_from_doc(m.id, stored.doc, m.base_url)
            memo[m.id] = (stored.rev, m.base_url, snap)
            snaps.append(snap)
        self._memo = memo
        return DiscoveryView(SnapshotSet(tuple(snaps)), tuple(unsupported), _prefix_info(members))


__all__ = [
    "NS_LEASES",
    "NS_SNAPSHOTS",
    "UNSUPPORTED",
    "DiscoveryView",
    "Harvester",
    "Outcome",
    "merged_doc",
    "snapshot_doc",
    "snapshot_from_doc",
]
