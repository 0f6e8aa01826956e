"""Two gateways on one PostgreSQL store are one deployment: what one writes (a named admin, the audit log), the other
serves at once, no restart; both started at the same moment on a fresh database, the schema migrated once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from postgres_db import admin_sql, database_url, new_database_name
from servers import start_gateway


@pytest.fixture
async def fresh_db() -> AsyncIterator[str]:
    name = new_database_name()
    await admin_sql(f'CREATE DATABASE "{name}"')
    yield database_url(name)
    await admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_two_replicas_on_one_postgres_share_what_they_write(fresh_db: str) -> None:
    common = {"store": {"url": fresh_db}, "refcommons": {"enabled": False}, "admin_token": "boot"}
    one, two = await asyncio.gather(start_gateway(**common), start_gateway(**common))
    try:
        boot = {"Authorization": "Bearer boot"}
        added = await one.client.post("/registry/v1/admins", json={"name": "ops"}, headers=boot)
        assert added.status_code in (200, 201), added.text
        token = added.json()["token"]
        listed = await two.client.get("/registry/v1/admins", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200 and "ops" in listed.text  # the token minted by one admits on two
        revoked = await two.client.delete("/registry/v1/admins/ops", headers=boot)
        assert revoked.status_code in (200, 204), revoked.text
        again = await one.client.get("/registry/v1/admins", headers={"Authorization": f"Bearer {token}"})
        assert again.status_code in (401, 403)  # revoked on two: refused by one at once
    finally:
        await one.stop()
        await two.stop()
    conn = await asyncpg.connect(fresh_db)
    try:
        assert await conn.fetchval("SELECT COUNT(*) FROM gateway_schema") >= 1
        assert await conn.fetchval("SELECT COUNT(*) FROM gateway_schema") == await conn.fetchval(
            "SELECT MAX(version) FROM gateway_schema")
    finally:
        await conn.close()
