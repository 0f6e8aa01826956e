"""Fixed-window counters over a :class:`~gateway.cache.base.Cache`: how many times something happened in the
current clock window (every ``seconds``, aligned on the epoch), counted with the cache's atomic ``incr``. Replicas
sharing the cache (Redis) share the count; with the in-process cache it is per process. The one rate-limit rule
of the gateway: the join limit per address and the fan-out budget per client both count this way.
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


async def count_in_window(cache: Cache, name: str, seconds: int, *, now: float | None = None) -> WindowCount:
    """Count one event under ``name`` in the current window of ``seconds`` (key ``<name>:<window number>``, expiring
    with the window)."""
    now = time.time() if now is None else now
    window = int(now // seconds)
    count = await cache.incr(f"{name}:{window}", ttl=seconds)
    return WindowCount(count, int((window + 1) * seconds - now) + 1)
