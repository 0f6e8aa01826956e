"""The federation page (``/federation``): every member, its prefixes, its status and its health as the prober
records it (state, consecutive failures, last success and failure, the last probe's latency, the recent failures
with their times).

A thin client of what ``GET /registry/v1/commons`` and ``GET /registry/v1/commons/{id}/health`` read: the
registry's repository (:meth:`~gateway.registry.repository.RegistryRepository.members`) and the health monitor's
records (:meth:`~gateway.registry.health.HealthMonitor.record`), one store read per member, concurrently.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from gateway.core.member import Member
from gateway.registry.health import HealthMonitor, HealthRecord
from gateway.registry.repository import RegistryRepository


@dataclass(frozen=True)
class MemberRow:
    id: str
    name: str
    kind: str
    status: str
    prefixes: tuple[str, ...]
    hostnames: tuple[str, ...]
    health: HealthRecord

    @property
    def latency_text(self) -> str:
        latency = self.health.latency_ms
        return "not measured yet" if latency is None else f"{latency:.0f} ms"

    @property
    def failures(self) -> list[tuple[str, str]]:
        """``(when, what)`` of the recent failures, newest first."""
        return [(str(f.get("at", "")), str(f.get("detail", ""))) for f in reversed(self.health.recent_failures)]


@dataclass(frozen=True)
class FederationView:
    members: list[MemberRow]
    interval: float
    failure_threshold: int

    def count(self, state: str) -> int:
        return sum(1 for m in self.members if m.health.state == state and m.status == "active")


def member_row(member: Member, health: HealthRecord) -> MemberRow:
    return MemberRow(member.id, member.name or member.id, str(member.kind), member.status.value,
                     tuple(member.prefixes), tuple(member.hostnames), health)


async def federation_view(repository: RegistryRepository, health: HealthMonitor) -> FederationView:
    members = await repository.members()
    records = await asyncio.gather(*(health.record(m.id) for m in members))
    return FederationView([member_row(m, h) for m, h in zip(members, records, strict=True)],
                          health.config.interval, health.config.failure_threshold)
