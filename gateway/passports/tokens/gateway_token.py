"""Gateway tokens: short-lived RS256 JWTs the gateway signs for one member and one object, after it has decided
from the caller's Passports that the object may be reached (member auth mode ``gateway_token``).

Pure: claims in, claims out; signing takes a :class:`~gateway.passports.jose.signing.SigningKey`, checking takes a
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

Search tokens are a second, distinct kind, for what a member's search (Guppy) may count and list as the caller's:
the same header, ``iss``, ``aud``, ``sub``, ``passport_iss``, ``iat``, ``exp``, ``jti`` and ``access_until``, but
``scope: "gateway_search"``, **no** ``drs_object_id``, ``authz`` every resource path of the member the Passports'
grants reach (at most :data:`SEARCH_MAX_RESOURCES`), and a lifetime of at most :data:`SEARCH_MAX_TTL` seconds.
:func:`check` refuses a search token (wrong scope) and :func:`check_search` refuses an object token (wrong scope, and
a ``drs_object_id``), so neither can stand in for the other.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from gateway.passports.jose import jws
from gateway.passports.jose.errors import HeaderRejected, JwsError
from gateway.passports.jose.jwk import RS256
from gateway.passports.jose.signing import SigningKey, sign_compact
from gateway.settings.passports import MAX_GATEWAY_TOKEN_TTL

TYP = "at+jwt"
SCOPE = "ga4gh_drs_access"
ALGORITHMS = frozenset({RS256})
MAX_TOKEN_BYTES = 16 * 1024
MAX_TTL = MAX_GATEWAY_TOKEN_TTL
"""No gateway token lives longer than this, whatever the configuration says."""
MAX_RESOURCES = 64
SEARCH_SCOPE = "gateway_search"
SEARCH_MAX_TTL = 60
"""No search token lives longer than this."""
SEARCH_MAX_RESOURCES = 256
"""Most resource paths one search token names (they must fit :data:`MAX_TOKEN_BYTES`)."""


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


@dataclass(frozen=True)
class SearchGrant:
    """A checked search token: the member resources the gateway vouches the caller may read, until when."""

    issuer: str
    audience: str
    subject: str
    passport_issuer: str
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
    exp = _expiry(now, ttl, MAX_TTL, access_until)
    if not resources:
        raise ValueError("a gateway token names the object's resources")
    return {**_signed_for(issuer, audience, identity, now, exp, jti, SCOPE), "drs_object_id": object_id,
            "authz": list(dict.fromkeys(resources)), "access_until": access_until}


def search_claims(
    *,
    issuer: str,
    audience: str,
    resources: Sequence[str],
    identity: tuple[str, str],
    now: int,
    ttl: int,
    access_until: int,
    jti: str | None = None,
) -> dict[str, Any]:
    """The payload of a search token: ``exp`` is ``now + ttl`` (capped at :data:`SEARCH_MAX_TTL`), never past
    ``access_until``; :class:`ValueError` when the decision has ended, or for no or too many resources."""
    exp = _expiry(now, ttl, SEARCH_MAX_TTL, access_until)
    paths = list(dict.fromkeys(resources))
    if not paths or len(paths) > SEARCH_MAX_RESOURCES:
        raise ValueError(f"a search token names 1 to {SEARCH_MAX_RESOURCES} resources")
    return {**_signed_for(issuer, audience, identity, now, exp, jti, SEARCH_SCOPE), "authz": paths,
            "access_until": access_until}


def _expiry(now: int, ttl: int, max_ttl: int, access_until: int) -> int:
    """``now + ttl`` (``ttl`` within 1..``max_ttl``), never past ``access_until``; :class:`ValueError` when the
    decision has already ended."""
    if access_until <= now:
        raise ValueError("the access decision has already ended")
    return min(now + max(1, min(ttl, max_ttl)), access_until)


def _signed_for(issuer: str, audience: str, identity: tuple[str, str], now: int, exp: int, jti: str | None,
                scope: str) -> dict[str, Any]:
    """The claims both token kinds carry: who signs, for which member, on whose behalf, when, and the kind."""
    return {"iss": issuer, "aud": audience, "sub": identity[1], "passport_iss": identity[0], "iat": now, "exp": exp,
            "jti": jti or uuid.uuid4().hex, "scope": scope}


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
            raise HeaderRejected(12, "typ is not at+jwt")
    except JwsError as exc:
        raise GatewayTokenError(401, f"not a gateway token: {exc.reason}") from None
    return parsed


def issuer_of(parsed: jws.ParsedJws) -> str | None:
    """The claimed (unverified) ``iss``: use it only to pick a *configured* gateway's keys."""
    iss = parsed.payload.get("iss")
    return iss if isinstance(iss, str) else None


