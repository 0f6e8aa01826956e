"""Member health: a background prober per gateway, its state shared by every replica through the store.

Every ``health.interval`` seconds (aligned on wall-clock slots, so replicas agree on what "this interval"
is), each ``active`` member is probed by whichever process first takes its slot lease (store namespace
:data:`NS_PROBE_LEASES`, key: member id; :func:`gateway.store.claim_slot`), so one process of the whole
deployment (every replica, every ``--workers`` process) probes a member per interval. The outcome
goes to the store namespace ``gateway.registry.health`` (key: member id):
``{state, consecutive_failures, last_success, last_failure, latency_ms, recent_failures, checked_at, lies}``.
A member becomes ``unhealthy`` after ``failure_threshold`` consecutive failures and ``healthy`` again after
one success; never probed, it is ``unknown``, which readers treat as healthy.

A member caught answering for an id it does not hold under its own name (:mod:`gateway.resolver.holders`) is
counted too (:meth:`HealthMonitor.record_lie`): a failure like a failed probe, listed in ``recent_failures`` with
``"kind": "lied"``, and added to ``lies``, which no probe resets.

What a member offers is re-checked after each probe when a :data:`DiscoverFn` is handed in
(:func:`capability_probe`: the join check's calls, :func:`gateway.registry.join.discover_capabilities`): a changed
finding is written to the member's record (audited as ``capabilities`` by ``health``; a call answering ``unknown``,
e.g. a 5xx, keeps the last finding). A member whose records path answers, but not like indexd/DRS (moved, or its
layout changed), is **misconfigured**: the probe counts as failed with ``misconfigured: <what answered>`` and its
adapter answers every lookup 502 ``member X is misconfigured: …`` (:class:`~gateway.core.errors.MemberMisconfigured`)
until a re-check finds the records again.

How a member is probed is a callable (:data:`ProbeFn`) handed in, so the gateway can probe through its
adapters (:func:`adapter_probe`: under each member's egress policy, checked on every connection);
:func:`http_probe` is a minimal stand-in over HTTP (the join check's GETs, under the egress policy handed in). A
round probes at most :data:`PROBE_CONCURRENCY` members at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from typing import Any, Literal

from gateway.core.concurrency import every_slot, gather_bounded
from gateway.core.egress import EgressPolicy
from gateway.core.member import CAPABILITIES, Capabilities, Member, Status
from gateway.core.metrics import current
from gateway.core.records import Probe
from gateway.members.protocols import MemberAdapter
from gateway.registry.join import CandidateRefused, Finding, capabilities_from, check_candidate, discover_capabilities
from gateway.registry.repository import NS_HEALTH, RegistryRepository, utc_now
from gateway.settings.sections import HealthConfig
from gateway.store.base import ABSENT, Conflict, Store
from gateway.store.lease import claim_slot

log = logging.getLogger("gateway.registry.health")

ProbeFn = Callable[[Member, float], Awaitable[Probe]]
"""Probe one member within a timeout (seconds)."""
DiscoverFn = Callable[[Member, float], Awaitable[list[Finding]]]
"""Ask one member what it offers within a timeout (seconds)."""
HEALTH_ACTOR = "health"
HealthState = Literal["healthy", "unhealthy", "unknown"]
PROBE_BODY_CAP = 65_536
PROBE_CONCURRENCY = 32


@dataclass(frozen=True, slots=True)
class HealthRecord:
    state: HealthState = "unknown"
    consecutive_failures: int = 0
    last_success: str | None = None
    last_failure: str | None = None
    latency_ms: float | None = None
    recent_failures: tuple[dict[str, str], ...] = ()
    checked_at: str | None = None
    lies: int = 0
    """Records refused because the member answered for an id it does not hold under its own name (never reset)."""

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["recent_failures"] = list(self.recent_failures)
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> HealthRecord:
        return cls(
            state=doc.get("state", "unknown"), consecutive_failures=int(doc.get("consecutive_failures", 0)),
            last_success=doc.get("last_success"), last_failure=doc.get("last_failure"),
            latency_ms=doc.get("latency_ms"), recent_failures=tuple(doc.get("recent_failures", ())),
            checked_at=doc.get("checked_at"), lies=int(doc.get("lies", 0)),
        )


def next_record(prev: HealthRecord, probe: Probe, *, at: str, threshold: int, history: int) -> HealthRecord:
    """The record after one probe (pure)."""
    if probe.ok:
        return HealthRecord("healthy", 0, at, prev.last_failure, probe.latency_ms, prev.recent_failures, at, prev.lies)
    return _failed(prev, {"at": at, "detail": probe.detail or "probe failed"}, at=at, threshold=threshold,
                   history=history)


def lied_record(prev: HealthRecord, detail: str, *, at: str, threshold: int, history: int) -> HealthRecord:
    """The record after the member was caught answering for an id it does not hold under its own name (pure): a
    failure (``kind: lied``) that also counts in ``lies``."""
    failed = _failed(prev, {"at": at, "kind": "lied", "detail": detail}, at=at, threshold=threshold, history=history)
    return replace(failed, lies=prev.lies + 1, checked_at=prev.checked_at)  # no probe ran


def _failed(prev: HealthRecord, failure: dict[str, str], *, at: str, threshold: int, history: int) -> HealthRecord:
    failures = prev.consecutive_failures + 1
    recent = (*prev.recent_failures, failure)[-history:]
    state: HealthState = "unhealthy" if failures >= threshold else ("healthy" if prev.state == "healthy" else
                                                                   "unknown")
    return HealthRecord(state, failures, prev.last_success, at, prev.latency_ms, recent, at, prev.lies)


def http_probe(egress: EgressPolicy) -> ProbeFn:
    """The join check's status GETs as a probe, under ``egress`` (a stand-in for probing through adapters)."""

    async def probe(member: Member, timeout: float) -> Probe:
        started = time.perf_counter()
        try:
            result = await check_candidate(member.base_url, timeout=timeout, max_bytes=PROBE_BODY_CAP, egress=egress,
                                           endpoints=member.endpoints)
        except CandidateRefused as exc:
            return Probe(False, round((time.perf_counter() - started) * 1000, 1), str(exc))
        return Probe(True, result.latency_ms, f"{result.path} answered", result.status)

    return probe


