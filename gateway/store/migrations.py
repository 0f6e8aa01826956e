"""Versioned schema migrations of the PostgreSQL store, and the rule that applies them.

:data:`MIGRATIONS` is the schema's history: version ``n`` is the ``n``-th entry, each applied once, in order, in its
own transaction that also records it in ``gateway_schema`` (one row per applied version). Never edit a released
entry: add the next one. :func:`migrate` holds a session-level ``pg_advisory_lock`` (:data:`LOCK_KEY`) while it
works, so of several instances starting at once one migrates and the others wait, then find the schema current.
``gateway db migrate`` runs it by hand; ``open_store`` runs it at start when ``store.migrate_on_start`` allows.
A database whose schema is *newer* than this code knows is refused (an older gateway must not write into it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import asyncpg

from gateway.store.base import StoreError

log = logging.getLogger("gateway.store.migrations")

LOCK_KEY = 0x67772D7374  # "gw-st": the advisory lock key every gateway instance migrates under
MIGRATE_TIMEOUT = 600.0
"""Seconds a migration statement (or the wait for another instance's migration) may take: far beyond a store
call's bound, a schema change on a large table being slow by nature."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema: ``version`` is its position (1, 2, …), ``sql`` what it runs."""

    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "documents (namespace, key, rev, JSON body) and append-only logs",
        """
        CREATE TABLE documents (
            namespace TEXT NOT NULL,
            key TEXT COLLATE "C" NOT NULL,
            rev BIGINT NOT NULL,
            body JSON NOT NULL,
            PRIMARY KEY (namespace, key)
        );
        CREATE TABLE logs (
            seq BIGSERIAL PRIMARY KEY,
            log TEXT NOT NULL,
            body JSON NOT NULL
        );
        CREATE INDEX logs_by_name ON logs (log, seq);
        """,
    ),
)
"""Keys sort in code point order (``COLLATE "C"`` on UTF-8 bytes), as the other backends scan them. Bodies are
``JSON`` (kept as written, NUL escapes included), not ``JSONB``."""

LATEST = len(MIGRATIONS)


class SchemaError(StoreError):
    """The database's schema cannot be used as it is (too new, or too old and not migrated)."""


async def schema_version(conn: asyncpg.Connection) -> int:
    """The highest applied version (0: a database the gateway never migrated)."""
    exists = await conn.fetchval("SELECT to_regclass('gateway_schema') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM gateway_schema"))


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Bring the schema to :data:`LATEST` under the advisory lock; the versions this call applied (``[]`` when it was
    current, e.g. another instance migrated while this one waited for the lock). :class:`SchemaError` when the
    database is newer than this code."""
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY, timeout=MIGRATE_TIMEOUT)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS gateway_schema ("
            " version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        current = await schema_version(conn)
        check_not_newer(current)
        applied: list[int] = []
        for step in MIGRATIONS[current:]:
            async with conn.transaction():
                await conn.execute(step.sql, timeout=MIGRATE_TIMEOUT)
                await conn.execute(
                    "INSERT INTO gateway_schema (version, description) VALUES ($1, $2)", step.version, step.description
                )
            log.info("store schema migrated to version %d: %s", step.version, step.description)
            applied.append(step.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)


def check_not_newer(version: int) -> None:
    """:class:`SchemaError` when ``version`` is beyond what this code knows."""
    if version > LATEST:
        raise SchemaError(
            f"the store's schema is at version {version}, newer than this gateway knows ({LATEST}): upgrade the gateway"
        )


def start_action(version: int, *, migrate_on_start: bool) -> str:
    """What a starting instance does with a schema at ``version``: ``"use"`` it, ``"migrate"`` it (under the lock,
    which also waits out another instance migrating), or ``"refuse"`` (too old and migrating at start is off).
    A schema too new raises :class:`SchemaError`."""
    check_not_newer(version)
    if version == LATEST:
        return "use"
    return "migrate" if migrate_on_start else "refuse"
