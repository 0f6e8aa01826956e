"""A store whose backend does not answer raises ``StoreUnavailable`` (never a backend exception), and the web edge
answers it 503 with ``Retry-After`` in the route family's shape. The faults are real: a SQLite file another
connection holds locked past the busy timeout; a Redis port nothing listens on."""

from __future__ import annotations

import sqlite3

import pytest
from servers import free_port, start_gateway

from gateway.store import StoreUnavailable, open_store
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SqliteStore
from gateway.web.keys import STATE


async def test_a_sqlite_database_locked_past_the_busy_timeout_is_unavailable(tmp_path):
    path = tmp_path / "locked.sqlite3"
    store = await SqliteStore.open(path, busy_timeout_ms=50)
    holder = sqlite3.connect(path)
    try:
        await store.put("ns", "k", {"v": 1})
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable, match="SQLite store did not answer") as caught:
            await store.put("ns", "k", {"v": 2})
        assert str(path) not in str(caught.value)
        holder.rollback()
        assert (await store.get("ns", "k")).doc == {"v": 1}  # type: ignore[union-attr]
    finally:
        holder.close()
        await store.close()


async def test_a_redis_store_whose_server_is_gone_is_unavailable(own_redis):
    store = await open_store(own_redis.url, key_prefix="u:", timeout=0.5)
    assert isinstance(store, RedisStore)
    try:
        own_redis.kill()
        for call in (store.get("ns", "k"), store.put("ns", "k", {}), store.scan("ns"), store.append("log", {}),
                     store.read_log("log"), store.count("ns"), store.get_many("ns", ["k"]), store.delete("ns", "k")):
            with pytest.raises(StoreUnavailable, match="Redis store did not answer") as caught:
                await call
            assert str(own_redis.port) not in str(caught.value)
        assert await store.ping() is False
    finally:
        await store.close()


async def test_the_web_edge_answers_a_locked_store_503_with_retry_after(tmp_path):
    gw = await start_gateway(
        port=free_port(), store={"url": f"sqlite:///{tmp_path / 'gw.sqlite3'}", "retry_after": 7},
        refcommons={"enabled": False}, admin_token="edge-admin",
    )
    store = gw.app[STATE].store
    assert isinstance(store, SqliteStore)
    holder = sqlite3.connect(tmp_path / "gw.sqlite3")
    try:
        await store._db.execute("PRAGMA busy_timeout = 50")
        holder.execute("BEGIN EXCLUSIVE")
        r = await gw.client.post("/registry/v1/admins", json={"name": "ops"},
                                 headers={"Authorization": "Bearer edge-admin"})  # a write: WAL lets reads through
        assert r.status_code == 503 and r.headers["retry-after"] == "7", r.text
        assert r.json() == {"error": "the gateway's store is unavailable; retry later", "status_code": 503}
    finally:
        holder.rollback()
        holder.close()
        await gw.stop()
