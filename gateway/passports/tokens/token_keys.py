"""The gateway's own signing keys for gateway tokens: kept in the shared store, rotated, published as a JWKS.

Replicas share one key ring through the store (namespace :data:`NAMESPACE`, one document), never through process
memory: whichever replica first finds the current key older than ``rotate_after`` writes a new one with a
conditional write (the store's revision), and a replica that loses that race simply reloads. A replica signs with
its copy of the ring, re-read every :data:`RELOAD_SECONDS`; the published JWKS is always read from the store, so a
key is public before any member can see a token signed with it. A replaced key stays published until every token
it may have signed has expired (``gateway_token.MAX_TTL`` plus the reload interval and a margin), then it is dropped
from the ring.

Private keys are stored as PEM in the store, which already holds the members' credentials: protect it accordingly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.passports.jose.jwk import RS256
from gateway.passports.jose.signing import SigningKey, generate, load_private_pem, private_pem
from gateway.passports.tokens.gateway_token import MAX_TTL
from gateway.store import Store
from gateway.store.base import ABSENT, Conflict

NAMESPACE = "gateway_token_keys"
RING = "ring"
RELOAD_SECONDS = 30
RETIRE_MARGIN = 60
JWKS_PATH = "/.well-known/jwks.json"


@dataclass(frozen=True)
class _Entry:
    key: SigningKey
    created: int
    replaced: int | None
    """When a newer key took over (``None``: this is the current key)."""


class TokenKeyRing:
    """Signing keys for gateway tokens, in ``store``; ``rotate_after`` seconds per key."""

    def __init__(self, store: Store, rotate_after: int, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.rotate_after = rotate_after
        self.clock = clock
        self._entries: list[_Entry] = []
        self._rev = 0
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def keep_published(self) -> int:
        """Seconds a replaced key stays in the JWKS: longer than any token it signed can live."""
        return MAX_TTL + RELOAD_SECONDS + RETIRE_MARGIN

    async def signing_key(self) -> SigningKey:
        """The current key, rotating it first when it is due (one writer wins across replicas)."""
        now = int(self.clock())
        current = self._current()
        if current is None or self._stale(now) or current.created + self.rotate_after <= now:
            async with self._lock:
                await self._load()
                current = self._current()
                if current is None or current.created + self.rotate_after <= now:
                    await self._rotate(now)
                    current = self._current()
        assert current is not None
        return current.key

    async def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The public keys (current and recently replaced), read from the store."""
        stored = await self.store.get(NAMESPACE, RING)
        now = int(self.clock())
        items = (stored.doc.get("keys") or []) if stored is not None else []
        return {"keys": [item["jwk"] for item in items
                         if item.get("replaced") is None or now < item["replaced"] + self.keep_published]}

    # --- internals --------------------------------------------------------------------------------------------

    def _current(self) -> _Entry | None:
        return next((e for e in self._entries if e.replaced is None), None)

    def _stale(self, now: int) -> bool:
        return self._loaded_at is None or now - self._loaded_at >= RELOAD_SECONDS

    def _published(self, entry: _Entry, now: int) -> bool:
        return entry.replaced is None or now < entry.replaced + self.keep_published

    async def _load(self) -> None:
        stored = await self.store.get(NAMESPACE, RING)
        known = {e.key.kid: e.key for e in self._entries}
        self._entries = _decode(stored.doc, known) if stored is not None else []
        self._rev = stored.rev if stored is not None else 0
        self._loaded_at = self.clock()

    async def _rotate(self, now: int) -> None:
        """Write a ring with a new current key; on losing a race to another replica, take theirs."""
        new = SigningKey.of(await asyncio.to_thread(generate, RS256), RS256)
        kept = [e if e.replaced is not None else _Entry(e.key, e.created, now) for e in self._entries]
        entries = [_Entry(new, now, None), *(e for e in kept if self._published(e, now))]
        try:
            self._rev = await self.store.put(NAMESPACE, RING, _encode(entries),
                                             expect_rev=self._rev if self._rev else ABSENT)
            self._entries = entries
            self._loaded_at = self.clock()
        except Conflict:
            await self._load()


def _encode(entries: list[_Entry]) -> dict[str, Any]:
    return {"keys": [{"kid": e.key.kid, "alg": e.key.alg, "pem": private_pem(e.key.private).decode("ascii"),
                      "jwk": e.key.public_jwk, "created": e.created, "replaced": e.replaced} for e in entries]}


def _decode(doc: dict[str, Any], known: dict[str, SigningKey]) -> list[_Entry]:
    """The ring's entries; keys already loaded (by ``kid``) are reused: parsing a private key is slow."""
    out: list[_Entry] = []
    for item in doc.get("keys") or []:
        key = known.get(item["kid"])
        if key is None:
            alg = item.get("alg", RS256)
            key = SigningKey.of(load_private_pem(item["pem"].encode("ascii"), alg), alg)
        out.append(_Entry(key, int(item["created"]), item.get("replaced")))
    return out
