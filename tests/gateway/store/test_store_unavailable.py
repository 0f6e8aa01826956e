"""A store whose backend does not answer raises ``StoreUnavailable`` (never a backend exception), and the web edge
answers it 503 with ``Retry-After`` in the route family's shape. The faults are real: a SQLite file another
connection holds locked past the busy timeout; a Redis port nothing listens on; a PostgreSQL port nothing listens on,
a PostgreSQL database dropped under the store, its server connections terminated (``pg_terminate_backend``)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator

import pytest
from postgres_db import admin_sql, database_url, new_database_name
from servers import free_port, start_gateway

from gateway.store import StoreError, StoreUnavailable, open_store
from gateway.store.postgres import PostgresStore
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


# --- PostgreSQL ---------------------------------------------------------------------------------------------------


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    """A database of this test's own on the test server (dropped, if still there, at the end)."""
    name = new_database_name()
    await admin_sql(f'CREATE DATABASE "{name}"')
    yield database_url(name)
    await admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _calls(store):
    return (store.get("ns", "k"), store.put("ns", "k", {}), store.scan("ns"), store.append("log", {}),
            store.read_log("log"), store.count("ns"), store.get_many("ns", ["k"]), store.delete("ns", "k"))


async def test_an_unreachable_postgres_fails_fast_without_its_password():
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"127\.0\.0\.1:1") as caught:
        await open_store("postgresql://gw:s3cret@127.0.0.1:1/gw", timeout=1.0)
    assert time.monotonic() - started < 3 and "s3cret" not in str(caught.value)


async def test_a_postgres_store_whose_database_is_dropped_is_unavailable_within_its_timeout(own_database):
    store = await open_store(own_database, timeout=1.0)
    assert isinstance(store, PostgresStore)
    try:
        await store.put("ns", "k", {"v": 1})
        await admin_sql(f'DROP DATABASE "{own_database.rsplit("/", 1)[1]}" WITH (FORCE)')
        for call in _calls(store):
            started = time.monotonic()
            with pytest.raises(StoreUnavailable, match="PostgreSQL store did not answer") as caught:
                await call
            assert time.monotonic() - started < 2.5
            assert "5432" not in str(caught.value) and "gateway_test" not in str(caught.value)
        assert await store.ping() is False
    finally:
        await store.close()


async def test_a_postgres_store_whose_connections_are_terminated_fails_503_style_then_recovers(own_database):
    store = await open_store(own_database, timeout=1.0, pool_size=4)
    assert isinstance(store, PostgresStore)
    try:
        await asyncio.gather(*(store.put("ns", f"k{i}", {"v": i}) for i in range(8)))  # several pooled connections
        name = own_database.rsplit("/", 1)[1]
        await admin_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        failures = 0
        for _ in range(10):  # each call either fails as unavailable or is served: never another error
            try:
                assert await store.get("ns", "k3") is not None
            except StoreUnavailable:
                failures += 1
        assert failures <= 4  # at most once per pooled connection; then the pool has reconnected by itself
        assert [s.doc["v"] for s in await store.scan("ns")] == list(range(8))
        assert await store.ping() is True
    finally:
        await store.close()


async def test_the_web_edge_answers_a_dropped_postgres_database_503_with_retry_after(own_database):
    gw = await start_gateway(
        port=free_port(), store={"url": own_database, "retry_after": 3, "timeout": 1.0},
        refcommons={"enabled": False}, admin_token="edge-admin",
    )
    try:
        assert (await gw.client.get("/registry/v1/commons")).status_code == 200
        await admin_sql(f'DROP DATABASE "{own_database.rsplit("/", 1)[1]}" WITH (FORCE)')
        for r in (await gw.client.get("/registry/v1/commons"),
                  await gw.client.post("/registry/v1/admins", json={"name": "ops"},
                                       headers={"Authorization": "Bearer edge-admin"})):
            assert r.status_code == 503 and r.headers["retry-after"] == "3", r.text
            assert "5432" not in r.text and "gateway_test" not in r.text
    finally:
        await gw.stop()


async def test_a_gateway_whose_postgres_restarts_answers_503_fast_then_recovers_without_a_restart(own_postgres):
    """PostgreSQL crashes under a running gateway and comes back on the same port: meanwhile the routes that need
    the store answer 503 with ``Retry-After`` within ``store.timeout`` (never a 500); afterwards they answer 200
    again, the gateway untouched, what was stored before still there."""
    await admin_sql('CREATE DATABASE "gw"', own_postgres.url)
    url = own_postgres.url.rsplit("/", 1)[0] + "/gw"
    gw = await start_gateway(
        port=free_port(), store={"url": url, "retry_after": 2, "timeout": 1.0},
        refcommons={"enabled": False}, admin_token="pg-admin",
    )
    admin = {"Authorization": "Bearer pg-admin"}
    try:
        assert (await gw.client.post("/registry/v1/admins", json={"name": "before"}, headers=admin)).status_code \
            in (200, 201)
        own_postgres.stop()
        for _ in range(3):
            started = time.monotonic()
            answers = await asyncio.gather(gw.client.get("/registry/v1/commons"),
                                           gw.client.get("/registry/v1/admins", headers=admin))
            assert time.monotonic() - started < 3
            for r in answers:
                assert r.status_code == 503 and r.headers["retry-after"] == "2", r.text
        own_postgres.start()
        deadline = time.monotonic() + 10
        while (r := await gw.client.get("/registry/v1/admins", headers=admin)).status_code != 200:
            assert r.status_code == 503 and time.monotonic() < deadline, r.text
            await asyncio.sleep(0.1)
        assert "before" in r.text
        assert (await gw.client.get("/registry/v1/commons")).status_code == 200
    finally:
        await gw.stop()


async def test_a_postgres_database_without_the_store_tables_is_unavailable_not_a_bug(own_database):
    """A database recreated or restored without the store's tables (under a running gateway, which migrated it at
    start) makes the store unavailable — 503, until ``gateway db migrate`` or a restart — never a 500."""
    store = await open_store(own_database, timeout=1.0)
    try:
        await admin_sql("DROP TABLE documents, logs", own_database)
        for call in _calls(store):
            with pytest.raises(StoreUnavailable, match="PostgreSQL store did not answer"):
                await call
    finally:
        await store.close()


async def test_a_hung_postgres_fails_each_call_within_the_store_timeout_then_recovers(own_postgres):
    """Every process of the server stopped (SIGSTOP): connections stay open and nothing answers, so only the
    store's own bound ends a call. Each fails as unavailable within ``timeout`` (plus scheduling slack); once the
    server runs again, the store serves again."""
    store = await open_store(own_postgres.url, timeout=0.5, pool_size=2)
    try:
        await store.put("ns", "k", {"v": 1})
        own_postgres.pause()
        try:
            for call in (store.get("ns", "k"), store.put("ns", "k", {"v": 2}), store.append("log", {})):
                started = time.monotonic()
                with pytest.raises(StoreUnavailable, match="PostgreSQL store did not answer"):
                    await call
                assert time.monotonic() - started < 1.5
        finally:
            own_postgres.resume()
        deadline = time.monotonic() + 10
        while True:
            try:
                got = await store.get("ns", "k")
                break
            except StoreUnavailable:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
        assert got is not None and got.doc in ({"v": 1}, {"v": 2})  # the timed-out put's effect is unknown
    finally:
        await store.close()