def _need(payload: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = payload.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise GatewayTokenError(401, f"gateway token claim {name} is missing or mistyped")
    return value


def _common(parsed: jws.ParsedJws, now: int, *, issuer: str, audience: str, scope: str, max_ttl: int,
            max_resources: int, leeway: int) -> tuple[int, int, int, tuple[str, ...]]:
    """The checks both kinds share: ``(iat, exp, access_until, authz)``."""
    p = parsed.payload
    if _need(p, "iss", str) != issuer:
        raise GatewayTokenError(401, "gateway token from another issuer")
    if _need(p, "aud", str) != audience:
        raise GatewayTokenError(401, "gateway token for another audience")
    if _need(p, "scope", str) != scope:
        raise GatewayTokenError(401, "gateway token has the wrong scope")
    iat, exp, until = _need(p, "iat", int), _need(p, "exp", int), _need(p, "access_until", int)
    if iat > now + leeway:
        raise GatewayTokenError(401, "gateway token issued in the future")
    if exp <= now - leeway or until <= now:
        raise GatewayTokenError(401, "gateway token has expired")
    if exp <= iat or exp - iat > max_ttl or exp > until:
        raise GatewayTokenError(401, "gateway token lifetime is too long")
    resources = _need(p, "authz", list)
    if not resources or len(resources) > max_resources or not all(isinstance(r, str) and r for r in resources):
        raise GatewayTokenError(401, "gateway token authz is not a list of resources")
    return iat, exp, until, tuple(resources)


def check(parsed: jws.ParsedJws, now: int, *, issuer: str, audience: str, leeway: int = 30) -> GatewayGrant:
    """The claims of an object token whose signature the caller verified with ``issuer``'s key (a search token is
    refused: wrong scope)."""
    iat, exp, until, resources = _common(parsed, now, issuer=issuer, audience=audience, scope=SCOPE,
                                         max_ttl=MAX_TTL, max_resources=MAX_RESOURCES, leeway=leeway)
    p = parsed.payload
    return GatewayGrant(
        issuer=issuer, audience=audience, subject=_need(p, "sub", str), passport_issuer=_need(p, "passport_iss", str),
        object_id=_need(p, "drs_object_id", str), resources=resources, issued_at=iat, expires=exp,
        access_until=until, jti=_need(p, "jti", str),
    )


def check_search(parsed: jws.ParsedJws, now: int, *, issuer: str, audience: str, leeway: int = 30) -> SearchGrant:
    """The claims of a search token whose signature the caller verified with ``issuer``'s key (an object token is
    refused: wrong scope, and it names an object)."""
    if "drs_object_id" in parsed.payload:
        raise GatewayTokenError(401, "an object token is not a search token")
    iat, exp, until, resources = _common(parsed, now, issuer=issuer, audience=audience, scope=SEARCH_SCOPE,
                                         max_ttl=SEARCH_MAX_TTL, max_resources=SEARCH_MAX_RESOURCES, leeway=leeway)
    p = parsed.payload
    return SearchGrant(
        issuer=issuer, audience=audience, subject=_need(p, "sub", str), passport_issuer=_need(p, "passport_iss", str),
        resources=resources, issued_at=iat, expires=exp, access_until=until, jti=_need(p, "jti", str),
    )


def covers(grant: GatewayGrant, object_id: str, resources: Iterable[str]) -> bool:
    """Is the token for exactly ``object_id``, and is every one of the object's resources vouched for? An object
    without resources is never covered."""
    wanted = set(resources)
    return grant.object_id == object_id and bool(wanted) and wanted <= set(grant.resources)
