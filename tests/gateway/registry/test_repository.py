"""The repository on both store backends, two connections at once (as two replicas would): atomic claims
under contention, concurrent updates of one member, debris left by a crashed writer, the version counter."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace

import pytest
from registry_kit import BOTH_BACKENDS

from gateway.core.member import Member, Status
from gateway.registry import repository as repo_module
from gateway.registry.repository import InvalidTransition, MemberNotFound, RegistryConflict, RegistryRepository
from gateway.store import open_store

pytestmark = pytest.mark.parametrize("backend", BOTH_BACKENDS, indirect=True)


@pytest.fixture
async def repos(backend):
    stores = [await open_store(backend["store"]["url"], key_prefix=backend["store"].get("key_prefix", "gw:"))
              for _ in range(2)]
    yield [RegistryRepository(s) for s in stores]
    for s in stores:
        await s.close()


def member(mid: str, prefixes: list[str], hostnames: list[str] | None = None) -> Member:
    return Member(id=mid, name=mid, base_url=f"https://{mid}.example.org", kind="gen3", prefixes=tuple(prefixes),
                  hostnames=tuple(hostnames if hostnames is not None else [f"{mid}.example.org"]))


async def consistent(repo: RegistryRepository, pool: list[str]) -> dict[str, str]:
    owners: dict[str, str] = {}
    for m in await repo.members():
        for p in m.prefixes:
            assert p not in owners, f"{p}: {owners[p]} and {m.id}"
            owners[p] = m.id
        for h in m.hostnames:
            assert await repo.owner("hostname", h) == m.id
    for p in pool:
        assert await repo.owner("prefix", p) == owners.get(p), p
    return owners


async def test_concurrent_creates_across_replicas(repos):
    pool = [f"dg.x{i}" for i in range(6)]
    rng = random.Random(5)
    wanted = {f"m{i}": rng.sample(pool, 3) for i in range(20)}

    async def create(i: int, mid: str) -> str | None:
        try:
            await repos[i % 2].create(member(mid, wanted[mid]), actor="test")
            return mid
        except RegistryConflict as exc:
            assert exc.what == "prefix" and exc.owner, exc
            return None

    created = {m for m in await asyncio.gather(*(create(i, mid) for i, mid in enumerate(wanted))) if m}
    assert created, "someone wins"
    owners = await consistent(repos[0], pool)
    assert {m.id for m in await repos[1].members()} == created
    assert set(owners.values()) == created
    assert len(await repos[0].audit(limit=100)) == len(created)
    assert await repos[0].version() == len(created)
    # the same id twice: one record
    results = await asyncio.gather(*(r.create(member("twin", [f"dg.t{i}"], [f"t{i}.org"]), actor="test")
                                     for i, r in enumerate(repos * 3)), return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 1
    twin = await repos[0].get("twin")
    await consistent(repos[0], [*pool, *(f"dg.t{i}" for i in range(6))])
    assert len(twin.prefixes) == 1


async def test_concurrent_updates_of_one_member_stay_consistent(repos):
    await repos[0].create(member("m", ["dg.base"]), actor="test")
    pool = ["dg.base", *(f"dg.u{i}" for i in range(10))]

    async def add(i: int) -> None:
        def change(m: Member) -> Member:
            return replace(m, prefixes=(*m.prefixes, f"dg.u{i}"))
        await repos[i % 2].update("m", change, actor="test")

    await asyncio.gather(*(add(i) for i in range(10)))
    final = await repos[1].get("m")
    assert sorted(final.prefixes) == sorted(pool), "no update lost"
    await consistent(repos[0], pool)

    async def drop_and_move(i: int) -> None:
        keep = [p for p in pool if not p.endswith(str(i))]
        await repos[i % 2].update("m", lambda m: replace(m, prefixes=tuple(keep)), actor="test")

    await asyncio.gather(*(drop_and_move(i) for i in range(3)))
    await consistent(repos[0], pool)


async def test_claims_and_lifecycle(repos, monkeypatch):
    a, b = repos
    await a.create(member("a", ["dg.a1", "dg.a2"]), actor="test")
    with pytest.raises(RegistryConflict, match=r"prefix dg\.a2 is already owned by member 'a'"):
        await b.create(member("b", ["dg.b1", "dg.a2"]), actor="test")
    assert await a.owner("prefix", "dg.b1") is None, "a refused create releases what it claimed"
    assert await b.get("b") is None

    # a writer that crashed after claiming: its claim blocks until it is old enough to be debris
    await a.store.put(repo_module.NS_PREFIXES, "dg.lost", {"member_id": "ghost", "at": 0.0})
    await a.store.put(repo_module.NS_PREFIXES, "dg.new", {"member_id": "ghost2", "at": 4e9})
    await b.create(member("b", ["dg.lost"]), actor="test")
    assert await a.owner("prefix", "dg.lost") == "b"
    with pytest.raises(RegistryConflict, match=r"dg\.new is already owned by member 'ghost2'"):
        await b.update("b", lambda m: replace(m, prefixes=("dg.new",)), actor="test")

    with pytest.raises(InvalidTransition, match="'b' is pending; cannot become suspended"):
        await a.set_status("b", Status.suspended, actor="test", allowed_from={Status.active})
    active = await a.set_status("b", Status.active, actor="test", allowed_from={Status.pending})
    assert active.status == Status.active and active.updated >= active.created
    same = await b.set_status("b", Status.active, actor="test", allowed_from={Status.pending})
    assert same == active
    version = await a.version()
    await a.remove("b", actor="test")
    assert await a.version() == version + 1
    assert await a.owner("prefix", "dg.lost") is None
    with pytest.raises(MemberNotFound):
        await b.remove("b", actor="test")
    with pytest.raises(MemberNotFound):
        await b.update("b", lambda m: m, actor="test")
    assert [e.doc["action"] for e in await a.audit()] == ["create", "create", "active", "remove"]
