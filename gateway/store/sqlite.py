"""SQLite backend of the :class:`~gateway.store.base.Store` contract, on ``aiosqlite``.

One file (or ``:memory:``) holds two tables: ``documents`` (namespace, key, rev, JSON body) and
``logs`` (an autoincrement ``seq`` shared by all logs, the log's name, a JSON body). The file is
opened in WAL mode with a busy timeout, so several processes (a server and a CLI, say) can share
it. Every write runs in a ``BEGIN IMMEDIATE`` transaction, which makes conditional writes atomic
across connections; within one store, an :class:`asyncio.Lock` keeps the single connection's
statements from interleaving between tasks. A database that does not answer (locked past the busy timeout, a
failing or full disk) raises :class:`~gateway.store.base.StoreUnavailable` from every method.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiosqlite
import orjson

from gateway.store.base import (
    ABSENT,
    ANY,
    Conflict,
    Document,
    LogEntry,
    Stored,
    check_limit,
    check_rev,
    encode_doc,
    scan_bounds,
    seq_after,
    seq_id,
    unavailable_on,
)

log = logging.getLogger("gateway.store.sqlite")

MEMORY = ":memory:"
_IN_CHUNK = 500  # keys per "IN (...)" query, well under SQLite's bound-parameter limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    rev INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    log TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_name ON logs (log, seq);
"""


_guarded = unavailable_on((sqlite3.OperationalError,), "SQLite")
"""A database that stays locked past ``busy_timeout``, a disk that fails or is full, a file that cannot be opened:
:class:`~gateway.store.base.StoreUnavailable` (503 at the web edge), not a bug."""


async def _prepare(db: aiosqlite.Connection, patience: float) -> None:
    """WAL mode and the tables. Connections opening a fresh file at once (``--workers N``, each opening the reference
    commons' store) race to switch it to WAL: the loser is told "database is locked" at once, without waiting out
    ``busy_timeout`` (SQLite's deadlock rule: it read the file while another is taking it over). It tries again,
    for as long as ``busy_timeout`` would have waited; both statements are idempotent."""
    give_up = time.monotonic() + patience
    while True:
        try:
            await db.execute("PRAGMA journal_mode = WAL")
            await db.executescript(_SCHEMA)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= give_up:
                raise
        await asyncio.sleep(0.01)


