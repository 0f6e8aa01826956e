"""Gateway tokens: short-lived RS256 JWTs the gateway signs for one member and one object, after it has decided
from the caller's Passports that the object may be reached (member auth mode ``gateway_token``).

Pure: claims in, claims out; signing takes a :class:`~gateway.passports.signing.SigningKey`, checking takes a
parsed token whose signature the caller has verified with the issuer's published key
(``<issuer>/.well-known/jwks.json``). The wire format:

* header ``{"alg": "RS256", "typ": "at+jwt", "kid": <RFC 7638 thumbprint>}``;
* ``iss`` the gateway (its public base URL), ``aud`` the member (one string), ``sub`` the Passport's subject and
  ``passport_iss`` its broker, ``iat``, ``exp``, ``jti``, ``scope: "ga4gh_drs_access"``;
* ``drs_object_id``: the object as the member knows it (e.g. ``dg.REF0/<uuid>``); the token is good for that object
  only;
* ``authz``: the object's resources the gateway found covered by the Passports' grants (all of them);
* ``access_until``: when the decision ends (rule 41: the earliest expiry of the Passports and grants used). The token
  expires at or before it, and so must every signed URL issued on its strength.

The member accepts the token for a download of ``drs_object_id`` only when every one of the object's own ``authz``
resources is among the token's ``authz`` (:func:`covers`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.passports import jws
from gateway.passports.signing import SigningKey, sign_compact

TYP = "at+jwt"
SCOPE = "ga4gh_drs_access"
ALGORITHMS = frozenset({jws.RS256})
MAX_TOKEN_BYTES = 16 * 1024
MAX_TTL = 300
"""No gateway token lives longer than this, whatever the configuration says."""
MAX_RESOURCES = 64


class GatewayTokenError(Exception):
    """The token is not a usable gateway token: ``status`` 401 (malformed, untrusted, expired, wrong audience) or
    403 (valid, but not for this object or not covering its resources). Messages never echo token contents."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class GatewayGrant:
    """A checked gateway token: what the gateway vouches for."""

    issuer: str
    audience: str
    subject: str
    passport_issuer: str
    object_id: str
    resources: tuple[str, ...]
    issued_at: int
    expires: int
    access_until: int
    jti: str


def claims(
    *,
    issuer: str,
    audience: str,
    object_id: str,
    resources: Sequence[str],
    identity: tuple[str, str],
    now: int,
    ttl: int,
    access_until: int,
    jti: str | None = None,
) -> dict[str, Any]:
    """The payload of a gateway token. ``exp`` is ``now + ttl`` (``ttl`` capped at :data:`MAX_TTL`), never past
    ``access_until``; :class:`ValueError` if the decision has already ended."""
    if access_until <= now:
        raise ValueError("the access decision has already ended")
    if not resources:
        raise ValueError("a gateway token names the object's resources")
    exp = min(now + max(1, min(ttl, MAX_TTL)), access_until)
    return {
        "iss": issuer, "aud": audience, "sub": identity[1], "passport_iss": identity[0], "iat": now, "exp": exp,
        "jti": jti or uuid.uuid4().hex, "scope": SCOPE, "drs_object_id": object_id,
        "authz": list(dict.fromkeys(resources)), "access_until": access_until,
    }


def mint(key: SigningKey, payload: dict[str, Any]) -> str:
    """The signed compact token (RS256 keys only)."""
    if key.alg not in ALGORITHMS:
        raise ValueError("gateway tokens are RS256")
    return sign_compact(key, {"typ": TYP}, payload)


def parse(token: object) -> jws.ParsedJws:
    """Strict parse (rules 6–11: compact JWS, RS256 only, ``kid`` required, no ``crit``) plus ``typ: at+jwt``.
    The signature is not verified here."""
    try:
        parsed = jws.parse_compact(token, max_bytes=MAX_TOKEN_BYTES, algorithms=ALGORITHMS)
        typ = parsed.header.get("typ")
        if not isinstance(typ, str) or jws.normalise_typ(typ) != TYP:
            raise jws.HeaderRejected(12, "typ is not at+jwt")
    except jws.JwsError as exc:
        raise GatewayTokenError(401, f"not a gateway token: {exc.reason}") from None
    return parsed


def issuer_of(parsed: jws.ParsedJws) -> str | None:
    """The claimed (unverified) ``iss``: use it only to pick a *configured* gateway's keys."""
    iss = parsed.payload.get("iss")
    return iss if isinstance(iss, str) else None


def check(parsed: jws.ParsedJws, now: int, *, issuer: str, audience: str, leeway: int = 30) -> GatewayGrant:
    """The claims of a token whose signature the caller verified with ``issuer``'s key."""
    p = parsed.payload

    def need(name: str, kind: type | tuple[type, ...]) -> Any:
        value = p.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise GatewayTokenError(401, f"gateway token claim {name} is missing or mistyped")
        return value

    if need("iss", str) != issuer:
        raise GatewayTokenError(401, "gateway token from another issuer")
    if need("aud", str) != audience:
        raise GatewayTokenError(401, "gateway token for another audience")
    if need("scope", str) != SCOPE:
        raise GatewayTokenError(401, "gateway token has the wrong scope")
    iat, exp, until = need("iat", int), need("exp", int), need("access_until", int)
    if iat > now + leeway:
        raise GatewayTokenError(401, "gateway token issued in the future")
    if exp <= now - leeway or until <= now:
        raise GatewayTokenError(401, "gateway token has expired")
    if exp <= iat or exp - iat > MAX_TTL or exp > until:
        raise GatewayTokenError(401, "gateway token lifetime is too long")
    resources = need("authz", list)
    if not resources or len(resources) > MAX_RESOURCES or not all(isinstance(r, str) and r for r in resources):
        raise GatewayTokenError(401, "gateway token authz is not a list of resources")
    return GatewayGrant(
        issuer=issuer, audience=audience, subject=need("sub", str), passport_issuer=need("passport_iss", str),
        object_id=need("drs_object_id", str), resources=tuple(resources), issued_at=iat, expires=exp,
        access_until=until, jti=need("jti", str),
    )


def covers(grant: GatewayGrant, object_id: str, resources: Iterable[str]) -> bool:
    """Is the token for exactly ``object_id``, and is every one of the object's resources vouched for? An object
    without resources is never covered."""
    wanted = set(resources)
    return grant.object_id == object_id and bool(wanted) and wanted <= set(grant.resources)
