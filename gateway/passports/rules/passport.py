"""Passport claims (rulebook §D, rules 18–21), with the size caps of rule 3 (answered 413) and the JWS checks of
rules 6–12.

A :class:`Passport` is a Passport whose claims passed; its signature is verified by the engine once its broker is
known to be trusted (rule 13). Pure: the clock is injected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.passports.jose import jws
from gateway.passports.jose.errors import JwsError
from gateway.passports.jose.jwk import SUPPORTED_ALGORITHMS
from gateway.passports.jose.jws import ParsedJws, TokenKind
from gateway.passports.rules.claims import (
    MAX_LEEWAY,
    ClaimError,
    InvalidClaim,
    Signed,
    check_leeway,
    check_times,
    scope_claim,
    seconds,
    string_claim,
    usable_until,
)

MAX_VISAS = 200


class PassportError(ClaimError):
    """The Passport is invalid: the whole request is rejected (rule 4), with 401, or 413 for a size cap (rule 3)."""


def check_visa_count(claims: Mapping[str, Any], max_visas: int = MAX_VISAS) -> None:
    """Rule 3: at most ``max_visas`` elements in ``ga4gh_passport_v1``, counted before any of them is read and before
    the issuer's trust or keys are looked at; :class:`PassportError` with status 413 otherwise. A missing or ill-typed
    array is left to the claims checks (rule 18)."""
    visas = claims.get("ga4gh_passport_v1")
    if isinstance(visas, list) and len(visas) > max_visas:
        raise PassportError(3, f"more than {max_visas} visas")


@dataclass(frozen=True)
class PassportRules:
    """What a Passport from one broker must satisfy. Built per broker by the trust configuration."""

    audiences: frozenset[str] = frozenset()
    require_aud: bool = False  # rule 19: absent `aud` is accepted unless this is set
    legacy_typ: bool = False  # rule 12: accept `typ: JWT` or no `typ` (RAS-era brokers)
    leeway: int = MAX_LEEWAY
    algorithms: frozenset[str] = SUPPORTED_ALGORITHMS
    max_bytes: int = jws.MAX_PASSPORT_BYTES
    max_visas: int = MAX_VISAS

    def __post_init__(self) -> None:
        check_leeway(self.leeway)
        if isinstance(self.audiences, str):
            raise ValueError("audiences must be a collection of strings, not a string")


@dataclass(frozen=True, eq=False)
class Passport(Signed):
    """A Passport whose claims passed rules 18–21. Its signature is NOT yet verified: see ``jws``."""

    iss: str
    sub: str
    iat: int
    exp: int
    nbf: int | None
    aud: tuple[str, ...]
    jti: str | None
    visas: tuple[object, ...]  # the raw ga4gh_passport_v1 array; see split_visas
    jws: ParsedJws
    expires: int
    """``exp + leeway``: the first second the Passport no longer counts, for validation and decision alike
    (:func:`~gateway.passports.rules.claims.usable_until`)."""

    def __init__(self, iss: str, sub: str, iat: int, exp: int, nbf: int | None, aud: tuple[str, ...],
                 jti: str | None, visas: tuple[object, ...], jws: ParsedJws, expires: int) -> None:
        # the generated frozen __init__ pays one object.__setattr__ call per field (10 here), once per Passport
        self.__dict__.update(iss=iss, sub=sub, iat=iat, exp=exp, nbf=nbf, aud=aud, jti=jti, visas=visas, jws=jws,
                             expires=expires)


def parse_passport(token: object, rules: PassportRules = PassportRules()) -> ParsedJws:
    """Size cap, compact-JWS parsing and header checks for a Passport (rules 3, 6–12). Raises PassportError."""
    try:
        parsed = jws.parse_compact(token, max_bytes=rules.max_bytes, algorithms=rules.algorithms)
        jws.check_typ(parsed.header, TokenKind.PASSPORT, legacy=rules.legacy_typ)
    except JwsError as exc:
        raise PassportError(exc.rule, exc.reason) from None
    return parsed


def validate_passport_claims(parsed: ParsedJws, now: float, rules: PassportRules = PassportRules()) -> Passport:
    """Rules 3, 18–21 on a parsed Passport. Raises :class:`PassportError`."""
    now_s = seconds(now)
    claims = parsed.payload
    check_visa_count(claims, rules.max_visas)  # rule 3 before anything else: 413
    try:
        # rule 21 first: a token of another kind gets told what it is, not which claim it lacks
        if "ga4gh_visa_v1" in claims:
            raise InvalidClaim(21, "token is a Visa, not a Passport")
        scopes = scope_claim(claims, 18)
        if "ga4gh_passport_v1" not in claims and scopes is not None and "ga4gh_passport_v1" in scopes:
            raise InvalidClaim(21, "token is a Passport-scoped access token, not a Passport")
        iss = string_claim(claims, "iss", 18, required=True)
        sub = string_claim(claims, "sub", 18, required=True)
        jti = string_claim(claims, "jti", 18, required=False)
        iat, exp, nbf = check_times(claims, now_s, rules.leeway, 18)
        if "ga4gh_passport_v1" not in claims:
            raise InvalidClaim(18, "ga4gh_passport_v1 is missing")
        visas = claims["ga4gh_passport_v1"]
        if not isinstance(visas, list):
            raise InvalidClaim(18, "ga4gh_passport_v1 is not an array")
        aud = _check_aud(claims, rules)
    except InvalidClaim as exc:
        raise PassportError(exc.rule, exc.reason) from None
    assert iss is not None and sub is not None
    return Passport(iss=iss, sub=sub, iat=iat, exp=exp, nbf=nbf, aud=aud, jti=jti, visas=tuple(visas), jws=parsed,
                    expires=usable_until(exp, rules.leeway))


def _check_aud(claims: Mapping[str, Any], rules: PassportRules) -> tuple[str, ...]:
    """Rule 19: a present ``aud`` must contain a configured audience (full-string, case-sensitive)."""
    if "aud" not in claims:
        if rules.require_aud:
            raise InvalidClaim(19, "aud is required")
        return ()
    aud = claims["aud"]
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise InvalidClaim(19, "aud is not a string or an array of strings")
    if not set(values) & set(rules.audiences):
        raise InvalidClaim(19, "aud does not name this service")
    return tuple(values)


def read_passport(token: object, now: float, rules: PassportRules = PassportRules()) -> Passport:
    """:func:`parse_passport` then :func:`validate_passport_claims`. The signature still needs verifying."""
    return validate_passport_claims(parse_passport(token, rules), now, rules)
