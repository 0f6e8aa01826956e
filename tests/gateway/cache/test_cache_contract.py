"""The Cache contract, run against the in-memory LRU (with a fake clock) and Redis (with short real
TTLs), plus LRU eviction and ``open_cache`` URL handling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from gateway.cache import Cache, open_cache
from gateway.cache.factory import CacheUnavailable
from gateway.cache.memory import MemoryCache
from gateway.cache.redis import RedisCache


@dataclass
class FakeClock:
    """A monotonic clock that only moves when told to."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    async def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Backend:
    """Makes caches of one backend, and lets time pass for them (``advance``)."""

    make: Callable[[float], Awaitable[Cache]]
    advance: Callable[[float], Awaitable[None]]
    opened: list[Cache] = field(default_factory=list)

    async def cache(self, default_ttl: float = 300.0) -> Cache:
        self.opened.append(await self.make(default_ttl))
        return self.opened[-1]


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        clock = FakeClock()

        async def make(ttl: float) -> Cache:
            return MemoryCache(default_ttl=ttl, clock=clock)

        made = Backend(make, clock.advance)
    else:
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_key_prefix")

        async def make(ttl: float) -> Cache:
            return await open_cache(url, default_ttl=ttl, key_prefix=prefix)

        made = Backend(make, asyncio.sleep)
    yield made
    for cache in made.opened:
        await cache.close()


async def test_is_a_cache_that_answers(backend: Backend) -> None:
    cache = await backend.cache()
    assert isinstance(cache, Cache) and await cache.ping() is True


async def test_get_set_and_get_many(backend: Backend) -> None:
    cache = await backend.cache()
    assert await cache.get("k") is None
    await cache.set("k", b"\x00binary\xff")
    await cache.set("j", "ü".encode())
    assert await cache.get("k") == b"\x00binary\xff"
    await cache.set("k", b"replaced")
    assert await cache.get_many(["k", "missing", "j"]) == {"k": b"replaced", "j": "ü".encode()}
    assert await cache.get_many([]) == {}


async def test_set_many_writes_each_with_its_own_ttl_in_one_call(backend: Backend) -> None:
    cache = await backend.cache(default_ttl=0.3)
    await cache.set("kept", b"old")
    await cache.set_many([("short", b"1", 0.05), ("default", b"2", None), ("long", b"3", 30), ("kept", b"new", 30),
                          ("twice", b"first", 30), ("twice", b"second", 30)])
    await cache.set_many([])
    assert await cache.get_many(["short", "default", "long", "kept", "twice"]) == {
        "short": b"1", "default": b"2", "long": b"3", "kept": b"new", "twice": b"second"}
    await backend.advance(0.15)
    assert await cache.get_many(["short", "default", "long"]) == {"default": b"2", "long": b"3"}
    await backend.advance(0.3)
    assert await cache.get_many(["short", "default", "long", "kept"]) == {"long": b"3", "kept": b"new"}


async def test_set_many_with_a_bad_ttl_writes_nothing(backend: Backend) -> None:
    cache = await backend.cache()
    with pytest.raises(ValueError):
        await cache.set_many([("a", b"1", 30), ("b", b"2", 0)])
    assert await cache.get_many(["a", "b"]) == {}


async def test_add_only_stores_when_absent(backend: Backend) -> None:
    cache = await backend.cache()
    assert await cache.add("lock", b"first") is True
    assert await cache.add("lock", b"second") is False
    assert await cache.get("lock") == b"first"
    assert await cache.delete("lock") is True
    assert await cache.add("lock", b"third", ttl=0.1) is True
    await backend.advance(0.25)
    assert await cache.add("lock", b"fourth") is True  # the earlier one expired
    assert await cache.get("lock") == b"fourth"


async def test_delete(backend: Backend) -> None:
    cache = await backend.cache()
    await cache.set("k", b"v")
    assert await cache.delete("k") is True
    assert await cache.get("k") is None
    assert await cache.delete("k") is False


async def test_incr_creates_and_increments(backend: Backend) -> None:
    cache = await backend.cache()
    assert await cache.incr("n") == 1
    assert await cache.incr("n", 5) == 6
    assert await cache.incr("n", -10) == -4
    assert await cache.get("n") == b"-4"
    assert await cache.incr("m", 7) == 7
    await cache.set("text", b"not a number")
    with pytest.raises(ValueError):
        await cache.incr("text")
    assert await cache.get("text") == b"not a number"