@dataclass(eq=False)
class SqliteStore:
    """A store on one SQLite connection; ``path`` is the file it holds (or ``:memory:``)."""

    path: str
    _db: aiosqlite.Connection
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout_ms: int = 10_000) -> SqliteStore:
        """Open (creating the file, its parent directory and the tables if missing)."""
        target = str(path)
        if target != MEMORY:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(target, isolation_level=None)
        try:
            await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            await _prepare(db, busy_timeout_ms / 1000)
        except BaseException:
            await db.close()
            raise
        return cls(target, db)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Hold the connection inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on error)."""
        async with self._lock:
            await self._begin()
            try:
                yield self._db
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _begin(self) -> None:
        """``BEGIN IMMEDIATE``. A caller cancelled while its ``BEGIN`` was on the way leaves a transaction open with
        nothing in it (the statement still runs in the connection's thread, after the lock was let go): roll that
        one back, then begin. Statements run in order, so by the time ours runs, any such ``BEGIN`` has."""
        try:
            await self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if not self._db.in_transaction:
                raise
            log.warning("sqlite store: rolling back a transaction a cancelled caller left open (%s)", exc)
            await self._db.execute("ROLLBACK")
            await self._db.execute("BEGIN IMMEDIATE")

    async def _rows(self, sql: str, params: tuple[object, ...]) -> list[tuple[Any, ...]]:
        async with self._lock, self._db.execute(sql, params) as cursor:
            rows = await cursor.fetchall()  # tuples: no row factory is set (aiosqlite types them as sqlite3.Row)
            return cast("list[tuple[Any, ...]]", list(rows))

    @_guarded
    async def get(self, namespace: str, key: str) -> Stored | None:
        rows = await self._rows(
            "SELECT key, rev, body FROM documents WHERE namespace = ? AND key = ?", (namespace, key)
        )
        return Stored(rows[0][0], rows[0][1], orjson.loads(rows[0][2])) if rows else None

    @_guarded
    async def get_many(self, namespace: str, keys: list[str]) -> dict[str, Stored]:
        found: dict[str, Stored] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _IN_CHUNK):
            chunk = unique[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = await self._rows(
                f"SELECT key, rev, body FROM documents WHERE namespace = ? AND key IN ({marks})",
                (namespace, *chunk),
            )
            found.update({k: Stored(k, rev, orjson.loads(body)) for k, rev, body in rows})
        return found

    @_guarded
    async def put(self, namespace: str, key: str, doc: Document, *, expect_rev: int = ANY) -> int:
        check_rev(expect_rev)
        body = encode_doc(doc)
        async with self._transaction() as db:
            async with db.execute(
                "SELECT rev FROM documents WHERE namespace = ? AND key = ?", (namespace, key)
            ) as cursor:
                row = await cursor.fetchone()
            current = row[0] if row else None
            if expect_rev == ABSENT and current is not None:
                raise Conflict(namespace, key, None, current)
            if expect_rev > 0 and current != expect_rev:
                raise Conflict(namespace, key, expect_rev, current)
            rev = (current or 0) + 1
            await db.execute(
                "INSERT INTO documents (namespace, key, rev, body) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (namespace, key) DO UPDATE SET rev = excluded.rev, body = excluded.body",
                (namespace, key, rev, body),
            )
        return rev

    @_guarded
    async def delete(self, namespace: str, key: str, *, expect_rev: int = ANY) -> bool:
        check_rev(expect_rev)
        async with self._transaction() as db:
            async with db.execute(
                "SELECT rev FROM documents WHERE namespace = ? AND key = ?", (namespace, key)
            ) as cursor:
                row = await cursor.fetchone()
            current = row[0] if row else None
            if expect_rev == ABSENT and current is not None:
                raise Conflict(namespace, key, None, current)
            if expect_rev > 0 and current != expect_rev:
                raise Conflict(namespace, key, expect_rev, current)
            if current is None:
                return False
            await db.execute("DELETE FROM documents WHERE namespace = ? AND key = ?", (namespace, key))
        return True

    @_guarded
    async def scan(
        self, namespace: str, *, prefix: str = "", after: str = "", limit: int = 100
    ) -> list[Stored]:
        check_limit(limit)
        bounds = scan_bounds(prefix, after)
        sql = f"SELECT key, rev, body FROM documents WHERE namespace = ? AND key {'>' if bounds.low_open else '>='} ?"
        params: tuple[object, ...] = (namespace, bounds.low)
        if bounds.high is not None:
            sql += " AND key < ?"
            params += (bounds.high,)
        elif bounds.head is not None:
            sql += " AND substr(key, 1, ?) = ?"
            params += (len(bounds.head), bounds.head)
        rows = await self._rows(sql + " ORDER BY key LIMIT ?", (*params, limit))
        return [Stored(k, rev, orjson.loads(body)) for k, rev, body in rows]

    @_guarded
    async def count(self, namespace: str) -> int:
        rows = await self._rows("SELECT COUNT(*) FROM documents WHERE namespace = ?", (namespace,))
        return int(rows[0][0])

    @_guarded
    async def append(self, log: str, doc: Document) -> str:
        body = encode_doc(doc)
        async with self._transaction() as db:
            cursor = await db.execute("INSERT INTO logs (log, body) VALUES (?, ?)", (log, body))
            seq = cursor.lastrowid
            await cursor.close()
        return seq_id(cast(int, seq))  # an INSERT always sets lastrowid

    @_guarded
    async def read_log(self, log: str, *, after: str | None = None, limit: int = 100) -> list[LogEntry]:
        check_limit(limit)
        start = seq_after(after)
        rows = await self._rows(
            "SELECT seq, body FROM logs WHERE log = ? AND seq > ? ORDER BY seq LIMIT ?",
            (log, start, limit),
        )
        return [LogEntry(seq_id(seq), orjson.loads(body)) for seq, body in rows]

    async def ping(self) -> bool:
        try:
            rows = await self._rows("SELECT 1", ())
        except (aiosqlite.Error, ValueError):
            return False
        return rows == [(1,)]

    async def close(self) -> None:
        await self._db.close()
