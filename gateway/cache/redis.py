"""Redis backend of the :class:`~gateway.cache.base.Cache` contract, shared by gateway replicas.

Every key is stored as ``{key_prefix}{key}`` with a millisecond expiry (``PX``). Redis evicts by
its own ``maxmemory`` policy; this class never holds values itself.

**A failing Redis is a miss, never an error.** A call that fails for want of Redis (connection refused or
reset, a socket timeout: the client is opened with a short one, ``cache.timeout``) answers as if the cache were
empty: ``get`` → ``None``, ``get_many`` → ``{}``, ``set``/``delete`` do nothing (``delete`` → ``False``),
``add`` → ``True`` (nothing held it), ``incr`` → ``amount`` (a fresh counter: every limit counted in the cache
*fails open* while Redis is down, see :mod:`gateway.cache.window`). Calls go through a per-process
:class:`~gateway.cache.breaker.Breaker`: after ``cache.breaker_failures`` consecutive failures Redis is not
called at all for ``cache.breaker_cooldown`` seconds, then one probe call decides; so a dead Redis costs nothing
per request. Each state change is logged once (``gateway.cache``), never each failed call. Errors that are
answers (a ``ResponseError`` such as a counter that is not an integer) are not failures of Redis and are raised
as before.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.cache.base import Write
from gateway.cache.breaker import Breaker, Transition
from gateway.core.metrics import current

log = logging.getLogger("gateway.cache")

T = TypeVar("T")

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)
"""What a Redis that is down, unreachable or too slow raises (``BusyLoadingError``, a Redis still loading its
data after a restart, is a ``ConnectionError``)."""

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
    breaker: Breaker = field(default_factory=Breaker)
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

    @property
    def available(self) -> bool:
        """``False`` while the breaker bypasses Redis (this process saw it fail)."""
        return not self.breaker.bypassing

    def _log(self, change: Transition | None, error: BaseException | None = None) -> None:
        if change is None:
            return
        current().breaker("cache", change.after == "open")
        if change.after == "open" and change.before == "closed":  # a failed probe (half-open → open) is quiet
            log.warning("cache unavailable: Redis bypassed (every cache call is a miss) for %.1f s after %d "
                        "consecutive failures, then probed", self.breaker.cooldown, change.failures,
                        extra={"breaker": "open", "error": type(error).__name__ if error else None})
        elif change.after == "closed":
            log.warning("cache available again: Redis answered the probe", extra={"breaker": "closed"})

    async def _call(self, call: Callable[[], Awaitable[T]], miss: T) -> T:
        """``call()``'s result, or ``miss`` when the breaker bypasses Redis or the call fails for want of it."""
        allowed, change = self.breaker.allow()
        self._log(change)
        if not allowed:
            return miss
        try:
            result = await call()
        except UNAVAILABLE as exc:
            self._log(self.breaker.failed(), exc)
            return miss
        except aioredis.ResponseError:  # an answer (an error reply): Redis is there
            self._log(self.breaker.succeeded())
            raise
        except BaseException:  # cancelled, or a bug: no outcome; a probe in flight is released
            self.breaker.released()
            raise
        self._log(self.breaker.succeeded())
        return result

    async def get(self, key: str) -> bytes | None:
        value = await self._call(lambda: self.client.get(self._key(key)), None)
        return value.encode() if isinstance(value, str) else value

    async def get_many(self, keys: list[str]) -> dict[str, bytes]:
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        none: list[bytes | str | None] = []
        values = await self._call(lambda: self.client.mget([self._key(k) for k in unique]), none)
        return {
            key: value.encode() if isinstance(value, str) else value
            for key, value in zip(unique, values)
            if value is not None
        }

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        ms = self._ms(ttl)
        await self._call(lambda: self.client.set(self._key(key), value, px=ms), None)

    async def set_many(self, writes: Sequence[Write]) -> None:
        """One pipeline (not a transaction) of ``SET … PX``: one round trip for the lot."""
        if not writes:
            return
        commands = [(self._key(key), value, self._ms(ttl)) for key, value, ttl in writes]

        async def send() -> None:
            async with self.client.pipeline(transaction=False) as pipe:
                for key, value, ms in commands:
                    pipe.set(key, value, px=ms)
                await pipe.execute()

        await self._call(send, None)

    async def add(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        ms = self._ms(ttl)
        return bool(await self._call(lambda: self.client.set(self._key(key), value, px=ms, nx=True), True))

    async def delete(self, key: str) -> bool:
        return bool(await self._call(lambda: self.client.delete(self._key(key)), 0))

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        ms = self._ms(ttl)
        try:
            total = await self._call(lambda: self._incr(keys=[self._key(key)], args=[amount, ms]), amount)
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