async def test_incr_sets_ttl_only_on_creation(backend: Backend) -> None:
    cache = await backend.cache()
    assert await cache.incr("n", ttl=0.3) == 1
    await backend.advance(0.15)
    assert await cache.incr("n", ttl=10) == 2  # does not extend the counter's life
    await backend.advance(0.3)
    assert await cache.get("n") is None
    assert await cache.incr("n", ttl=10) == 1  # a new counter


async def test_entries_expire_after_their_ttl(backend: Backend) -> None:
    cache = await backend.cache()
    await cache.set("short", b"1", ttl=0.05)
    await cache.set("long", b"2", ttl=30)
    assert await cache.get("short") == b"1"
    await backend.advance(0.15)
    assert await cache.get_many(["short", "long"]) == {"long": b"2"}
    assert await cache.delete("short") is False


async def test_default_ttl_applies(backend: Backend) -> None:
    cache = await backend.cache(default_ttl=0.05)
    await cache.set("default", b"1")
    await cache.add("added", b"2")
    await cache.incr("counted")
    await cache.set("explicit", b"3", ttl=30)
    await backend.advance(0.15)
    assert await cache.get_many(["default", "added", "counted", "explicit"]) == {"explicit": b"3"}


async def test_bad_ttls_are_rejected(backend: Backend) -> None:
    cache = await backend.cache()
    for ttl in (0, -1):
        with pytest.raises(ValueError):
            await cache.set("k", b"v", ttl=ttl)
    assert await cache.get("k") is None


async def test_redis_prefixes_isolate_caches(redis_url: str, redis_key_prefix: str) -> None:
    one = await open_cache(redis_url, key_prefix=redis_key_prefix + "one:")
    two = await open_cache(redis_url, key_prefix=redis_key_prefix + "two:")
    await one.set("k", b"1")
    await one.incr("n")
    assert await two.get_many(["k", "n"]) == {}
    assert await two.add("k", b"2") is True
    assert (await one.get("k"), await two.get("k")) == (b"1", b"2")
    assert isinstance(one, RedisCache)
    assert 0 < await one.client.pttl(redis_key_prefix + "one:k") <= 300_000  # the default TTL
    await one.close()
    await two.close()


# --- in-memory LRU ----------------------------------------------------------------------------------


async def test_memory_evicts_least_recently_used() -> None:
    cache = MemoryCache(max_entries=3)
    for key in ("a", "b", "c"):
        await cache.set(key, key.encode())
    await cache.set("d", b"d")
    assert await cache.get_many(["a", "b", "c", "d"]) == {"b": b"b", "c": b"c", "d": b"d"}
    assert len(cache) == 3


async def test_memory_recently_read_or_written_entries_survive() -> None:
    cache = MemoryCache(max_entries=3)
    for key in ("a", "b", "c"):
        await cache.set(key, key.encode())
    assert await cache.get("a") == b"a"  # a is now the most recently used
    await cache.set("b", b"B")  # so is b; c is the least recently used
    await cache.set("d", b"d")
    assert await cache.get("c") is None
    await cache.incr("n")  # evicts a, the least recently used of a, b, d
    assert await cache.get_many(["a", "b", "d", "n"]) == {"b": b"B", "d": b"d", "n": b"1"}


async def test_memory_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError):
        MemoryCache(max_entries=0)
    with pytest.raises(ValueError):
        MemoryCache(default_ttl=0)


# --- open_cache URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["memory://", "memory:"])
async def test_open_cache_memory(url: str) -> None:
    cache = await open_cache(url, max_entries=2)
    assert isinstance(cache, MemoryCache) and cache.max_entries == 2
    for key in ("a", "b", "c"):
        await cache.set(key, b"x")
    assert await cache.get_many(["a", "b", "c"]) == {"b": b"x", "c": b"x"}


@pytest.mark.parametrize("url", ["memcached://host", "nonsense", "", "memory://elsewhere"])
async def test_open_cache_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ValueError):
        await open_cache(url)


async def test_open_cache_unreachable_redis_fails_fast() -> None:
    started = time.monotonic()
    with pytest.raises(CacheUnavailable, match=r"127\.0\.0\.1:1"):
        await open_cache("redis://127.0.0.1:1/0")
    assert time.monotonic() - started < 5
