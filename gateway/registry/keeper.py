"""Keeping the declared members in the store while the gateway runs (a background duty, run with the app).

The store can lose the registry under a running gateway (a Redis without persistence restarted empty, a volume
replaced); a start-up load alone would leave every member gone until the next restart. Every
``registry.reassert_interval`` seconds (aligned on wall-clock slots, like the health prober, so replicas agree on
what "this interval" is) each replica compares the stored records with its declarations
(:func:`gateway.registry.config_members.check_registry`). When declared members are missing, the process that
first takes the slot lease (store namespace :data:`NS_REASSERT_LEASE`; :func:`gateway.store.claim_slot`, the same
lease the health prober and the harvester use) re-creates them. The lease keeps it to one writer per interval;
correctness does not depend on it: every write is a create-only one (:meth:`RegistryRepository.create`), so two
writers racing (:meth:`DeclarationKeeper.reassert_now`, which takes no lease) create each member once and the
loser's write is refused and ignored.

The re-assert never *updates* an existing record: a record that differs from this replica's declaration (another
replica declares it otherwise) is reported (a warning when the set changes, ``/_status`` "diverged: <ids>"), not
rewritten, so two replicas with different files never flip-flop it. The file is applied when an instance starts
(:func:`~gateway.registry.config_members.load_config_members`: deploying a changed file is how an admin changes a
declared member).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.core.concurrency import every_slot
from gateway.core.member import Member
from gateway.registry.config_members import RegistryCheck, check_registry, reassert_missing
from gateway.registry.repository import RegistryRepository
from gateway.store.lease import claim_slot

log = logging.getLogger("gateway.registry.keeper")

NS_REASSERT_LEASE = "gateway.registry.reassert_lease"
"""The re-assert's slot lease, one document (key ``reassert``)."""


@dataclass
class DeclarationKeeper:
    """Re-creates missing declared members periodically (one replica per interval) and says how the registry
    compares with the declarations."""

    repository: RegistryRepository
    declared: list[Member]
    interval: float
    clock: Callable[[], float] = time.time
    replica: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    """Who holds the lease (recorded in it)."""
    _task: asyncio.Task[None] | None = field(default=None, init=False)
    _reported: tuple[str, ...] = field(default=(), init=False)

    async def check(self) -> RegistryCheck:
        """How the stored registry compares with the declarations, now (one scan of the members)."""
        return check_registry(self.declared, await self.repository.members())

    async def run_once(self, slot: int) -> list[str]:
        """One round: report divergence, re-create what is missing if this replica holds the slot's lease; the
        ids created here."""
        check = await self.check()
        if check.diverged != self._reported:
            self._reported = check.diverged
            if check.diverged:
                log.warning("declared members differ from the stored records (another replica declares them "
                            "otherwise); the stored records are kept", extra={"member_ids": list(check.diverged)})
        if not check.missing:
            return []
        if not await claim_slot(self.repository.store, NS_REASSERT_LEASE, "reassert", slot, holder=self.replica,
                                at=self.clock()):
            return []
        created = await reassert_missing(self.repository, self.declared)
        if created:
            log.warning("declared members were missing from the store and were re-created",
                        extra={"member_ids": created, "registry_empty": check.empty})
        return created

    async def reassert_now(self) -> list[str]:
        """Re-create missing declared members at once, without the lease (create-only writes: harmless if another
        replica does too); e.g. right after an admin removed the in-process commons' record to move it here."""
        return await reassert_missing(self.repository, self.declared)

    async def _loop(self) -> None:
        await every_slot(self.interval, self.run_once, clock=self.clock, what="registry re-assert round")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="registry-reassert")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
