"""Connections opening one fresh SQLite file at the same moment (``gateway serve --workers N`` with the in-process
reference commons: each worker opens the commons' own store at start; seen as a worker exiting with "database is
locked"): every one of them opens it, WAL mode and tables in place."""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.store.sqlite import SqliteStore

OPENERS = 8


async def test_connections_opening_a_fresh_file_at_once_all_open_it(tmp_path: Path):
    for attempt in range(50):  # the race is between the first statements of each: many fresh files
        path = str(tmp_path / f"commons-{attempt}.sqlite3")
        opened = await asyncio.gather(*(SqliteStore.open(path) for _ in range(OPENERS)), return_exceptions=True)
        failed = [repr(o) for o in opened if isinstance(o, BaseException)]
        for store in opened:
            if isinstance(store, SqliteStore):
                await store.close()
        assert failed == [], f"file {attempt}: {len(failed)} of {OPENERS} failed: {failed[0]}"
    store = await SqliteStore.open(path)
    async with store._db.execute("PRAGMA journal_mode") as cursor:
        assert (await cursor.fetchone()) == ("wal",)
    await store.close()
