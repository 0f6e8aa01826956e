"""The live routing view of the registry: which active member owns a prefix or a DRS hostname, which
members may be asked at all (active and not known-unhealthy), and one pooled adapter per member.

The store is the source of truth; this is a per-process read-through view, reloaded whenever the
registry's version counter (bumped on every change, on any replica) moves. The counter, and the shared
health state, are read at most every ``recheck`` seconds, so a change made on another replica is seen
within that time.

While the store does not answer (:class:`~gateway.store.base.StoreError`), the last snapshot and the last health
set are kept and rechecked every ``recheck`` seconds (logged once when the store fails and once when it answers
again): resolution keeps working on what was known. Only a process that never read the registry has nothing to
keep; it raises, and the web edge answers 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.core.member import Member, Status
from gateway.members.protocols import MemberAdapter
from gateway.registry.health import HealthMonitor
from gateway.registry.repository import RegistryRepository
from gateway.store.base import StoreError

log = logging.getLogger("gateway.registry")

AdapterFactory = Callable[[Member], MemberAdapter]


@dataclass
class Routes:
    """An immutable snapshot: active members and what they own (pure lookups)."""

    version: int
    members: dict[str, Member]
    by_prefix: dict[str, Member]
    by_hostname: dict[str, Member]

    @classmethod
    def build(cls, version: int, members: list[Member]) -> Routes:
        active = [m for m in members if m.status == Status.active]
        return cls(
            version,
            {m.id: m for m in active},
            {p: m for m in active for p in m.prefixes},
            {h: m for m in active for h in m.hostnames},
        )


@dataclass
class Directory:
    repository: RegistryRepository
    health: HealthMonitor
    build_adapter: AdapterFactory
    recheck: float = 1.0
    _routes: Routes = field(default_factory=lambda: Routes(-1, {}, {}, {}), init=False)
    _checked_at: float = field(default=float("-inf"), init=False)
    _seen_changes: int = field(default=-1, init=False)
    _unhealthy: frozenset[str] = field(default=frozenset(), init=False)
    _health_at: float = field(default=float("-inf"), init=False)
    _adapters: dict[str, tuple[Member, MemberAdapter]] = field(default_factory=dict, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    _health_lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)
    retire_after: float = 60.0
    """Seconds a replaced adapter stays open for the calls still running on it."""
    _closing: set[asyncio.Task[None]] = field(default_factory=set, init=False)
    _store_failing: bool = field(default=False, init=False)

    def _store_answered(self, answered: bool) -> None:
        """Log the store's state changes as this view sees them, once each."""
        if answered == (not self._store_failing):
            return
        self._store_failing = not answered
        if answered:
            log.warning("registry store answers again: the routing view is refreshed from it")
        else:
            log.warning("registry store unavailable: routing on the last snapshot read (version %d)",
                        self._routes.version)

    @property
    def loaded(self) -> bool:
        """Has this view read the registry at least once (readiness: a view that never did cannot route)?"""
        return self._routes.version >= 0

    async def routes(self, *, fresh: bool = False) -> Routes:
        """The current snapshot (reloaded when the registry version moved; ``fresh`` checks right now). While one
        caller rechecks, the others keep using the snapshot they have rather than queue behind the store read
        (under load that queue was the p99 tail, once a second)."""
        fresh = fresh or self.repository.local_changes != self._seen_changes  # a change made here: see it now
        if fresh or time.monotonic() - self._checked_at >= self.recheck:
            if not fresh and self._lock.locked() and self._routes.version >= 0:
                return self._routes
            async with self._lock:
                if fresh or time.monotonic() - self._checked_at >= self.recheck:
                    changes = self.repository.local_changes
                    try:
                        version = await self.repository.version()
                        if version != self._routes.version:
                            self._routes = Routes.build(version, await self.repository.members())
                    except StoreError:
                        if self._routes.version < 0:
                            raise  # nothing known to route on
                        self._store_answered(False)
                    else:
                        self._store_answered(True)
                    self._checked_at = time.monotonic()
                    self._seen_changes = changes
        return self._routes

    async def unhealthy(self) -> frozenset[str]:
        """Ids of active members known to be unhealthy (the shared health state, re-read at most every
        ``recheck`` seconds: probes run every ``health.interval``, so fresher reads would add nothing)."""
        routes = await self.routes()
        if time.monotonic() - self._health_at >= self.recheck and not self._health_lock.locked():
            async with self._health_lock:  # one reader at a time; the others use the set they have
                with contextlib.suppress(StoreError):  # the store is down: keep the set known (routes() logs it)
                    self._unhealthy = frozenset(await self.health.unhealthy(routes.members))
                self._health_at = time.monotonic()
        return self._unhealthy

    async def is_healthy(self, member_id: str) -> bool:
        return member_id not in await self.unhealthy()

    async def candidates(self) -> list[Member]:
        """Active members not known to be unhealthy, in id order (who a prefix-less id is asked of)."""
        routes = await self.routes()
        unhealthy = await self.unhealthy()
        return [m for mid, m in sorted(routes.members.items()) if mid not in unhealthy]

    def adapter(self, member: Member) -> MemberAdapter:
        """The member's pooled adapter, rebuilt when its record changed (e.g. the prober found what it offers
        changed). The old one is closed in the background after :attr:`retire_after` seconds, so calls still running
        on it end as they would have (closing it at once would cut them)."""
        held = self._adapters.get(member.id)
        if held is not None and held[0] == member:
            return held[1]
        adapter = self.build_adapter(member)
        self._adapters[member.id] = (member, adapter)
        if held is not None:
            task = asyncio.get_running_loop().create_task(self._retire(held[1]))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return adapter

    async def _retire(self, adapter: MemberAdapter) -> None:
        try:
            await asyncio.sleep(self.retire_after)
        finally:  # cancelled by close(): at once
            await adapter.close()

    async def close(self) -> None:
        adapters = [a for _, a in self._adapters.values()]
        self._adapters.clear()
        for task in self._closing:
            task.cancel()  # retired adapters: closed now, not after their grace
        await asyncio.gather(*(a.close() for a in adapters), *self._closing, return_exceptions=True)
