"""Redis backend of the :class:`~gateway.cache.base.Cache` contract, shared by gateway replicas.

Every key is stored as ``{key_prefix}{key}`` with a millisecond expiry (``PX``). Redis evicts by
its own ``maxmemory`` policy; this class never holds values itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript

# KEYS: counter. ARGV: amount, ttl in ms. INCRBY, setting the expiry only if it created the key.
_INCR = """
local existed = redis.call('EXISTS', KEYS[1])
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if existed == 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return total
"""


@dataclass(eq=False)
class RedisCache:
    """A cache on one Redis client (which it owns and closes); keys live under ``key_prefix``."""

    client: aioredis.Redis
    key_prefix: str = "gwc:"
    default_ttl: float = 300.0
    _incr: AsyncScript = field(init=False)

    def __post_init__(self) -> None:
        self._ms(None)  # reject a bad default TTL now rather than at the first write
        self._incr = self.client.register_script(_INCR)

    def _ms(self, ttl: float | None) -> int:
        """``ttl`` seconds (the default when ``None``) as whole milliseconds, at least 1."""
        seconds = self.default_ttl if ttl is None else ttl
        if seconds <= 0:
            raise ValueError(f"ttl must be positive, not {seconds}")
        return max(1, math.ceil(seconds * 1000))

    def _key(self, key: str) -> str:
        return self.key_prefix + key

    async def get(self, key: str) -> bytes | None:
        value = await self.client.get(self._key(key))
        return value.encode() if isinstance(value, str) else value

    async def get_many(self, keys: list[str]) -> dict[str, bytes]:
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        values = await self.client.mget([self._key(k) for k in unique])
        return {
            key: value.encode() if isinstance(value, str) else value
            for key, value in zip(unique, values)
            if value is not None
        }

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        await self.client.set(self._key(key), value, px=self._ms(ttl))

    async def add(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        return bool(await self.client.set(self._key(key), value, px=self._ms(ttl), nx=True))

    async def delete(self, key: str) -> bool:
        return bool(await self.client.delete(self._key(key)))

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        try:
            total = await self._incr(keys=[self._key(key)], args=[amount, self._ms(ttl)])
        except aioredis.ResponseError as exc:
            if "not an integer" in str(exc):
                raise ValueError(f"cached value at {key!r} is not an integer") from exc
            raise
        return int(total)

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (aioredis.RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.client.aclose()
