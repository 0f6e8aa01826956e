"""Fixed-window counters over a :class:`~gateway.cache.base.Cache`: how many times something happened in the
current clock window (every ``seconds``, aligned on the epoch), counted with the cache's atomic ``incr``. Replicas
sharing the cache (Redis) share the count; with the in-process cache it is per process. The one rate-limit rule
of the gateway: the join limit per address and the fan-out budget per client both count this way.

**While the cache is unavailable these limits fail open, deliberately.** A Redis cache that fails is a miss
(:mod:`gateway.cache.redis`): ``incr`` answers a fresh counter, so every event counts as the window's first and no
client is refused for want of a count. Refusing every join and every fan-out instead (fail closed) would turn a
cache outage into a gateway outage; what stays bounded meanwhile is per request (bulk sizes, the resolution
deadline, the member call limits), and the join route still needs the store, which is the same Redis in a Redis
deployment (a dead Redis answers joins 503).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from gateway.cache.base import Cache


@dataclass(frozen=True, slots=True)
class WindowCount:
    count: int
    """Events in the current window, this one included."""
    retry_after: int
    """Whole seconds until the window ends (at least 1): when a refused client may try again."""


async def count_in_window(cache: Cache, name: str, seconds: int, *, now: float | None = None,
                          amount: int = 1) -> WindowCount:
    """Count ``amount`` events (one; ``0`` reads the count) under ``name`` in the current window of ``seconds`` (key
    ``<name>:<window number>``, expiring with the window)."""
    now = time.time() if now is None else now
    window = int(now // seconds)
    count = await cache.incr(f"{name}:{window}", amount, ttl=seconds)
    return WindowCount(count, int((window + 1) * seconds - now) + 1)
