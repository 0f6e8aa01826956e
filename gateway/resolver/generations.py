"""The cache generation: a counter in the shared store that every resolution and DRS-object cache key carries, so
that bumping it (an admin purge, :mod:`gateway.resolver.purge`) retires every cached answer on **every replica**,
whatever cache each uses (a shared Redis cache or an in-process one per replica).

The counter is the revision of one store document (``cache.meta/generation``); each process re-reads it at most
every ``recheck`` seconds (the registry's own recheck interval), and sees its own bump at once. A store that
cannot be read keeps the generation last seen.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gateway.store import Store, StoreError

NAMESPACE = "cache.meta"
KEY = "generation"


@dataclass
class Generation:
    store: Store
    recheck: float = 1.0
    _value: int = field(default=0, init=False)
    _at: float = field(default=float("-inf"), init=False)

    async def current(self) -> int:
        """The generation (0 before any purge), re-read from the store at most every ``recheck`` seconds."""
        if time.monotonic() - self._at >= self.recheck:
            self._at = time.monotonic()
            try:
                found = await self.store.get(NAMESPACE, KEY)
            except StoreError:
                return self._value
            self._value = found.rev if found is not None else 0
        return self._value

    async def bump(self, reason: str) -> int:
        """A new generation, here at once and on the other replicas within ``recheck`` seconds."""
        self._value = await self.store.put(NAMESPACE, KEY, {"reason": reason})
        self._at = time.monotonic()
        return self._value
