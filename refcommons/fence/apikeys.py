"""API-key lifecycle over the store: create (Gen3 credentials JSON), list per user, revoke, and check.

An API key is a JWT (``pur: api_key``, ``jti`` = key id, see :mod:`refcommons.fence.tokens`); the store keeps
one record per key in namespace :data:`NAMESPACE` (``{key_id, user, created, expires, revoked}``), so a
key stays valid only while its record exists and is not revoked, whichever process minted it.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass

from gateway.store import ABSENT, Conflict, Store
from refcommons.fence.tokens import API_KEY, CredentialError, TokenService

NAMESPACE = "fence.api_keys"
_PAGE = 500


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    key_id: str
    user: str
    created: int
    """Unix seconds."""
    expires: int
    """Unix seconds."""
    revoked: bool = False

    def active(self, now: int) -> bool:
        return not self.revoked and self.expires > now


class NoSuchKey(LookupError):
    """No API key with that id (or none the caller may act on)."""


@dataclass(frozen=True)
class ApiKeys:
    store: Store
    tokens: TokenService
    default_ttl: int

    async def create(self, user: str, ttl_seconds: int | None = None) -> tuple[dict[str, str], ApiKeyRecord]:
        """Mint a key for ``user``: Gen3's credentials ``{"api_key", "key_id"}`` and the stored record."""
        ttl = self.default_ttl if ttl_seconds is None else ttl_seconds
        if ttl <= 0:
            raise ValueError(f"an API key's lifetime must be positive, not {ttl}")
        now = int(time.time())
        record = ApiKeyRecord(key_id=uuid.uuid4().hex, user=user, created=now, expires=now + ttl)
        await self.store.put(NAMESPACE, record.key_id, asdict(record), expect_rev=ABSENT)
        token = self.tokens.issue_api_key(user, record.key_id, issued_at=now, expires_at=record.expires)
        return {"api_key": token, "key_id": record.key_id}, record

    async def get(self, key_id: str) -> ApiKeyRecord | None:
        stored = await self.store.get(NAMESPACE, key_id)
        return ApiKeyRecord(**stored.doc) if stored is not None else None

    async def list_keys(self, user: str | None = None) -> list[ApiKeyRecord]:
        """Every key (of ``user``, if given), revoked and expired ones included, by key id."""
        out: list[ApiKeyRecord] = []
        after = ""
        while True:
            page = await self.store.scan(NAMESPACE, after=after, limit=_PAGE)
            out.extend(r for r in (ApiKeyRecord(**s.doc) for s in page) if user is None or r.user == user)
            if len(page) < _PAGE:
                return out
            after = page[-1].key

    async def revoke(self, key_id: str, user: str | None = None) -> ApiKeyRecord:
        """Revoke ``key_id`` (only if it belongs to ``user``, when given); :class:`NoSuchKey` otherwise."""
        while True:
            stored = await self.store.get(NAMESPACE, key_id)
            if stored is None or (user is not None and stored.doc.get("user") != user):
                raise NoSuchKey(key_id)
            record = ApiKeyRecord(**{**stored.doc, "revoked": True})
            try:
                await self.store.put(NAMESPACE, key_id, asdict(record), expect_rev=stored.rev)
            except Conflict:
                continue  # written concurrently: re-read and retry
            return record

    async def check(self, api_key: str) -> ApiKeyRecord:
        """The record of a valid, known, unrevoked, unexpired key; :class:`CredentialError` otherwise."""
        claims = self.tokens.verify(api_key, API_KEY)
        record = await self.get(str(claims["jti"]))
        if record is None:
            raise CredentialError("unknown API key")
        if record.user != claims["sub"]:
            raise CredentialError("API key does not match its record")
        if record.revoked:
            raise CredentialError("API key revoked")
        if record.expires <= int(time.time()):
            raise CredentialError("API key expired")
        return record
