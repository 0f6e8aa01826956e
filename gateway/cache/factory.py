"""Open a :class:`~gateway.cache.base.Cache` from a URL.

* ``memory://`` (or ``memory:``): a per-process LRU of ``max_entries`` entries;
* ``redis://host:port/db`` or ``rediss://…`` (TLS): a Redis server shared by replicas, checked with
  a PING; its keys live under ``key_prefix``. Each call waits at most ``timeout`` seconds and a failing Redis is a
  miss behind a circuit breaker (``breaker_failures`` consecutive failures bypass it for ``breaker_cooldown``
  seconds): :mod:`gateway.cache.redis`, imported only then (a gateway on the in-process cache never loads redis).
"""

from __future__ import annotations

from gateway.cache.base import Cache
from gateway.cache.breaker import Breaker
from gateway.cache.memory import MemoryCache
from gateway.store.base import StoreError
from gateway.store.factory import connect_redis, redacted


class CacheUnavailable(ConnectionError):
    """The cache URL names a server that does not answer."""


async def open_cache(
    url: str,
    *,
    max_entries: int = 10_000,
    default_ttl: float = 300.0,
    key_prefix: str = "gwc:",
    timeout: float = 1.0,
    breaker_failures: int = 5,
    breaker_cooldown: float = 5.0,
) -> Cache:
    """Open the cache ``url`` names; ``max_entries`` applies to the in-memory cache only."""
    scheme = url.partition(":")[0].lower()
    if scheme == "memory" and url.lower() in ("memory:", "memory://"):
        return MemoryCache(max_entries=max_entries, default_ttl=default_ttl)
    if scheme in ("redis", "rediss"):
        if default_ttl <= 0:
            raise ValueError(f"default_ttl must be positive, not {default_ttl}")
        try:
            client = await connect_redis(url, timeout=timeout)
        except StoreError as exc:
            raise CacheUnavailable(f"cache unavailable: {exc}") from exc
        from gateway.cache.redis import RedisCache

        breaker = Breaker(threshold=breaker_failures, cooldown=breaker_cooldown)
        return RedisCache(client, key_prefix=key_prefix, default_ttl=default_ttl, breaker=breaker)
    raise ValueError(
        f"unknown cache URL {redacted(url)!r}: expected memory://, redis://host:port/db "
        "or rediss://host:port/db"
    )
