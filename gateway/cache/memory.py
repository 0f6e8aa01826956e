"""In-process backend of the :class:`~gateway.cache.base.Cache` contract: a bounded LRU with expiry.

Entries live in an :class:`~collections.OrderedDict`, least recently used first; reads and writes
move an entry to the end, and a write that overflows ``max_entries`` drops entries from the front.
Expired entries are dropped when met. The clock is injectable so tests never sleep.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gateway.cache.base import Write

_INTEGER = re.compile(rb"-?[0-9]+")  # what a counter's value looks like, as Redis stores it


@dataclass(slots=True)
class _Entry:
    """One cached value and the clock reading at which it expires."""

    value: bytes
    expires_at: float


def _checked_ttl(ttl: float) -> float:
    if ttl <= 0:
        raise ValueError(f"ttl must be positive, not {ttl}")
    return ttl


@dataclass(eq=False)
class MemoryCache:
    """At most ``max_entries`` values, each kept ``default_ttl`` seconds unless told otherwise."""

    max_entries: int = 10_000
    default_ttl: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _entries: OrderedDict[str, _Entry] = field(default_factory=OrderedDict, init=False)

    def __post_init__(self) -> None:
        if self.max_entries < 1:
            raise ValueError(f"max_entries must be positive, not {self.max_entries}")
        _checked_ttl(self.default_ttl)

    def __len__(self) -> int:
        """How many entries are held, expired ones not yet dropped included."""
        return len(self._entries)

    def _live(self, key: str) -> _Entry | None:
        """The unexpired entry at ``key``, marked most recently used; drops an expired one."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self.clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def _store(self, key: str, value: bytes, ttl: float | None) -> None:
        self._put(key, value, self.clock() + _checked_ttl(self.default_ttl if ttl is None else ttl))

    def _put(self, key: str, value: bytes, expires_at: float) -> None:
        self._entries[key] = _Entry(bytes(value), expires_at)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def get(self, key: str) -> bytes | None:
        entry = self._live(key)
        return None if entry is None else entry.value

    async def get_many(self, keys: list[str]) -> dict[str, bytes]:
        found = {key: self._live(key) for key in keys}
        return {key: entry.value for key, entry in found.items() if entry is not None}

    async def set(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        self._store(key, value, ttl)

    async def set_many(self, writes: Sequence[Write]) -> None:
        now = self.clock()
        timed = [(key, value, now + _checked_ttl(self.default_ttl if ttl is None else ttl))
                 for key, value, ttl in writes]
        for key, value, expires_at in timed:  # every TTL checked before anything is written
            self._put(key, value, expires_at)

    async def add(self, key: str, value: bytes, *, ttl: float | None = None) -> bool:
        if self._live(key) is not None:
            return False
        self._store(key, value, ttl)
        return True

    async def delete(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        return entry is not None and entry.expires_at > self.clock()

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = None) -> int:
        entry = self._live(key)
        if entry is None:
            self._store(key, str(amount).encode(), ttl)
            return amount
        if _INTEGER.fullmatch(entry.value) is None:
            raise ValueError(f"cached value at {key!r} is not an integer")
        total = int(entry.value) + amount
        entry.value = str(total).encode()
        return total

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._entries.clear()
