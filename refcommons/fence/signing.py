"""HMAC-SHA256 signed download URLs: ``<storage_url>/storage/<guid>?protocol=..&expires=<unix>&user=..&sig=<hex>``.

The signature covers the guid, protocol, expiry and user, so changing any of them (or the signature)
makes :meth:`UrlSigner.verify` refuse the URL, as does an expiry in the past. The secret is generated
once and persisted in the store (namespace :data:`KEYS_NAMESPACE`, created with ``expect_rev=ABSENT``
then re-read), so every process sharing the store signs alike. Apart from :func:`load_signer`, pure.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from gateway.store import ABSENT, Conflict, Store

KEYS_NAMESPACE = "fence.keys"
SECRET_KEY = "url_signing"


class SignatureError(Exception):
    """A signed URL is malformed, tampered with or expired."""


def expiry_for(now: int, expires_in: int | None, *, default_ttl: int, max_ttl: int) -> int:
    """The unix expiry for a URL requested at ``now``: ``expires_in`` (or the default), capped at ``max_ttl``."""
    ttl = default_ttl if expires_in is None else expires_in
    if ttl <= 0:
        raise ValueError(f"expires_in must be positive, not {ttl}")
    return now + min(ttl, max_ttl)


@dataclass(frozen=True)
class UrlSigner:
    secret: bytes

    def _mac(self, guid: str, protocol: str, expires: int, user: str | None) -> str:
        message = "\n".join((guid, protocol, str(expires), user or "")).encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def sign(self, base_url: str, guid: str, protocol: str, expires_at: int, user: str | None) -> str:
        """The signed URL serving ``guid``'s bytes until unix time ``expires_at`` (``user``: ``None`` if anonymous)."""
        params = {"protocol": protocol, "expires": str(expires_at)}
        if user is not None:
            params["user"] = user
        params["sig"] = self._mac(guid, protocol, expires_at, user)
        return f"{base_url.rstrip('/')}/storage/{quote(guid, safe='/')}?{urlencode(params)}"

    def verify(
        self,
        guid: str,
        protocol: str | None,
        expires: str | None,
        user: str | None,
        sig: str | None,
        *,
        now: int | None = None,
    ) -> int:
        """The expiry of a valid signed URL's parameters; :class:`SignatureError` otherwise."""
        if not protocol or not expires or not sig:
            raise SignatureError("not a signed URL (protocol, expires and sig are required)")
        try:
            expiry = int(expires)
        except ValueError:
            raise SignatureError("malformed expiry") from None
        expected = self._mac(guid, protocol, expiry, user)
        if not hmac.compare_digest(expected.encode(), sig.encode()):
            raise SignatureError("bad signature")
        if expiry <= (int(time.time()) if now is None else now):
            raise SignatureError("signed URL expired")
        return expiry


async def load_signer(store: Store) -> UrlSigner:
    """The store's URL signer, generating and persisting its secret (race-safely) on first use."""
    stored = await store.get(KEYS_NAMESPACE, SECRET_KEY)
    if stored is None:
        try:
            doc = {"alg": "HS256", "secret": secrets.token_hex(32), "created": int(time.time())}
            await store.put(KEYS_NAMESPACE, SECRET_KEY, doc, expect_rev=ABSENT)
        except Conflict:
            pass  # another process won the race; use its secret
        stored = await store.get(KEYS_NAMESPACE, SECRET_KEY)
        if stored is None:
            raise RuntimeError("the URL-signing secret vanished right after being created")
    return UrlSigner(bytes.fromhex(stored.doc["secret"]))
