"""The PostgreSQL store's versioned schema: migrated when a gateway opens a database that is older (one instance at a
time, under the advisory lock, others waiting), refused when newer, and migrated by hand with ``gateway db migrate``
when ``store.migrate_on_start`` is off. Each test has a database of its own on the test server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from postgres_db import admin_sql, database_url, new_database_name

from gateway.cli.main import main
from gateway.store import StoreError, open_store
from gateway.store.migrations import LATEST, LOCK_KEY, SchemaError
from gateway.store.postgres import PostgresStore


@pytest.fixture
async def fresh_db() -> AsyncIterator[str]:
    name = new_database_name()
    await admin_sql(f'CREATE DATABASE "{name}"')
    yield database_url(name)
    await admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _applied(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [r["version"] for r in await conn.fetch("SELECT version FROM gateway_schema ORDER BY version")]
    finally:
        await conn.close()


async def test_instances_opening_a_fresh_database_at_once_migrate_it_once(fresh_db: str) -> None:
    stores = await asyncio.gather(*(open_store(fresh_db) for _ in range(5)))
    try:
        assert all(isinstance(s, PostgresStore) for s in stores)
        assert sorted(len(s.migrated) for s in stores) == [0, 0, 0, 0, LATEST]  # type: ignore[attr-defined]
        assert await _applied(fresh_db) == list(range(1, LATEST + 1))
        await stores[0].put("ns", "k", {"v": 1})
        assert (await stores[4].get("ns", "k")).doc == {"v": 1}  # type: ignore[union-attr]
    finally:
        for store in stores:
            await store.close()


async def test_an_instance_waits_while_another_holds_the_migration_lock(fresh_db: str) -> None:
    holder = await asyncpg.connect(fresh_db)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        opening = asyncio.create_task(open_store(fresh_db, timeout=5.0))
        await asyncio.sleep(0.5)
        assert not opening.done()  # it neither migrates under the holder nor fails
        await holder.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        store = await asyncio.wait_for(opening, 5)
    finally:
        await holder.close()
    assert isinstance(store, PostgresStore) and store.migrated == tuple(range(1, LATEST + 1))
    await store.close()


async def test_migrate_on_start_off_refuses_an_old_schema_and_gateway_db_migrate_applies_it(
    fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(StoreError, match="gateway db migrate"):
        await open_store(fresh_db, migrate_on_start=False)
    config = tmp_path / "gw.yaml"
    config.write_text(f"store:\n  url: {fresh_db}\n  migrate_on_start: false\n")
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    migrate = asyncio.to_thread(main, ["db", "migrate", "--config", str(config)])  # the CLI runs its own loop
    assert await migrate == 0
    assert f"migrated to version {LATEST}" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["db", "migrate", "--config", str(config)]) == 0
    assert f"already at version {LATEST}" in capsys.readouterr().out
    store = await open_store(fresh_db, migrate_on_start=False)
    await store.close()
    assert await _applied(fresh_db) == list(range(1, LATEST + 1))


async def test_a_schema_newer_than_the_gateway_is_refused(fresh_db: str) -> None:
    await (await open_store(fresh_db)).close()
    await admin_sql(f"INSERT INTO gateway_schema (version, description) VALUES ({LATEST + 1}, 'future')", fresh_db)
    with pytest.raises(SchemaError, match="newer than this gateway"):
        await open_store(fresh_db)


async def test_gateway_db_migrate_on_a_sqlite_store_has_nothing_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path}/gw.sqlite3\n")
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    assert await asyncio.to_thread(main, ["db", "migrate", "--config", str(config)]) == 0
    assert "nothing to migrate" in capsys.readouterr().out


async def test_gateway_db_migrate_with_no_server_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "gw.yaml"
    config.write_text("store:\n  url: postgresql://gw:s3cret@127.0.0.1:1/gw\n  timeout: 1\n")
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)
    assert await asyncio.to_thread(main, ["db", "migrate", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gateway db: cannot migrate the store") and "s3cret" not in err and err.count("\n") == 1


def test_gateway_serve_without_its_postgres_exits_in_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env |= {"PYTHONPATH": str(Path(__file__).resolve().parents[3]),
            "GATEWAY_STORE__URL": "postgresql://gw:s3cret@127.0.0.1:1/gw", "GATEWAY_STORE__TIMEOUT": "1"}
    done = subprocess.run([sys.executable, "-m", "gateway.cli.main", "serve", "--port", "1"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "gateway: cannot open the store: no PostgreSQL server answers at postgresql://gw:***@127.0.0.1:1/gw" \
        in done.stderr
