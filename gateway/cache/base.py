"""The cache contract: bounded, expiring byte values shared by gateway replicas (Redis) or held per
process (in-memory LRU). Values are ``bytes``; callers encode (orjson) and decode themselves.

A cache may forget anything at any time (eviction, expiry, restart): it is never the only copy
of data that matters. Nor does it fail: a backend that does not answer makes every call a miss or a no-op
(the Redis backend, behind a circuit breaker: :mod:`gateway.cache.redis`), so callers never handle a cache error.
Both backends pass ``tests/gateway/cache/test_cache_contract.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

Write = tuple[str, bytes, float | None]
"""One write of :meth:`Cache.set_many`: ``(key, value, ttl)`` (the cache's default TTL when ``None``)."""


@runtime_checkable
class Cache(Protocol):
    async def get(self, key: str) -> bytes | None:
        """The value, or ``None`` if absent or expired."""

    async def get_many(self, keys: list[str]) -> dict[str, bytes]:
        """The values present among ``keys``."""

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Store ``value`` for ``ttl`` seconds (the cache's default TTL when ``None``)."""

    async def set_many(self, writes: Sequence[Write]) -> None:
        """Store each ``(key, value, ttl)`` as :meth:`set` would, in one round trip (a later write of the same key
        wins). Not atomic: a failure midway may leave some written."""

    async def add(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        """Store only if absent; ``True`` if stored (a building block for locks and de-duplication)."""

    async def delete(self, key: str) -> bool:
        """Forget ``key``; ``True`` if it was present."""

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        """Add to an integer counter (created at 0); the TTL is set when the counter is created."""

    async def ping(self) -> bool:
        """``True`` when the backend answers."""

    async def close(self) -> None:
        """Release connections."""
