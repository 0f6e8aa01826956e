"""The repository on both store backends, two connections at once (as two replicas would): atomic claims
under contention (admitted members created at once, and pending joins approved at once), concurrent updates of one
member, debris left by a crashed writer, pending joins that claim nothing and expire, the version counter."""

from __future__ import annotations

import asyncio
import random
import time
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


def member(mid: str, prefixes: list[str], hostnames: list[str] | None = None, status: Status = Status.active
           ) -> Member:
    """An admitted member by default (as declared ones are created); ``Status.pending`` for a join."""
    return Member(id=mid, name=mid, base_url=f"https://{mid}.example.org", kind="gen3", prefixes=tuple(prefixes),
                  hostnames=tuple(hostnames if hostnames is not None else [f"{mid}.example.org"]), status=status)


async def consistent(repo: RegistryRepository, pool: list[str]) -> dict[str, str]:
    owners: dict[str, str] = {}
    for m in await repo.members():
        if m.status == Status.pending:  # asks, holds nothing
            continue
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
    await b.create(member("b", ["dg.lost"], status=Status.pending), actor="test")
    assert await a.owner("prefix", "dg.lost") == "ghost", "a pending join claims nothing"

    with pytest.raises(InvalidTransition, match="'b' is pending; cannot become suspended"):
        await a.set_status("b", Status.suspended, actor="test", allowed_from={Status.active})
    active = await a.set_status("b", Status.active, actor="test", allowed_from={Status.pending})
    assert active.status == Status.active and active.updated >= active.created
    assert await a.owner("prefix", "dg.lost") == "b", "the approval claimed it, taking the debris over"
    with pytest.raises(RegistryConflict, match=r"dg\.new is already owned by member 'ghost2'"):
        await b.update("b", lambda m: replace(m, prefixes=("dg.new",)), actor="test")
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


async def test_concurrent_approvals_across_replicas(repos):
    """Pending joins ask for overlapping keys; approving them all at once on two replicas leaves exactly one owner
    per key, every loser pending and named a holder, and no claim held for a pending member."""
    await approval_storm(repos)


async def approval_storm(repos: list[RegistryRepository]) -> None:
    """(Also run on the in-process store: ``test_joiners_and_admins``.)"""
    pool = [f"dg.x{i}" for i in range(6)]
    rng = random.Random(11)
    wanted = {f"m{i}": rng.sample(pool, 3) for i in range(20)}
    for mid, prefixes in wanted.items():  # every join is accepted: nothing is claimed yet
        await repos[0].create(member(mid, prefixes, [f"{mid}.example.org", "shared.example.org"], Status.pending),
                              actor="test")
    assert [await repos[1].owner("prefix", p) for p in pool] == [None] * len(pool)

    async def approve(i: int, mid: str) -> str | None:
        try:
            await repos[i % 2].approve(mid, actor="test", accepted_forwarding=False)
            return mid
        except RegistryConflict as exc:
            assert exc.what in ("prefix", "hostname") and exc.owner in wanted, exc
            return None

    approved = {m for m in await asyncio.gather(*(approve(i, mid) for i, mid in enumerate(wanted))) if m}
    assert len(approved) == 1, "every join also asked for shared.example.org: one approval wins"
    owners = await consistent(repos[0], pool)
    assert set(owners.values()) == approved
    assert await repos[1].owner("hostname", "shared.example.org") in approved
    for m in await repos[1].members():
        assert (m.status == Status.active) == (m.id in approved)
    for mid in approved:
        assert await repos[0].owner("hostname", f"{mid}.example.org") == mid
    for mid in set(wanted) - approved:
        assert await repos[0].owner("hostname", f"{mid}.example.org") is None, "a refused approval released all"


async def test_pending_joins_claim_nothing_and_expire_once(repos):
    clock = {"now": time.time()}
    a, b = (RegistryRepository(r.store, pending_ttl=60.0, now=lambda: clock["now"]) for r in repos)
    await a.create(member("owner", ["dg.own"]), actor="test")
    for mid in ("p1", "p2"):  # two pending joins asking for the same prefix, and for one an admitted member owns
        await a.create(member(mid, ["dg.same"], ["same.example.org"], Status.pending), actor="test")
    await b.precheck(member("p3", ["dg.same"], ["same.example.org"], Status.pending))
    with pytest.raises(RegistryConflict, match=r"dg\.own is already owned by member 'owner'"):
        await b.precheck(member("p3", ["dg.own"], status=Status.pending))
    assert await a.owner("prefix", "dg.same") is None

    # a crashed approval's claim for a pending member is debris, once old enough
    await a.store.put(repo_module.NS_PREFIXES, "dg.same", {"member_id": "p1", "at": 0.0})
    await b.precheck(member("p3", ["dg.same"], ["p3.example.org"], Status.pending))
    approved = await b.approve("p2", actor="test", accepted_forwarding=False)
    assert approved.status == Status.active and await a.owner("prefix", "dg.same") == "p2"

    assert a.expires(await a.require("owner")) is None and a.expires(await a.require("p1")) is not None
    clock["now"] += 61
    got = await asyncio.gather(a.get("p1"), b.get("p1"), a.members(), b.members())
    assert got[0] is None and got[1] is None
    assert [m.id for m in got[2]] == [m.id for m in got[3]] == ["owner", "p2"], "admitted members never expire"
    expired = [e.doc for e in await a.audit(limit=100) if e.doc["action"] == "expired"]
    assert [(e["actor"], e["member_id"]) for e in expired] == [("expiry", "p1")], "removed exactly once"
    with pytest.raises(MemberNotFound):
        await a.approve("p1", actor="test", accepted_forwarding=False)
    await b.create(member("p1", ["dg.other"], status=Status.pending), actor="test")
