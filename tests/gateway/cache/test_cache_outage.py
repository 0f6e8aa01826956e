"""The Redis cache when Redis fails for real: killed (connection refused), or accepting connections and never
answering (a socket timeout). Every operation is then a miss or a no-op, never an error; after
``breaker_failures`` consecutive failures Redis is not called at all until the cool-down ends; the breaker's state
changes are logged once each; and when Redis is back the probe closes the breaker and the cache is used again."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

import pytest
import redis

from gateway.cache import open_cache
from gateway.cache.redis import RedisCache

pytestmark = pytest.mark.asyncio(loop_scope="function")


async def _misses(cache: RedisCache) -> None:
    """Every operation answers as an empty cache would."""
    assert await cache.get("k") is None
    assert await cache.get_many(["k", "l"]) == {}
    assert await cache.set("k", b"v") is None
    assert await cache.set_many([("k", b"v", None), ("l", b"w", 5)]) is None
    assert await cache.add("lock", b"1") is True
    assert await cache.delete("k") is False
    assert await cache.incr("counter") == 1 and await cache.incr("counter", 5) == 5  # limits fail open
    assert await cache.ping() is False


async def test_a_killed_redis_is_a_miss_behind_a_breaker_and_the_cache_recovers(own_redis, caplog):
    cache = await open_cache(own_redis.url, key_prefix="t:", timeout=0.5, breaker_failures=3, breaker_cooldown=0.5)
    assert isinstance(cache, RedisCache)
    try:
        await cache.set("k", b"v")
        assert await cache.get("k") == b"v"
        own_redis.kill()
        with caplog.at_level(logging.WARNING, logger="gateway.cache"):
            await _misses(cache)
            assert cache.breaker.state == "open"
            started = time.monotonic()
            for _ in range(1000):  # bypassed: no connection attempt at all
                assert await cache.get("k") is None
            assert time.monotonic() - started < 0.5
            opened = [r for r in caplog.records if "cache unavailable" in r.getMessage()]
            assert len(opened) == 1, [r.getMessage() for r in caplog.records]  # once per state change

            own_redis.restart()
            await asyncio.sleep(0.6)  # the cool-down ends: the next call is the probe
            await cache.set("k", b"again")
            assert cache.breaker.state == "closed"
            assert await cache.get("k") == b"again"
            with redis.Redis(port=own_redis.port) as direct:
                assert direct.get("t:k") == b"again"
            assert sum("cache available again" in r.getMessage() for r in caplog.records) == 1
    finally:
        await cache.close()


async def test_a_redis_that_stops_answering_costs_one_short_timeout_per_call_until_the_breaker_opens(own_redis):
    cache = await open_cache(own_redis.url, key_prefix="t:", timeout=0.3, breaker_failures=2, breaker_cooldown=0.5)
    assert isinstance(cache, RedisCache)
    try:
        await cache.set("k", b"v")
        own_redis.proc.send_signal(signal.SIGSTOP)  # the process hangs: connections accepted, nothing answered
        try:
            started = time.monotonic()
            assert await cache.get("k") is None
            assert await cache.get("k") is None
            assert 0.5 < time.monotonic() - started < 3, "each call waits the short socket timeout, not the OS's"
            assert cache.breaker.state == "open"
            started = time.monotonic()
            assert await cache.get_many(["a", "b"]) == {} and await cache.incr("n") == 1
            assert time.monotonic() - started < 0.25  # open: no call, no wait (one call would wait the 0.3 s timeout)
            await asyncio.sleep(0.6)
            with pytest.raises(TimeoutError):  # the probe's caller gives up (a client that went away)
                await asyncio.wait_for(cache.get("k"), 0.05)
            assert cache.breaker.state == "half_open"
        finally:
            own_redis.proc.send_signal(signal.SIGCONT)
        assert await cache.get("k") == b"v"  # the cancelled probe did not wedge the breaker: the next call probes
        assert cache.breaker.state == "closed"
    finally:
        await cache.close()
