"""The Store contract, run against every backend (SQLite file, SQLite in memory, Redis, PostgreSQL), plus
SQLite sharing/durability and ``open_store`` URL handling."""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.store import ABSENT, Conflict, Store, StoreError, open_store
from gateway.store.redis import RedisStore
from gateway.store.sqlite import SqliteStore

NESTED = {
    "name": "Zoë — 基因組 🧬",
    "nested": {"list": [1, 2.5, None, True, False, {"k": "v"}], "empty": {}, "none": []},
    "big": 2**53,
    "quote": 'say "hi"\n\\',
}


@pytest.fixture(params=["sqlite-file", "sqlite-memory", "redis", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    prefix = "gw:"
    if request.param == "sqlite-file":
        url = f"sqlite:///{tmp_path}/store.sqlite3"
    elif request.param == "sqlite-memory":
        url = "sqlite://:memory:"
    elif request.param == "postgres":
        url = request.getfixturevalue("postgres_store_url")
    else:
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_key_prefix")
    opened = await open_store(url, key_prefix=prefix)
    yield opened
    await opened.close()


async def test_is_a_store_that_answers(store: Store) -> None:
    assert isinstance(store, Store)
    assert await store.ping() is True


async def test_get_missing_is_none(store: Store) -> None:
    assert await store.get("ns", "nope") is None


async def test_round_trip_keeps_nested_json_and_unicode(store: Store) -> None:
    assert await store.put("ns", "clé/ü", NESTED) == 1
    got = await store.get("ns", "clé/ü")
    assert got is not None and (got.key, got.rev, got.doc) == ("clé/ü", 1, NESTED)


async def test_revisions_increase_and_last_write_wins(store: Store) -> None:
    revs = [await store.put("ns", "k", {"n": n}) for n in range(4)]
    assert revs == [1, 2, 3, 4]
    got = await store.get("ns", "k")
    assert got is not None and (got.rev, got.doc) == (4, {"n": 3})


async def test_create_only_conflicts_when_present(store: Store) -> None:
    assert await store.put("ns", "k", {"v": 1}, expect_rev=ABSENT) == 1
    with pytest.raises(Conflict) as caught:
        await store.put("ns", "k", {"v": 2}, expect_rev=ABSENT)
    assert (caught.value.expected, caught.value.actual) == (None, 1)
    got = await store.get("ns", "k")
    assert got is not None and got.doc == {"v": 1}


async def test_conditional_update_needs_the_current_revision(store: Store) -> None:
    await store.put("ns", "k", {"v": 1})
    assert await store.put("ns", "k", {"v": 2}, expect_rev=1) == 2
    with pytest.raises(Conflict) as caught:
        await store.put("ns", "k", {"v": 3}, expect_rev=1)
    assert (caught.value.expected, caught.value.actual) == (1, 2)
    with pytest.raises(Conflict) as missing:
        await store.put("ns", "other", {"v": 1}, expect_rev=1)
    assert missing.value.actual is None
    got = await store.get("ns", "k")
    assert got is not None and (got.rev, got.doc) == (2, {"v": 2})
    assert await store.get("ns", "other") is None


async def test_conditional_delete(store: Store) -> None:
    await store.put("ns", "k", {"v": 1})
    await store.put("ns", "k", {"v": 2})
    for wrong in (1, ABSENT):
        with pytest.raises(Conflict):
            await store.delete("ns", "k", expect_rev=wrong)
    assert await store.get("ns", "k") is not None
    assert await store.delete("ns", "k", expect_rev=2) is True
    assert await store.get("ns", "k") is None
    with pytest.raises(Conflict):
        await store.delete("ns", "k", expect_rev=2)


async def test_delete_missing_is_false_and_delete_forgets(store: Store) -> None:
    assert await store.delete("ns", "nope") is False
    await store.put("ns", "k", {})
    assert await store.delete("ns", "k") is True
    assert (await store.get("ns", "k"), await store.count("ns")) == (None, 0)
    assert await store.scan("ns") == []


async def test_bad_arguments_are_rejected(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.put("ns", "k", {}, expect_rev=-2)
    with pytest.raises(ValueError):
        await store.scan("ns", limit=0)
    with pytest.raises(ValueError):
        await store.read_log("log", limit=-1)


async def test_get_many_skips_missing_keys(store: Store) -> None:
    for key in ("a", "b", "c"):
        await store.put("ns", key, {"key": key})
    got = await store.get_many("ns", ["c", "missing", "a", "a"])
    assert {k: (s.key, s.doc) for k, s in got.items()} == {"a": ("a", {"key": "a"}), "c": ("c", {"key": "c"})}
    assert await store.get_many("ns", []) == {}


KEYS = ["a", "a/1", "a/2", "a/10", "ab", "a0", "b", "b/x", "é", "z", "zz", "\u4e2d", "a/\u00ff", "A"]
KEYS += ["\U0010ffff", "\U0010ffffx", "a\U0010ffff", "\ud7ffq", "\ue000"]  # edges of code point order


async def _fill(store: Store) -> None:
    for key in random.Random(7).sample(KEYS, len(KEYS)):
        await store.put("ns", key, {"key": key})


async def test_scan_orders_keys_and_filters_by_prefix(store: Store) -> None:
    await _fill(store)
    assert [s.key for s in await store.scan("ns")] == sorted(KEYS)
    assert all(s.doc == {"key": s.key} and s.rev == 1 for s in await store.scan("ns"))
    for prefix in ("a/", "a", "\U0010ffff", "\ud7ff", "zz", "a\U0010ffff"):
        expected = sorted(k for k in KEYS if k.startswith(prefix))
        assert [s.key for s in await store.scan("ns", prefix=prefix)] == expected
    assert [s.key for s in await store.scan("ns", limit=3)] == sorted(KEYS)[:3]
    assert [s.key for s in await store.scan("ns", after="b")] == sorted(k for k in KEYS if k > "b")
    in_a_after = sorted(k for k in KEYS if k.startswith("a") and k > "a/2")
    assert [s.key for s in await store.scan("ns", prefix="a", after="a/2")] == in_a_after
    assert [s.key for s in await store.scan("ns", prefix="b", after="a")] == ["b", "b/x"]
    assert await store.scan("ns", prefix="q") == []


async def test_scan_after_paginates_across_pages(store: Store) -> None:
    await _fill(store)
    seen: list[str] = []
    while page := await store.scan("ns", after=seen[-1] if seen else "", limit=4):
        assert len(page) <= 4
        seen += [s.key for s in page]
    assert seen == sorted(KEYS)


async def test_count_and_namespaces_are_isolated(store: Store) -> None:
    await _fill(store)
    await store.put("ns:x", "a", {"other": True})
    await store.put("n", "a", {"other": True})
    assert (await store.count("ns"), await store.count("ns:x"), await store.count("n")) == (len(KEYS), 1, 1)
    assert await store.count("empty") == 0
    assert [s.key for s in await store.scan("ns:x")] == ["a"]
    await store.delete("ns:x", "a")
    got = await store.get("ns", "a")
    assert got is not None and got.doc == {"key": "a"}


async def test_log_append_read_order_after_and_limit(store: Store) -> None:
    seqs = [await store.append("events", {"i": i, "text": "ü"}) for i in range(7)]
    await store.append("other", {"i": -1})
    assert seqs == sorted(seqs) and len(set(seqs)) == 7  # string order is append order
    entries = await store.read_log("events")
    assert [(e.seq, e.doc) for e in entries] == [(s, {"i": i, "text": "ü"}) for i, s in enumerate(seqs)]
    assert [e.doc["i"] for e in await store.read_log("events", after=seqs[2])] == [3, 4, 5, 6]
    assert [e.doc["i"] for e in await store.read_log("events", after=seqs[2], limit=2)] == [3, 4]
    assert await store.read_log("events", after=seqs[-1]) == []
    assert await store.read_log("never") == []
    assert [e.doc["i"] for e in await store.read_log("other")] == [-1]


async def test_concurrent_create_only_has_exactly_one_winner(store: Store) -> None:
    writes = (store.put("ns", "race", {"writer": i}, expect_rev=ABSENT) for i in range(50))
    results = await asyncio.gather(*writes, return_exceptions=True)
    winners = [i for i, r in enumerate(results) if r == 1]
    assert len(winners) == 1 and sum(isinstance(r, Conflict) for r in results) == 49
    got = await store.get("ns", "race")
    assert got is not None and got.doc == {"writer": winners[0]}


async def test_concurrent_distinct_puts_lose_nothing(store: Store) -> None:
    await asyncio.gather(*(store.put("ns", f"k{i:02d}", {"i": i}) for i in range(50)))
    assert await store.count("ns") == 50
    got = await store.get_many("ns", [f"k{i:02d}" for i in range(50)])
    assert sorted(s.doc["i"] for s in got.values()) == list(range(50))


async def test_optimistic_increments_lose_no_update(store: Store) -> None:
    await store.put("ns", "counter", {"n": 0})

    async def bump() -> None:
        while True:
            current = await store.get("ns", "counter")
            assert current is not None
            try:
                await store.put("ns", "counter", {"n": current.doc["n"] + 1}, expect_rev=current.rev)
                return
            except Conflict:
                await asyncio.sleep(0)

    await asyncio.gather(*(bump() for _ in range(20)))
    got = await store.get("ns", "counter")
    assert got is not None and (got.rev, got.doc) == (21, {"n": 20})


# --- SQLite: durability and sharing one file -----------------------------------------------------


async def test_sqlite_file_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "gw.sqlite3"  # parent directories do not exist yet
    first = await SqliteStore.open(path)
    await first.put("ns", "k", NESTED)
    seq = await first.append("log", {"i": 1})
    await first.close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone() == ("wal",)
    again = await SqliteStore.open(path)
    got = await again.get("ns", "k")
    assert got is not None and (got.rev, got.doc) == (1, NESTED)
    assert [(e.seq, e.doc) for e in await again.read_log("log")] == [(seq, {"i": 1})]
    assert await again.append("log", {"i": 2}) > seq
    await again.close()


async def test_two_sqlite_stores_share_one_file(tmp_path: Path) -> None:
    one, two = await SqliteStore.open(tmp_path / "s.db"), await SqliteStore.open(tmp_path / "s.db")
    await one.put("ns", "k", {"by": "one"})
    await two.append("log", {"by": "two"})
    got = await two.get("ns", "k")
    assert got is not None and got.doc == {"by": "one"}
    assert [e.doc for e in await one.read_log("log")] == [{"by": "two"}]
    results = await asyncio.gather(
        *(s.put("ns", "race", {"i": i}, expect_rev=ABSENT) for i, s in enumerate([one, two] * 25)),
        return_exceptions=True,
    )
    assert results.count(1) == 1 and sum(isinstance(r, Conflict) for r in results) == 49
    await one.close()
    await two.close()


async def test_sqlite_file_is_shared_with_another_process(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.sqlite3"
    mine = await open_store(url)
    await mine.put("ns", "from-parent", {"v": 1})
    script = (
        "import asyncio, sys\nfrom gateway.store import open_store\n"
        "async def main():\n    s = await open_store(sys.argv[1])\n"
        "    assert (await s.get('ns', 'from-parent')).doc == {'v': 1}\n"
        "    await s.put('ns', 'from-child', {'v': 2})\n    await s.append('log', {'child': True})\n"
        "    await s.close()\nasyncio.run(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    subprocess.run([sys.executable, "-c", script, url], check=True, env=env, timeout=60)
    got = await mine.get("ns", "from-child")
    assert got is not None and got.doc == {"v": 2}
    assert [e.doc for e in await mine.read_log("log")] == [{"child": True}]
    await mine.close()


# --- Redis: key prefixes --------------------------------------------------------------------------


async def test_redis_prefixes_isolate_stores(redis_url: str, redis_key_prefix: str) -> None:
    one = await open_store(redis_url, key_prefix=redis_key_prefix + "one:")
    two = await open_store(redis_url, key_prefix=redis_key_prefix + "two:")
    await one.put("ns", "k", {"v": 1})
    await one.append("log", {"v": 1})
    assert (await two.get("ns", "k"), await two.count("ns"), await two.read_log("log")) == (None, 0, [])
    assert isinstance(one, RedisStore)
    assert sorted(k.decode() for k in await one.client.keys(redis_key_prefix + "*")) == sorted(
        f"{redis_key_prefix}one:{kind}" for kind in ("doc:ns", "idx:ns", "log:log")
    )
    await one.close()
    await two.close()


# --- open_store URLs ------------------------------------------------------------------------------


async def test_open_store_sqlite_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = await open_store("sqlite:///./var/rel.sqlite3")
    plain = await open_store("sqlite:///plain.sqlite3")
    absolute = await open_store(f"sqlite:///{tmp_path}/abs/x.sqlite3")  # sqlite:////tmp/...
    for opened in (relative, plain, absolute):
        await opened.put("ns", "k", {})
        await opened.close()
    assert all((tmp_path / p).is_file() for p in ("var/rel.sqlite3", "plain.sqlite3", "abs/x.sqlite3"))
    one, two = await open_store("sqlite://:memory:"), await open_store("sqlite:///:memory:")
    await one.put("ns", "k", {})
    assert isinstance(two, SqliteStore) and await two.get("ns", "k") is None  # private databases
    await one.close()
    await two.close()


@pytest.mark.parametrize("url", ["mysql://db/x", "nonsense", "", "sqlite://host/x.db", "sqlite:///"])
async def test_open_store_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ValueError):
        await open_store(url)


async def test_open_store_unreachable_redis_fails_fast() -> None:
    started = time.monotonic()
    with pytest.raises(StoreError, match=r"127\.0\.0\.1:1"):
        await open_store("redis://127.0.0.1:1/0")
    assert time.monotonic() - started < 5


async def test_writers_cancelled_at_any_point_leave_the_store_working(store: Store) -> None:
    """A writer cancelled anywhere (e.g. an export job stopped mid-write) neither loses what is stored nor leaves
    the store unusable: with SQLite, a ``BEGIN`` already handed to the connection's thread still runs after its
    caller is gone, and must not wedge every later transaction."""
    await store.put("ns", "kept", {"v": 0})
    for ticks in range(40):
        task = asyncio.create_task(store.put("ns", f"k{ticks}", {"v": ticks}))
        for _ in range(ticks):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert await store.put("ns", "after", {"v": ticks}) > 0, ticks
    assert (await store.get("ns", "kept")).doc == {"v": 0}
    assert (await store.get("ns", "after")).doc == {"v": 39}
