"""Redis backend of the :class:`~gateway.store.base.Store` contract, on ``redis.asyncio``.

Key layout, every key under ``key_prefix`` (default ``gw:``):

* ``{prefix}doc:{namespace}``: a hash, field = document key, value = ``{"rev": n, "doc": {...}}``
  as compact JSON with ``rev`` first (the Lua scripts read the revision from that fixed shape);
* ``{prefix}idx:{namespace}``: a sorted set of the same keys, all scores 0, for ordered ``scan``
  with ``ZRANGEBYLEX``;
* ``{prefix}log:{log}``: a stream, one field ``d`` holding the entry's JSON.

A Redis that does not answer (connection refused or reset, the client's socket timeout) raises
:class:`~gateway.store.base.StoreUnavailable` from every method (``ping`` answers ``False``), never a Redis
client exception.

Conditional writes and scans run as Lua scripts, so each is atomic. Stream ids ``ms-n`` are
exposed zero-padded (``SEQ_WIDTH`` digits per part) so that string order equals append order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.store.base import (
    ABSENT,
    ANY,
    SEQ_WIDTH,
    Conflict,
    Document,
    LogEntry,
    Stored,
    check_limit,
    check_rev,
    unavailable_on,
)

# KEYS: hash, index. ARGV: key, expect_rev, doc JSON. Returns {1, new rev} or {0, current rev}.
_PUT = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local rev = 0
if cur then rev = tonumber(string.match(cur, '^{"rev":(%d+),')) end
local expect = tonumber(ARGV[2])
if (expect == 0 and cur) or (expect > 0 and rev ~= expect) then return {0, rev} end
local new = rev + 1
redis.call('HSET', KEYS[1], ARGV[1], '{"rev":' .. string.format('%d', new) .. ',"doc":' .. ARGV[3] .. '}')
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return {1, new}
"""

# KEYS: hash, index. ARGV: key, expect_rev. Returns {1, 1 if deleted else 0} or {0, current rev}.
_DELETE = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local rev = 0
if cur then rev = tonumber(string.match(cur, '^{"rev":(%d+),')) end
local expect = tonumber(ARGV[2])
if (expect == 0 and cur) or (expect > 0 and rev ~= expect) then return {0, rev} end
if not cur then return {1, 0} end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return {1, 1}
"""

# KEYS: hash, index. ARGV: min, max, limit. Returns key, value, key, value, ... in key order.
_SCAN = """
local keys = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, k in ipairs(keys) do
  out[#out + 1] = k
  out[#out + 1] = redis.call('HGET', KEYS[1], k)
end
return out
"""


UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError, TimeoutError)
"""What a Redis that is down, unreachable, still loading (``BusyLoadingError``) or too slow raises."""
_guarded = unavailable_on(UNAVAILABLE, "Redis")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _stored(key: str, raw: bytes | str) -> Stored:
    held = orjson.loads(raw)
    return Stored(key, int(held["rev"]), held["doc"])


def _padded(stream_id: bytes | str) -> str:
    ms, n = _text(stream_id).split("-")
    return f"{int(ms):0{SEQ_WIDTH}d}-{int(n):0{SEQ_WIDTH}d}"


def _stream_id(seq: str) -> str:
    """A padded (or plain) sequence id back in Redis form, ``ms-n``."""
    try:
        ms, n = seq.split("-")
        return f"{int(ms)}-{int(n)}"
    except ValueError:
        raise ValueError(f"not a sequence id of this store: {seq!r}") from None


def _field(fields: dict[Any, Any]) -> bytes | str:
    """The ``d`` field of a stream entry, whether the client decodes responses or not."""
    value: bytes | str = fields[b"d"] if b"d" in fields else fields["d"]
    return value


def _conflict(namespace: str, key: str, expect_rev: int, actual: int) -> Conflict:
    return Conflict(namespace, key, None if expect_rev == ABSENT else expect_rev, actual or None)


@dataclass(eq=False)
class RedisStore:
    """A store on one Redis client (which it owns and closes); every key starts with ``key_prefix``."""

    client: aioredis.Redis
    key_prefix: str = "gw:"
    _put: AsyncScript = field(init=False)
    _delete: AsyncScript = field(init=False)
    _scan: AsyncScript = field(init=False)

    def __post_init__(self) -> None:
        self._put = self.client.register_script(_PUT)
        self._delete = self.client.register_script(_DELETE)
        self._scan = self.client.register_script(_SCAN)

    def _keys(self, namespace: str) -> list[str]:
        return [f"{self.key_prefix}doc:{namespace}", f"{self.key_prefix}idx:{namespace}"]

    def _log_key(self, log: str) -> str:
        return f"{self.key_prefix}log:{log}"

    @_guarded
    async def get(self, namespace: str, key: str) -> Stored | None:
        raw = await self.client.hget(self._keys(namespace)[0], key)
        return None if raw is None else _stored(key, raw)

    @_guarded
    async def get_many(self, namespace: str, keys: list[str]) -> dict[str, Stored]:
        unique = list(dict.fromkeys(keys))
        if not unique:
            return {}
        values = await self.client.hmget(self._keys(namespace)[0], unique)
        return {k: _stored(k, raw) for k, raw in zip(unique, values) if raw is not None}

    @_guarded
    async def put(self, namespace: str, key: str, doc: Document, *, expect_rev: int = ANY) -> int:
        check_rev(expect_rev)
        ok, rev = await self._put(keys=self._keys(namespace), args=[key, expect_rev, orjson.dumps(doc)])
        if not ok:
            raise _conflict(namespace, key, expect_rev, int(rev))
        return int(rev)

    @_guarded
    async def delete(self, namespace: str, key: str, *, expect_rev: int = ANY) -> bool:
        check_rev(expect_rev)
        ok, value = await self._delete(keys=self._keys(namespace), args=[key, expect_rev])
        if not ok:
            raise _conflict(namespace, key, expect_rev, int(value))
        return bool(value)

    @_guarded
    async def scan(
        self, namespace: str, *, prefix: str = "", after: str = "", limit: int = 100
    ) -> list[Stored]:
        check_limit(limit)
        low: bytes = b"(" + after.encode() if after >= prefix else b"[" + prefix.encode()
        # 0xFF never occurs in UTF-8, so prefix + 0xFF is above every key starting with prefix
        high: bytes = b"[" + prefix.encode() + b"\xff" if prefix else b"+"
        flat = await self._scan(keys=self._keys(namespace), args=[low, high, limit])
        pairs = zip(flat[0::2], flat[1::2])
        return [_stored(_text(key), raw) for key, raw in pairs if raw is not None]

    @_guarded
    async def count(self, namespace: str) -> int:
        return int(await self.client.hlen(self._keys(namespace)[0]))

    @_guarded
    async def append(self, log: str, doc: Document) -> str:
        stream_id = await self.client.xadd(self._log_key(log), {"d": orjson.dumps(doc)})
        return _padded(stream_id)

    @_guarded
    async def read_log(self, log: str, *, after: str | None = None, limit: int = 100) -> list[LogEntry]:
        check_limit(limit)
        start = "-" if after is None else "(" + _stream_id(after)
        entries = cast(
            "list[tuple[bytes | str, dict[Any, Any]]]",
            await self.client.xrange(self._log_key(log), min=start, max="+", count=limit),
        )
        return [LogEntry(_padded(sid), orjson.loads(_field(fields))) for sid, fields in entries]

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (aioredis.RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.client.aclose()