def capability_probe(egress_for: Callable[[Member], EgressPolicy]) -> DiscoverFn:
    """The join check's capability calls as a re-check, each member under its own egress policy."""

    async def discover(member: Member, timeout: float) -> list[Finding]:
        return await discover_capabilities(member, timeout=timeout, max_bytes=PROBE_BODY_CAP,
                                           egress=egress_for(member))

    return discover


def adapter_probe(adapter_for: Callable[[Member], MemberAdapter]) -> ProbeFn:
    """A :data:`ProbeFn` asking each member's adapter (e.g. built and pooled by ``gateway.members.factory``)."""

    async def probe(member: Member, timeout: float) -> Probe:
        return await adapter_for(member).probe(timeout)

    return probe


NS_PROBE_LEASES = "gateway.registry.probe_leases"
"""Slot leases of the health probes, one document per member id (:mod:`gateway.store.lease`)."""


@dataclass
class HealthMonitor:
    """Probes active members in the background and answers "is this member healthy?"."""

    store: Store
    repository: RegistryRepository
    config: HealthConfig
    probe: ProbeFn
    clock: Callable[[], float] = time.time
    discover: DiscoverFn | None = None
    """Re-checks what members offer after each probe (``None``: never re-checked)."""
    replica: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    """Who holds a probe lease (recorded in it)."""
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _soon: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)

    # --- readers ---------------------------------------------------------------------------------------

    async def record(self, member_id: str) -> HealthRecord:
        found = await self.store.get(NS_HEALTH, member_id)
        return HealthRecord.from_doc(found.doc) if found else HealthRecord()

    async def is_healthy(self, member_id: str) -> bool:
        """``False`` only for a member known to be unhealthy (unknown counts as healthy)."""
        return (await self.record(member_id)).state != "unhealthy"

    async def unhealthy(self, member_ids: Iterable[str]) -> set[str]:
        """Which of ``member_ids`` are known unhealthy, in one store read (for fan-outs)."""
        found = await self.store.get_many(NS_HEALTH, list(member_ids))
        return {key for key, stored in found.items() if stored.doc.get("state") == "unhealthy"}

    async def states(self, member_ids: Iterable[str]) -> dict[str, str]:
        """The recorded state of each of ``member_ids`` that has one, in one store read (``/_status``)."""
        found = await self.store.get_many(NS_HEALTH, list(member_ids))
        return {key: str(stored.doc.get("state", "unknown")) for key, stored in found.items()}

    async def snapshot(self, member: Member) -> dict[str, Any]:
        """The health route's body."""
        return {
            "member_id": member.id, "status": member.status.value, **(await self.record(member.id)).to_doc(),
            "interval": self.config.interval, "failure_threshold": self.config.failure_threshold,
            "misconfigured": None if member.offers("records") else member.why_not("records"),
            "capabilities": member.capability_view(),
        }

    # --- probing ---------------------------------------------------------------------------------------

    async def probe_member(self, member: Member, slot: int) -> bool:
        """Probe ``member`` if no process has this slot yet; ``True`` when this call probed."""
        if not await claim_slot(self.store, NS_PROBE_LEASES, member.id, slot, holder=self.replica, at=self.clock()):
            return False
        await self._probe_and_record(member)
        return True

    def probe_soon(self, member: Member) -> None:
        """Probe ``member`` now, in the background (e.g. just approved), so its health is known at once
        rather than after up to one interval."""
        task = asyncio.get_running_loop().create_task(self._probe_and_record(member))
        self._soon.add(task)
        task.add_done_callback(self._soon.discard)

    async def _probe_and_record(self, member: Member) -> None:
        try:
            grace = self.config.timeout + min(1.0, self.config.timeout)  # a probe overrunning its own timeout
            async with asyncio.timeout(grace):  # not wait_for: on 3.11 it can swallow a cancel
                probe = await self.probe(member, self.config.timeout)
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            probe = Probe(False, self.config.timeout * 1000, f"no answer within {self.config.timeout:g}s")
        except Exception:  # the detail is public (the health route): the exception goes to the log only
            log.warning("health probe failed", extra={"member_id": member.id}, exc_info=True)
            probe = Probe(False, 0.0, "probe error")
        if self.discover is not None and member.kind != "reference":
            misconfigured = await self._recheck(member)
            if misconfigured is not None:
                probe = Probe(False, probe.latency_ms, f"misconfigured: {misconfigured}", probe.status, probe.info)
        await self._record(member.id, probe)

    async def _recheck(self, member: Member) -> str | None:
        """Ask ``member`` what it offers; write a changed finding to its record. Why its records path is wrong when
        it answered not like indexd/DRS (``None``: fine, or nothing learnt)."""
        assert self.discover is not None
        try:
            async with asyncio.timeout(self.config.timeout + min(1.0, self.config.timeout)):
                findings = await self.discover(member, self.config.timeout)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("capability re-check failed", extra={"member_id": member.id}, exc_info=True)
            return None
        before = member.capabilities or Capabilities(frozenset(CAPABILITIES))  # never checked: all offered
        found = capabilities_from(findings, utc_now(), previous=before)
        if not found.same_as(member.capabilities):
            def change(current: Member) -> Member:
                if current.endpoints != member.endpoints or current.kind != member.kind:
                    return current  # moved meanwhile: the next round checks the new place
                return replace(current, capabilities=found)

            try:
                await self.repository.update(member.id, change, actor=HEALTH_ACTOR, action="capabilities")
            except Exception:  # removed meanwhile, or the store: the next round tries again
                log.info("capabilities not recorded", extra={"member_id": member.id}, exc_info=True)
            else:
                log.info("member capabilities changed", extra={
                    "member_id": member.id, "offers": sorted(found.offers), "missing": dict(found.missing)})
        records = next((f for f in findings if f.capability == "records"), None)
        return records.why if records is not None and records.verdict == "no" else None

    async def record_lie(self, member_id: str, detail: str) -> None:
        """Count against ``member_id`` a record refused because it answered for an id it does not hold under its
        own name (:func:`lied_record`)."""
        await self._update(member_id, lambda prev, at: lied_record(
            prev, detail, at=at, threshold=self.config.failure_threshold, history=self.config.history), detail)

    async def _record(self, member_id: str, probe: Probe) -> None:
        await self._update(member_id, lambda prev, at: next_record(
            prev, probe, at=at, threshold=self.config.failure_threshold, history=self.config.history), probe.detail)

    async def _update(self, member_id: str, change: Callable[[HealthRecord, str], HealthRecord], detail: str) -> None:
        for _ in range(3):
            found = await self.store.get(NS_HEALTH, member_id)
            prev = HealthRecord.from_doc(found.doc) if found else HealthRecord()
            new = change(prev, utc_now())
            try:
                await self.store.put(NS_HEALTH, member_id, new.to_doc(), expect_rev=found.rev if found else ABSENT)
            except Conflict:
                continue
            current().health(member_id, new.state != "unhealthy")
            if new.state != prev.state and new.state != "unknown":
                log.info("member health changed", extra={"member_id": member_id, "state": new.state,
                                                         "detail": detail})
            return

    async def run_once(self, slot: int) -> int:
        """Probe every active member for ``slot``; how many this replica probed."""
        members = await self.repository.members(Status.active)

        async def one(member: Member) -> bool:
            try:
                return await self.probe_member(member, slot)
            except Exception:  # store trouble for one member: log, keep going
                log.warning("health probe not recorded", extra={"member_id": member.id}, exc_info=True)
                return False

        return sum(await gather_bounded([partial(one, m) for m in members], PROBE_CONCURRENCY))

    async def _loop(self) -> None:
        await every_slot(self.config.interval, self.run_once, clock=self.clock, what="health round")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="registry-health")

    async def stop(self) -> None:
        for soon in list(self._soon):
            soon.cancel()
        await asyncio.gather(*self._soon, return_exceptions=True)
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
