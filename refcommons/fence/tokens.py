"""Fence-style JWTs: one persisted RS256 signing key, its JWKS, and issuing/verifying access tokens and API keys.

The RSA key is generated once and kept in the store (namespace :data:`KEYS_NAMESPACE`), created with
``expect_rev=ABSENT`` and re-read, so every process sharing a store (a server and an admin CLI on the
same SQLite file) signs and verifies with the same key. ``kid`` is the key's RFC 7638 thumbprint.

Tokens carry ``iss = <base_url>/user`` (the Gen3 SDK derives the commons' endpoint from it), ``aud``
(``[iss]``), ``sub`` and ``context.user.name`` (the username), ``iat``, ``exp``, ``jti``, ``scope`` and
``pur`` (``access`` or ``api_key``). Verification checks signature, ``kid``, ``exp``, ``iss``, ``aud``
and ``pur``.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.store import ABSENT, Conflict, Store

KEYS_NAMESPACE = "fence.keys"
RSA_KEY = "rs256"
ALGORITHM = "RS256"
ACCESS = "access"
API_KEY = "api_key"
SCOPES = ["openid", "user", "data", "fence"]


class CredentialError(Exception):
    """A token or API key is malformed, badly signed, expired, revoked, unknown or of the wrong kind."""


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair and its ``kid``."""

    private: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def from_pem(cls, pem: str) -> SigningKey:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the stored signing key is not an RSA key")
        return cls(key, cls.thumbprint(key.public_key()))

    @staticmethod
    def thumbprint(public: rsa.RSAPublicKey) -> str:
        """RFC 7638 JWK thumbprint (SHA-256, base64url) of an RSA public key."""
        numbers = public.public_numbers()
        canonical = orjson.dumps({"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)})
        return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()

    def private_pem(self) -> str:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    def public_pem(self) -> str:
        return (
            self.private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }


async def load_signing_key(store: Store) -> SigningKey:
    """The store's RSA signing key, generating and persisting it (race-safely) on first use."""
    stored = await store.get(KEYS_NAMESPACE, RSA_KEY)
    if stored is None:
        fresh = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = SigningKey(fresh, "").private_pem()
        try:
            doc = {"alg": ALGORITHM, "pem": pem, "created": int(time.time())}
            await store.put(KEYS_NAMESPACE, RSA_KEY, doc, expect_rev=ABSENT)
        except Conflict:
            pass  # another process won the race; use its key
        stored = await store.get(KEYS_NAMESPACE, RSA_KEY)
        if stored is None:
            raise RuntimeError("the signing key vanished right after being created")
    return SigningKey.from_pem(stored.doc["pem"])


@dataclass(frozen=True)
class TokenService:
    """Issues and verifies this commons' JWTs."""

    key: SigningKey
    issuer: str
    """``<base_url>/user``."""
    access_ttl: int

    @classmethod
    async def open(cls, store: Store, base_url: str, access_ttl: int) -> TokenService:
        return cls(await load_signing_key(store), f"{base_url.rstrip('/')}/user", access_ttl)

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self.key.jwk()]}

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
        return jwt.encode(claims, self.key.private, algorithm=ALGORITHM, headers={"kid": self.key.kid})

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
            header = jwt.get_unverified_header(token)
        except (jwt.PyJWTError, UnicodeError, ValueError):  # bytes that are not a JWT at all
            raise CredentialError("malformed token") from None
        if header.get("kid") != self.key.kid:
            raise CredentialError("token signed with an unknown key")
        try:
            claims = jwt.decode(
                token,
                self.key.private.public_key(),
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=self.issuer,
                options={"require": ["exp", "iat", "iss", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise CredentialError("token expired") from None
        except jwt.PyJWTError as exc:
            raise CredentialError(f"invalid token: {exc}") from None
        if claims.get("pur") != purpose:
            raise CredentialError(f"not an {purpose.replace('_', ' ')} token")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise CredentialError("token names no user")
        return claims
