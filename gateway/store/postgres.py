"""PostgreSQL backend of the :class:`~gateway.store.base.Store` contract, on ``asyncpg``.

A connection pool to one database holds the tables of :mod:`gateway.store.migrations` (``documents``: namespace,
key, revision, JSON body; ``logs``: a ``BIGSERIAL`` sequence shared by all logs, the log's name, a JSON body).
Conditional writes are single statements (``INSERT … ON CONFLICT``, ``UPDATE … WHERE rev = $n``), atomic across
every instance sharing the database. An append takes a transaction-scoped advisory lock on its log's name, so
sequence ids of one log commit in the order they were taken and a reader paging with ``after`` never skips one.

Every call is bounded by ``timeout`` seconds (waiting for a pooled connection, connecting, the statement): a server
that is down, unreachable, restarting, or whose database was dropped or whose backend was terminated raises
:class:`~gateway.store.base.StoreUnavailable` (503 at the web edge) within that time, and the pool reconnects by
itself when the server answers again: no gateway restart.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from gateway.store.base import (
    ABSENT,
    ANY,
    Conflict,
    Document,
    LogEntry,
    Stored,
    StoreUnavailable,
    check_limit,
    check_rev,
    encode_doc,
    scan_bounds,
    seq_after,
    seq_id,
    unavailable_on,
)
from gateway.store.migrations import LATEST, SchemaError, migrate, schema_version, start_action

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable
    TimeoutError,  # the call's bound (asyncio.timeout), a connect or a statement timing out
    asyncpg.InterfaceError,  # the connection was closed under the call (includes ConnectionDoesNotExistError)
    asyncpg.InternalClientError,  # a connection terminated mid-exchange ("another operation is in progress")
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.exceptions.OperatorInterventionError,  # class 57: pg_terminate_backend, shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full
    asyncpg.exceptions.InvalidCatalogNameError,  # the database is gone
    asyncpg.exceptions.UndefinedTableError,  # its tables are gone (recreated, restored without them): not migrated
)
_guarded = unavailable_on(_UNAVAILABLE, "PostgreSQL")


def _stored(row: asyncpg.Record) -> Stored:
    return Stored(row["key"], int(row["rev"]), orjson.loads(row["body"]))


@dataclass(eq=False)
class PostgresStore:
    """A store on an asyncpg pool; ``timeout`` (seconds) bounds every call; ``migrated``: the schema versions its
    opening applied."""

    pool: asyncpg.Pool
    timeout: float
    migrated: tuple[int, ...] = ()

    @classmethod
    async def open(
        cls, url: str, *, timeout: float = 5.0, pool_size: int = 10, migrate_on_start: bool = True
    ) -> PostgresStore:
        """Open a pool on ``url`` and make sure the schema is current (see :func:`prepare_schema`). A server that
        does not answer in ``timeout`` raises :class:`~gateway.store.base.StoreUnavailable`."""
        try:
            pool = await _open_pool(url, timeout=timeout, pool_size=pool_size)
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"the PostgreSQL store did not answer ({type(exc).__name__})") from exc
        store = cls(pool, timeout)
        try:
            store.migrated = tuple(await store.prepare_schema(migrate_on_start=migrate_on_start))
        except BaseException:
            pool.terminate()  # at once: a graceful close could wait on a server that stopped answering
            raise
        return store

    @_guarded
    async def prepare_schema(self, *, migrate_on_start: bool) -> list[int]:
        """Use a current schema; migrate an older one when ``migrate_on_start`` (waiting, under the advisory lock,
        for another instance already migrating); else :class:`SchemaError` naming ``gateway db migrate``."""
        async with self.pool.acquire() as conn:
            version = await schema_version(conn)
            action = start_action(version, migrate_on_start=migrate_on_start)
            if action == "use":
                return []
            if action == "refuse":
                raise SchemaError(
                    f"the store's schema is at version {version}, this gateway needs {LATEST}: run `gateway db "
                    "migrate` (or set store.migrate_on_start)"
                )
            return await migrate(conn)

    async def _fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with asyncio.timeout(self.timeout):
            return list(await self.pool.fetch(sql, *args))

    async def _fetchval(self, sql: str, *args: Any) -> Any:
        async with asyncio.timeout(self.timeout):
            return await self.pool.fetchval(sql, *args)

    async def _current_rev(self, namespace: str, key: str) -> int | None:
        rev = await self._fetchval("SELECT rev FROM documents WHERE namespace = $1 AND key = $2", namespace, key)
        return None if rev is None else int(rev)

    @_guarded
    async def get(self, namespace: str, key: str) -> Stored | None:
        rows = await self._fetch(
            "SELECT key, rev, body FROM documents WHERE namespace = $1 AND key = $2", namespace, key
        )
        return _stored(rows[0]) if rows else None

    @_guarded
    async def get_many(self, namespace: str, keys: list[str]) -> dict[str, Stored]:
        if not keys:
            return {}
        rows = await self._fetch(
            "SELECT key, rev, body FROM documents WHERE namespace = $1 AND key = ANY($2::text[])",
            namespace, list(dict.fromkeys(keys)),
        )
        return {row["key"]: _stored(row) for row in rows}

    @_guarded
    async def put(self, namespace: str, key: str, doc: Document, *, expect_rev: int = ANY) -> int:
        check_rev(expect_rev)
        body = encode_doc(doc)
        if expect_rev == ANY:
            sql = ("INSERT INTO documents (namespace, key, rev, body) VALUES ($1, $2, 1, $3)"
                   " ON CONFLICT (namespace, key) DO UPDATE SET rev = documents.rev + 1, body = excluded.body"
                   " RETURNING rev")
            return int(await self._fetchval(sql, namespace, key, body))
        if expect_rev == ABSENT:
            sql = ("INSERT INTO documents (namespace, key, rev, body) VALUES ($1, $2, 1, $3)"
                   " ON CONFLICT (namespace, key) DO NOTHING RETURNING rev")
            rev = await self._fetchval(sql, namespace, key, body)
            if rev is None:
                raise Conflict(namespace, key, None, await self._current_rev(namespace, key))
            return int(rev)
        sql = ("UPDATE documents SET rev = rev + 1, body = $3"
               " WHERE namespace = $1 AND key = $2 AND rev = $4 RETURNING rev")
        rev = await self._fetchval(sql, namespace, key, body, expect_rev)
        if rev is None:
            raise Conflict(namespace, key, expect_rev, await self._current_rev(namespace, key))
        return int(rev)

    @_guarded
    async def delete(self, namespace: str, key: str, *, expect_rev: int = ANY) -> bool:
        check_rev(expect_rev)
        if expect_rev == ABSENT:
            current = await self._current_rev(namespace, key)
            if current is not None:
                raise Conflict(namespace, key, None, current)
            return False
        if expect_rev == ANY:
            deleted = await self._fetchval(
                "DELETE FROM documents WHERE namespace = $1 AND key = $2 RETURNING rev", namespace, key
            )
            return deleted is not None
        deleted = await self._fetchval(
            "DELETE FROM documents WHERE namespace = $1 AND key = $2 AND rev = $3 RETURNING rev",
            namespace, key, expect_rev,
        )
        if deleted is None:
            raise Conflict(namespace, key, expect_rev, await self._current_rev(namespace, key))
        return True

    @_guarded
    async def scan(
        self, namespace: str, *, prefix: str = "", after: str = "", limit: int = 100
    ) -> list[Stored]:
        check_limit(limit)
        bounds = scan_bounds(prefix, after)
        sql = f"SELECT key, rev, body FROM documents WHERE namespace = $1 AND key {'>' if bounds.low_open else '>='} $2"
        params: list[object] = [namespace, bounds.low]
        if bounds.high is not None:
            params.append(bounds.high)
            sql += f" AND key < ${len(params)}"
        elif bounds.head is not None:
            params += [len(bounds.head), bounds.head]
            sql += f" AND left(key, ${len(params) - 1}) = ${len(params)}"
        params.append(limit)
        rows = await self._fetch(sql + f" ORDER BY key LIMIT ${len(params)}", *params)
        return [_stored(row) for row in rows]

    @_guarded
    async def count(self, namespace: str) -> int:
        return int(await self._fetchval("SELECT COUNT(*) FROM documents WHERE namespace = $1", namespace))

    @_guarded
    async def append(self, log: str, doc: Document) -> str:
        body = encode_doc(doc)
        async with asyncio.timeout(self.timeout), self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", log)
            seq = await conn.fetchval(
                "INSERT INTO logs (log, body) VALUES ($1, $2) RETURNING seq", log, body
            )
        return seq_id(seq)

    @_guarded
    async def read_log(self, log: str, *, after: str | None = None, limit: int = 100) -> list[LogEntry]:
        check_limit(limit)
        start = seq_after(after)
        rows = await self._fetch(
            "SELECT seq, body FROM logs WHERE log = $1 AND seq > $2 ORDER BY seq LIMIT $3", log, start, limit
        )
        return [LogEntry(seq_id(row["seq"]), orjson.loads(row["body"])) for row in rows]

    async def ping(self) -> bool:
        try:
            return bool(await self._fetchval("SELECT 1") == 1)
        except (*_UNAVAILABLE, asyncpg.PostgresError):
            return False

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.pool.close(), self.timeout)
        except _UNAVAILABLE:  # TimeoutError among them
            self.pool.terminate()


async def _open_pool(url: str, *, timeout: float, pool_size: int) -> asyncpg.Pool:
    """A pool of at most ``pool_size`` connections whose first connection answered within ``timeout``."""
    async with asyncio.timeout(timeout):
        pool = await asyncpg.create_pool(
            url, min_size=1, max_size=pool_size, timeout=timeout, command_timeout=timeout,
            max_inactive_connection_lifetime=60.0,
        )
    assert pool is not None  # create_pool returns the pool once initialised
    return pool
