"""The health prober: the state machine (pure), one probe per member per interval across replicas, a loop
that survives failing probes and stops promptly, and end to end a member stopped and restarted."""

from __future__ import annotations

import asyncio
import time

import pytest
from registry_kit import ADMIN, eventually, join_body

from gateway.cache import open_cache
from gateway.core.member import Member, Status
from gateway.core.records import Probe
from gateway.registry.health import HealthMonitor, HealthRecord, next_record
from gateway.registry.repository import RegistryRepository
from gateway.settings.sections import HealthConfig
from gateway.store import open_store

OK = Probe(True, 12.5)
DOWN = Probe(False, 0.0, "connection refused")


def test_state_machine():
    rec = HealthRecord()
    assert rec.state == "unknown"
    rec = next_record(rec, DOWN, at="t1", threshold=2, history=2)
    assert (rec.state, rec.consecutive_failures, rec.last_failure) == ("unknown", 1, "t1")
    rec = next_record(rec, DOWN, at="t2", threshold=2, history=2)
    assert (rec.state, rec.consecutive_failures) == ("unhealthy", 2)
    rec = next_record(rec, DOWN, at="t3", threshold=2, history=2)
    assert [f["at"] for f in rec.recent_failures] == ["t2", "t3"], "history is bounded"
    rec = next_record(rec, OK, at="t4", threshold=2, history=2)
    assert (rec.state, rec.consecutive_failures, rec.last_success, rec.latency_ms) == ("healthy", 0, "t4", 12.5)
    assert rec.last_failure == "t3" and len(rec.recent_failures) == 2
    rec = next_record(rec, DOWN, at="t5", threshold=2, history=2)
    assert rec.state == "healthy", "one failure below the threshold keeps a healthy member healthy"
    assert HealthRecord.from_doc(rec.to_doc()) == rec


def _member(i: int) -> Member:
    return Member(id=f"m{i}", name=f"M{i}", base_url=f"http://127.0.0.1:{i}", kind="gen3", prefixes=(f"dg.m{i}",),
                  hostnames=(f"m{i}.example.org",), status=Status.active)


@pytest.fixture
async def parts():
    store = await open_store("sqlite://:memory:")
    cache = await open_cache("memory://")
    repo = RegistryRepository(store)
    for i in range(1, 6):
        await repo.create(_member(i), actor="test")
    await repo.create(Member(id="pending", name="P", base_url="http://127.0.0.1:9", kind="drs", prefixes=(),
                             hostnames=()), actor="test")
    yield store, cache, repo
    await cache.close()
    await store.close()


async def test_one_replica_probes_each_member_per_interval(parts):
    store, _cache, repo = parts
    calls: list[str] = []

    async def probe(member: Member, timeout: float) -> Probe:
        calls.append(member.id)
        return OK

    config = HealthConfig(interval=10, timeout=1)
    replicas = [HealthMonitor(store, repo, config, probe) for _ in range(3)]
    counts = await asyncio.gather(*(r.run_once(slot=7) for r in replicas))
    assert sum(counts) == 5 and sorted(calls) == [f"m{i}" for i in range(1, 6)], "pending members are not probed"
    assert sum(await asyncio.gather(*(r.run_once(slot=7) for r in replicas))) == 0
    assert sum(await asyncio.gather(*(r.run_once(slot=8) for r in replicas))) == 5
    assert (await replicas[0].record("m1")).state == "healthy"
    assert (await replicas[0].record("pending")).state == "unknown"


async def test_probe_errors_and_hangs_never_break_the_loop(parts):
    store, _cache, repo = parts

    async def probe(member: Member, timeout: float) -> Probe:
        if member.id == "m1":
            raise RuntimeError("adapter exploded")
        if member.id == "m2":
            await asyncio.sleep(3600)
        return DOWN

    monitor = HealthMonitor(store, repo, HealthConfig(interval=0.05, timeout=0.05, failure_threshold=2), probe)
    monitor.start()
    try:
        async def all_unhealthy() -> bool:
            return await monitor.unhealthy([f"m{i}" for i in range(1, 6)]) == {f"m{i}" for i in range(1, 6)}

        await eventually(all_unhealthy, timeout=5)
    finally:
        started = time.monotonic()
        await monitor.stop()
        assert time.monotonic() - started < 0.5, "stopping cancels the loop promptly"
    m1, m2 = await monitor.record("m1"), await monitor.record("m2")
    assert m1.recent_failures[-1]["detail"] == "probe error"  # public (the health route): the exception is logged
    assert m2.recent_failures[-1]["detail"] == "no answer within 0.05s"
    assert not await monitor.is_healthy("m3")
    assert await monitor.is_healthy("pending") and await monitor.is_healthy("no-such-member")


async def test_a_stopped_member_turns_unhealthy_and_recovers(gateway_at, base_settings, commons_factory):
    candidate = await commons_factory("dg.HLT1")
    settings = {**base_settings, "health": {"interval": 0.05, "timeout": 0.5, "failure_threshold": 3, "history": 4}}
    async with gateway_at(**settings) as gw:
        c = gw.client
        joined = await c.post("/registry/v1/commons", json=join_body(candidate.base_url, "H", ["dg.hlt1"]))
        assert joined.status_code == 201
        await asyncio.sleep(0.2)
        assert (await c.get("/registry/v1/commons/h/health")).json()["state"] == "unknown", "pending: not probed"
        await c.post("/registry/v1/commons/h/approve", headers=ADMIN)

        async def state(wanted: str) -> bool:
            return (await c.get("/registry/v1/commons/h/health")).json()["state"] == wanted

        await eventually(lambda: state("healthy"))
        health = (await c.get("/registry/v1/commons/h/health")).json()
        assert health["member_id"] == "h" and health["status"] == "active" and health["latency_ms"] > 0
        assert health["last_success"] and health["failure_threshold"] == 3 and health["interval"] == 0.05

        await candidate.stop()
        await eventually(lambda: state("unhealthy"))
        health = (await c.get("/registry/v1/commons/h/health")).json()
        assert health["consecutive_failures"] >= 3
        assert 3 <= len(health["recent_failures"]) <= 4
        assert all(f["detail"] and f["at"] for f in health["recent_failures"])  # wording: the probe's

        await commons_factory("dg.HLT1", port=candidate.port)
        await eventually(lambda: state("healthy"))
        health = (await c.get("/registry/v1/commons/h/health")).json()
        assert health["consecutive_failures"] == 0 and health["last_failure"] < health["last_success"]
        assert (await c.get("/registry/v1/commons/nope/health")).status_code == 404
        leaving = time.monotonic()
    assert time.monotonic() - leaving < 2, "the app's cleanup cancels the prober promptly"
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "registry-health"]


async def test_an_approved_member_is_probed_at_once(gateway_at, base_settings, commons):
    """With a one-hour interval, the health of a newly approved member is still known within a second."""
    settings = {**base_settings, "health": {"interval": 3600, "timeout": 1.0}}
    async with gateway_at(**settings) as gw:
        c = gw.client
        joined = await c.post("/registry/v1/commons", json=join_body(commons.base_url, "Soon", ["dg.soon"]))
        assert joined.status_code == 201, joined.text
        member_id = joined.json()["id"]
        assert (await c.post(f"/registry/v1/commons/{member_id}/approve", headers=ADMIN)).status_code == 200
        for _ in range(50):
            health = (await c.get(f"/registry/v1/commons/{member_id}/health")).json()
            if health["state"] != "unknown":
                break
            await asyncio.sleep(0.02)
        assert health["state"] == "healthy" and health["last_success"]
