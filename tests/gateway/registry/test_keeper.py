"""The declarations' keeper over a real store and cache: one replica per round re-creates what is missing (the
lease), a double write is harmless anyway (create-only), and nothing existing is ever rewritten."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from gateway.cache import open_cache
from gateway.registry.config_members import declared_members, load_config_members
from gateway.registry.keeper import DeclarationKeeper
from gateway.registry.repository import RegistryRepository
from gateway.settings.gateway import Settings
from gateway.store import open_store

SETTINGS = Settings(refcommons={"enabled": False}, registry={"members": [
    {"id": "a", "name": "A", "base_url": "https://a.example.org", "prefixes": ["dg.a"]},
    {"id": "b", "name": "B", "base_url": "https://b.example.org", "prefixes": ["dg.b"]},
]})


async def _opened(tmp_path, shared_cache: bool):
    store = await open_store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    caches = [await open_cache("memory://")]
    caches.append(caches[0] if shared_cache else await open_cache("memory://"))
    repo = RegistryRepository(store)
    await load_config_members(repo, SETTINGS)
    keepers = [DeclarationKeeper(RegistryRepository(store), declared_members(SETTINGS), 1.0) for c in caches]
    return store, caches, repo, keepers


async def _creates(repo: RegistryRepository) -> int:
    return sum(1 for e in await repo.audit(limit=1000) if e.doc["action"] == "create")


async def test_one_replica_per_round_recreates_the_missing(tmp_path):
    store, caches, repo, keepers = await _opened(tmp_path, shared_cache=True)
    try:
        await repo.remove("a", actor="test")
        created = await asyncio.gather(*(k.run_once(7) for k in keepers))
        assert sorted(created, key=len) == [[], ["a"]]  # the lease: one writer
        assert await _creates(repo) == 3
        assert (await keepers[0].check()).text() == "ok"
    finally:
        for c in set(caches):
            await c.close()
        await store.close()


async def test_without_the_lease_the_create_only_write_makes_a_double_write_harmless(tmp_path):
    store, caches, repo, keepers = await _opened(tmp_path, shared_cache=False)
    try:
        await repo.remove("a", actor="test")
        await repo.remove("b", actor="test")
        created = await asyncio.gather(*(k.reassert_now() for k in keepers))  # no lease: both write
        assert sorted(m for c in created for m in c) == ["a", "b"]  # each created exactly once
        assert await _creates(repo) == 4
    finally:
        for c in caches:
            await c.close()
        await store.close()


async def test_a_differing_record_is_never_rewritten(tmp_path):
    store, caches, repo, keepers = await _opened(tmp_path, shared_cache=True)
    try:
        await repo.update("a", lambda m: replace(m, base_url="https://moved.example.org"), actor="config")
        version = await repo.version()
        for slot in range(5):
            assert await keepers[slot % 2].run_once(slot) == []
        assert await repo.version() == version
        assert (await keepers[0].check()).text() == "diverged: a"
    finally:
        await caches[0].close()
        await store.close()
