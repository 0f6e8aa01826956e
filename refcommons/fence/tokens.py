"""Fence-style JWTs: one persisted RS256 signing key, its JWKS, and issuing/verifying access tokens and API keys.

The RSA key is generated once and kept in the store (namespace :data:`KEYS_NAMESPACE`), created with
``expect_rev=ABSENT`` and re-read, so every process sharing a store (a server and an admin CLI on the
same SQLite file) signs and verifies with the same key. ``kid`` is the key's RFC 7638 thumbprint.

Tokens carry ``iss`` = fence's public URL (``<base_url>/user`` under Gen3's proxy, from which the Gen3 SDK
derives the commons' endpoint; :attr:`~refcommons.settings.CommonsSettings.fence_url`), ``aud``
(``[iss]``), ``sub`` and ``context.user.name`` (the username), ``iat``, ``exp``, ``jti``, ``scope`` and
``pur`` (``access`` or ``api_key``), under the header ``{"alg": "RS256", "kid", "typ": "JWT"}``. Verification
checks the JWS strictly (compact form, RS256 only, :func:`gateway.passports.parse_compact`), ``kid``, the signature,
``exp``, ``iat``/``nbf`` (no leeway), ``iss``, ``aud`` and ``pur``. Signing and verifying go through the gateway's
one JOSE layer (:mod:`gateway.passports`); the tokens stay ordinary JWTs that the Gen3 SDK reads.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from gateway.passports import (
    RS256,
    JwsError,
    MalformedJws,
    SigningKey,
    generate_key,
    parse_compact,
    private_pem,
    sign_compact,
    verify_signature,
)
from gateway.store import ABSENT, Conflict, Store

KEYS_NAMESPACE = "fence.keys"
RSA_KEY = "rs256"
ALGORITHM = RS256
ACCESS = "access"
API_KEY = "api_key"
SCOPES = ["openid", "user", "data", "fence"]
TYP = "JWT"
MAX_TOKEN_BYTES = 16 * 1024
"""Far more than a fence token needs (about 1 kB): anything longer is not one of ours."""
REQUIRED_CLAIMS = ("exp", "iat", "iss", "sub", "jti")


class CredentialError(Exception):
    """A token or API key is malformed, badly signed, expired, revoked, unknown or of the wrong kind."""


async def load_signing_key(store: Store) -> SigningKey:
    """The store's RSA signing key, generating and persisting it (race-safely) on first use."""
    stored = await store.get(KEYS_NAMESPACE, RSA_KEY)
    if stored is None:
        pem = private_pem(generate_key(ALGORITHM)).decode("ascii")
        try:
            doc = {"alg": ALGORITHM, "pem": pem, "created": int(time.time())}
            await store.put(KEYS_NAMESPACE, RSA_KEY, doc, expect_rev=ABSENT)
        except Conflict:
            pass  # another process won the race; use its key
        stored = await store.get(KEYS_NAMESPACE, RSA_KEY)
        if stored is None:
            raise RuntimeError("the signing key vanished right after being created")
    return SigningKey.from_pem(stored.doc["pem"].encode("ascii"), ALGORITHM)


@dataclass(frozen=True)
class TokenService:
    """Issues and verifies this commons' JWTs."""

    key: SigningKey
    issuer: str
    """Fence's public URL (``<base_url>/user`` under Gen3's proxy)."""
    access_ttl: int

    @classmethod
    async def open(cls, store: Store, issuer: str, access_ttl: int) -> TokenService:
        return cls(await load_signing_key(store), issuer.rstrip("/"), access_ttl)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self.key.public_jwk]}

    def _issue(self, purpose: str, user: str, jti: str, iat: int, exp: int) -> str:
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": [self.issuer],
            "sub": user,
            "iat": iat,
            "exp": exp,
            "jti": jti,
            "scope": list(SCOPES),
            "pur": purpose,
            "context": {"user": {"name": user}},
        }
        return sign_compact(self.key, {"typ": TYP}, claims)

    def issue_access_token(self, user: str, *, now: int | None = None, ttl: int | None = None) -> str:
        """A signed access token for ``user`` (``now``/``ttl`` override the clock and lifetime)."""
        iat = int(time.time()) if now is None else now
        return self._issue(ACCESS, user, uuid.uuid4().hex, iat, iat + (self.access_ttl if ttl is None else ttl))

    def issue_api_key(self, user: str, key_id: str, *, issued_at: int, expires_at: int) -> str:
        """A signed API key whose ``jti`` is ``key_id``."""
        return self._issue(API_KEY, user, key_id, issued_at, expires_at)

    def verify(self, token: str, purpose: str) -> dict[str, Any]:
        """The claims of a valid token of kind ``purpose``; :class:`CredentialError` otherwise."""
        try:
            parsed = parse_compact(token, max_bytes=MAX_TOKEN_BYTES, algorithms=(ALGORITHM,))
        except MalformedJws as exc:  # bytes that are not a JWT at all
            raise CredentialError(f"malformed token: {exc.reason}") from None
        except JwsError as exc:
            raise CredentialError(f"invalid token: {exc.reason}") from None
        if parsed.header.get("kid") != self.key.kid:
            raise CredentialError("token signed with an unknown key")
        try:
            verify_signature(parsed, self.key.private.public_key())
        except JwsError as exc:
            raise CredentialError(f"invalid token: {exc.reason}") from None
        claims = parsed.payload
        self._check_claims(claims, int(time.time()))
        if claims.get("pur") != purpose:
            raise CredentialError(f"not an {purpose.replace('_', ' ')} token")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise CredentialError("token names no user")
        return claims

    def _check_claims(self, claims: dict[str, Any], now: int) -> None:
        """The registered claims of a verified token: present, typed, issued by us, for us, and current."""
        for name in REQUIRED_CLAIMS:
            if name not in claims:
                raise CredentialError(f"invalid token: {name} is missing")
        times = {name: claims[name] for name in ("exp", "iat", "nbf") if name in claims}
        if any(isinstance(v, bool) or not isinstance(v, int) for v in times.values()):
            raise CredentialError("invalid token: exp, iat and nbf must be integers")
        if claims["exp"] <= now:
            raise CredentialError("token expired")
        if claims["iat"] > now or claims.get("nbf", now) > now:
            raise CredentialError("invalid token: not yet valid")
        if claims["iss"] != self.issuer:
            raise CredentialError("invalid token: issued by another commons")
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or self.issuer not in audiences:
            raise CredentialError("invalid token: not for this commons")
