"""Durability and concurrency on both store backends: registrations survive a restart, and concurrent approvals
of overlapping joins (on one gateway, and on two replicas sharing a store) never lose or duplicate an owner (the
joins themselves only ask: they never conflict)."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from registry_kit import ADMIN, BOTH_BACKENDS, join_body

from gateway.core.member import Status
from gateway.web.keys import REGISTRY

pytestmark = pytest.mark.parametrize("backend", BOTH_BACKENDS, indirect=True)


async def test_registrations_survive_a_restart(gateway_at, base_settings, commons, commons_factory):
    other = await commons_factory("dg.TST2")
    async with gateway_at(**base_settings) as gw:
        assert (await gw.client.post("/registry/v1/commons",
                                     json=join_body(commons.base_url, "Durable", ["dg.dur1"]))).status_code == 201
        await gw.client.post("/registry/v1/commons/durable/approve", headers=ADMIN)
        before = (await gw.client.get("/registry/v1/commons/durable")).json()
        version = (await gw.client.get("/registry/v1/commons")).json()["version"]
    async with gateway_at(**base_settings) as gw:
        assert (await gw.client.get("/registry/v1/commons/durable")).json() == before
        assert before["status"] == "active"
        assert [s["id"] for s in (await gw.client.get("/services")).json()] == ["durable"]
        assert (await gw.client.get("/registry/v1/commons")).json()["version"] == version
        r = await gw.client.post("/registry/v1/commons", json=join_body(other.base_url, "Late", ["dg.DUR1"]))
        assert r.status_code == 409 and "owned by member 'durable'" in r.json()["error"]
        audit = (await gw.client.get("/registry/v1/audit", headers=ADMIN)).json()["entries"]
        assert [e["action"] for e in audit] == ["create", "active"]


def _patient(settings: dict) -> dict:
    """Twenty joins at once check one commons with every call the adapter makes (status, records, bulk, fence…): on
    a loaded machine that outlasts the registry tests' short join deadline. These tests are about claims, not time."""
    return {**settings, "registry": {**settings["registry"], "join_probe_timeout": 15.0}}


async def _storm(clients, bodies):
    results = await asyncio.gather(*(clients[i % len(clients)].post("/registry/v1/commons", json=body)
                                     for i, body in enumerate(bodies)))
    return [r.status_code for r in results], [r.json() for r in results]


async def _approve_all(clients, ids):
    results = await asyncio.gather(*(clients[i % len(clients)].post(f"/registry/v1/commons/{mid}/approve",
                                                                     headers=ADMIN)
                                     for i, mid in enumerate(ids)))
    return [r.status_code for r in results], [r.json() for r in results]


async def _check_ownership(registry, pool: list[str]) -> dict[str, str]:
    """Every admitted member's keys are claimed by it, and no claim lacks an admitted member listing it (pending
    joins only ask): {prefix: owner}."""
    members = [m for m in await registry.repository.members() if m.status != Status.pending]
    owners: dict[str, str] = {}
    for member in members:
        for prefix in member.prefixes:
            assert prefix not in owners, f"{prefix} owned by {owners[prefix]} and {member.id}"
            owners[prefix] = member.id
    for prefix in pool:
        assert await registry.repository.owner("prefix", prefix) == owners.get(prefix), prefix
    for member in members:
        for host in member.hostnames:
            assert await registry.repository.owner("hostname", host) == member.id
    return owners


@pytest.mark.parametrize("replicas", [1, 2])
async def test_concurrent_overlapping_approvals_have_exactly_one_owner(gateway_at, base_settings, commons, replicas):
    pool = [f"dg.p{i}" for i in range(7)] + [f"dg.q{i}" for i in range(5)]
    bodies = [join_body(commons.base_url, f"Join {i}", [f"dg.p{i % 7}", f"dg.q{i % 5}"],
                        hostnames=[f"h{i}.example.org"]) for i in range(20)]
    async with AsyncExitStack() as stack:
        gateways = [await stack.enter_async_context(gateway_at(**_patient(base_settings))) for _ in range(replicas)]
        clients = [g.client for g in gateways]
        statuses, answers = await _storm(clients, bodies)
        assert statuses == [201] * 20, "overlapping pending joins never conflict: they only ask"
        ids = [a["id"] for a in answers]
        statuses, answers = await _approve_all(clients, ids)
        assert set(statuses) <= {200, 409}, answers
        assert statuses.count(200) >= 1
        for status, answer in zip(statuses, answers):
            if status == 409:
                assert "is already owned by member" in answer["error"] or "being" in answer["error"], answer
        registry = gateways[0].app[REGISTRY]
        owners = await _check_ownership(registry, pool)
        approved = {mid for mid, s in zip(ids, statuses) if s == 200}
        members = await registry.repository.members()
        assert {m.id for m in members} == set(ids), "none lost, none extra"
        assert {m.id for m in members if m.status == Status.active} == approved
        assert len(await registry.repository.audit(limit=1000)) == len(ids) + len(approved)

        # nothing leaked: each refused approval now succeeds exactly when its prefixes are free
        for i, status in enumerate(statuses):
            if status == 200:
                continue
            free = not any(p in owners for p in bodies[i]["prefixes"])
            r = await clients[-1].post(f"/registry/v1/commons/{ids[i]}/approve", headers=ADMIN)
            assert r.status_code == (200 if free else 409), (bodies[i], r.text)
            if free:
                owners.update(dict.fromkeys(bodies[i]["prefixes"], ids[i]))
        await _check_ownership(registry, pool)


async def test_twenty_approvals_for_one_prefix_make_one_owner(gateway_at, base_settings, commons):
    bodies = [join_body(commons.base_url, f"Same {i}", ["dg.same"], hostnames=[f"s{i}.example.org"])
              for i in range(20)]
    async with gateway_at(**_patient(base_settings)) as a, gateway_at(**_patient(base_settings)) as b:
        statuses, answers = await _storm([a.client, b.client], bodies)
        assert statuses == [201] * 20, answers
        ids = [answer["id"] for answer in answers]
        statuses, answers = await _approve_all([a.client, b.client], ids)
        assert statuses.count(200) == 1 and statuses.count(409) == 19, answers
        winner = ids[statuses.index(200)]
        assert await a.app[REGISTRY].repository.owner("prefix", "dg.same") == winner
        listed = (await b.client.get("/registry/v1/commons", params={"status": "active"})).json()["commons"]
        assert [m["id"] for m in listed] == [winner]
        for i, answer in enumerate(answers):
            if statuses[i] == 409:
                assert answer["error"] == f"prefix dg.same is already owned by member {winner!r}"
                assert await a.app[REGISTRY].repository.owner("hostname", f"s{i}.example.org") is None
