"""Expired admin sessions leave the store even when no browser ever presents them again: the sweep of
gateway.portal.admin (run by every replica every SWEEP_INTERVAL) deletes exactly the expired ones, on a real store."""

from __future__ import annotations

import asyncio
import time

import pytest
from servers import start_gateway

from gateway.portal import admin
from gateway.store import open_store
from gateway.web.keys import REGISTRY


@pytest.fixture
async def store(tmp_path):
    opened = await open_store(f"sqlite:///{tmp_path / 'sessions.sqlite3'}")
    yield opened
    await opened.close()


async def test_the_sweep_deletes_the_expired_sessions_only(store):
    now = time.time()
    for i in range(250):  # more than one page of the scan
        await store.put(admin.NS_SESSIONS, f"old{i:03d}", {"admin": "a", "credential": "c", "expires": now - 1})
    for i in range(3):
        await store.put(admin.NS_SESSIONS, f"new{i}", {"admin": "a", "credential": "c", "expires": now + 60})
    await store.put(admin.NS_SESSIONS, "odd", {"admin": "a"})  # no expiry: not a session that can be used
    assert await admin.sweep_expired(store, now) == 251
    left = [s.key for s in await store.scan(admin.NS_SESSIONS, limit=1000)]
    assert left == ["new0", "new1", "new2"]
    assert await admin.sweep_expired(store, now) == 0


async def test_a_gateway_sweeps_by_itself(tmp_path, monkeypatch):
    monkeypatch.setattr(admin, "SWEEP_INTERVAL", 0.05)
    gateway = await start_gateway(store={"url": f"sqlite:///{tmp_path / 'gw.sqlite3'}"}, refcommons={"enabled": False},
                                  health={"interval": 3600.0}, aggregate={"harvest": {"enabled": False}},
                                  admin_token="sweep-admin-token-0123456789")
    try:
        shared = gateway.app[REGISTRY].repository.store
        await shared.put(admin.NS_SESSIONS, "gone", {"admin": "bootstrap", "credential": "c", "expires": 1.0})
        deadline = time.monotonic() + 5
        while await shared.get(admin.NS_SESSIONS, "gone") is not None:
            assert time.monotonic() < deadline, "the expired session was never swept"
            await asyncio.sleep(0.05)
    finally:
        await gateway.stop()
