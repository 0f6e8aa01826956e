"""Visa claims (rulebook §E, rules 17 and 22–31), with the size cap of rule 3, the JWS checks of rules 6–12 and the
LinkedIdentities grammar of rule 39.

A bad Visa is never an exception: :func:`read_visa` answers a :class:`VisaResult`, ``IGNORED`` with the rule that
failed, and the Passport carrying it stands. A ``VALID`` result still needs its issuer trusted and its signature
verified (the engine does both). Pure: the clock is injected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from gateway.passports.jose import jws
from gateway.passports.jose.errors import JwsError
from gateway.passports.jose.jwk import SUPPORTED_ALGORITHMS
from gateway.passports.jose.jws import ParsedJws, TokenKind
from gateway.passports.rules.claims import (
    MAX_CLAIM_BYTES,
    MAX_LEEWAY,
    MAX_NUMERIC_DATE,
    InvalidClaim,
    Signed,
    check_leeway,
    check_times,
    date_claim,
    scope_claim,
    seconds,
    sha256_hex,
    string_claim,
    usable_until,
)
from gateway.passports.rules.linked import LINKED_IDENTITIES, LinkedIdentitiesError, parse_linked_value
from gateway.passports.rules.passport import Passport

MAX_VISA_FIELD_CHARS = 255  # type, value, source (rule 26)
ACCESS_TOKEN_VISA_MAX_AGE = 3600  # rule 29
BY_VALUES = frozenset({"self", "peer", "system", "so", "dac"})
TYPE_ACCEPTED_TERMS = "AcceptedTermsAndPolicies"
TYPE_CONTROLLED_ACCESS = "ControlledAccessGrants"
BY_REQUIRED_TYPES = frozenset({TYPE_ACCEPTED_TERMS, TYPE_CONTROLLED_ACCESS})
_NO_CONDITIONS: list[Any] = []  # an absent conditions member reads as this (never changed: only looked at)
_FAST_CHARS = MAX_CLAIM_BYTES // 4  # a string this short is within MAX_CLAIM_BYTES of UTF-8 whatever it holds


@dataclass(frozen=True)
class VisaRules:
    """What a Visa must satisfy. ``leeway`` is the clock-skew tolerance of rule 20, applied once, to every end
    (:func:`~gateway.passports.rules.claims.usable_until`); ``max_authz_ttl`` bounds a Visa's life from ``asserted``
    (rule 41);
    ``access_token_max_age`` is the rule-29 age limit by ``iat`` for Visa Access Tokens (None: no limit, for issuers
    whose tokens are polled)."""

    leeway: int = MAX_LEEWAY
    algorithms: frozenset[str] = SUPPORTED_ALGORITHMS
    max_bytes: int = jws.MAX_VISA_BYTES
    access_token_max_age: int | None = ACCESS_TOKEN_VISA_MAX_AGE
    max_authz_ttl: int | None = None
    legacy_typ: bool = False  # accept a Visa Access Token without `typ`

    def __post_init__(self) -> None:
        check_leeway(self.leeway)


class VisaFormat(Enum):
    DOCUMENT_TOKEN = "document"  # `jku` in the header
    ACCESS_TOKEN = "access"  # no `jku`, `scope` contains openid


class VisaStatus(Enum):
    VALID = "VALID"  # claims valid; signature and trust still to be checked by the edge
    IGNORED = "IGNORED"


# the members as module globals: an Enum member read off its class is a metaclass lookup (~0.1 us), several per Visa
_VALID, _IGNORED = VisaStatus.VALID, VisaStatus.IGNORED
_DOCUMENT, _ACCESS = VisaFormat.DOCUMENT_TOKEN, VisaFormat.ACCESS_TOKEN
_KIND_DOCUMENT, _KIND_ACCESS = TokenKind.VISA_DOCUMENT, TokenKind.VISA_ACCESS


@dataclass(frozen=True, eq=False)
class Visa(Signed):
    """A Visa whose claims passed rules 17, 22–31. Signature and issuer trust are NOT yet checked."""

    iss: str
    sub: str
    iat: int
    exp: int
    nbf: int | None
    jti: str | None
    type: str
    value: str
    source: str
    by: str | None  # None means "unknown" (rule 27)
    asserted: int
    conditions: tuple[Any, ...]  # raw OR-of-ANDs list, shape-checked by the conditions module; () = none
    format: VisaFormat
    jku: str | None
    expires: int  # min(exp, asserted + max_authz_ttl) + leeway: the first second it no longer counts (rules 20, 41)
    object: Mapping[str, Any]  # the whole ga4gh_visa_v1 object (custom string claims, for conditions)
    jws: ParsedJws  # payload holds e.g. RAS `ras_dbgap_permissions` and `txn`

    def __init__(self, iss: str, sub: str, iat: int, exp: int, nbf: int | None, jti: str | None, type: str,
                 value: str, source: str, by: str | None, asserted: int, conditions: tuple[Any, ...],
                 format: VisaFormat, jku: str | None, expires: int, object: Mapping[str, Any],
                 jws: ParsedJws) -> None:
        # the generated frozen __init__ pays one object.__setattr__ call per field (17 here), once per Visa read
        self.__dict__.update(iss=iss, sub=sub, iat=iat, exp=exp, nbf=nbf, jti=jti, type=type, value=value,
                             source=source, by=by, asserted=asserted, conditions=conditions, format=format, jku=jku,
                             expires=expires, object=object, jws=jws)


@dataclass(frozen=True, eq=False)
class VisaResult:
    """One element of ``ga4gh_passport_v1``: a :class:`Visa`, or why it was ignored."""

    status: VisaStatus
    sha256: str | None  # of the raw string (None when the element is not a string)
    visa: Visa | None = None
    rule: int | None = None
    reason: str | None = None

    def __init__(self, status: VisaStatus, sha256: str | None, visa: Visa | None = None, rule: int | None = None,
                 reason: str | None = None) -> None:
        # as Visa's: one dict update instead of five object.__setattr__ calls, once per Visa
        self.__dict__.update(status=status, sha256=sha256, visa=visa, rule=rule, reason=reason)

    @property
    def valid(self) -> bool:
        return self.status is _VALID

    @classmethod
    def ignored(cls, sha256: str | None, rule: int, reason: str) -> VisaResult:
        return cls(_IGNORED, sha256, None, rule, reason)


def split_visas(passport: Passport, rules: VisaRules = VisaRules()) -> tuple[list[str], list[VisaResult]]:
    """Rules 3, 22, 31: the distinct Visa strings worth parsing (first occurrence order, deduplicated by sha256),
    and the elements ignored outright (not strings, oversized). Duplicates are dropped silently."""
    unique: list[str] = []
    ignored: list[VisaResult] = []
    # equal strings have equal sha256 and (barring a collision) only they do: deduplicating on the strings
    # themselves saves hashing each Visa once more than parsing does
    seen: set[str] = set()
    for element in passport.visas:
        if not isinstance(element, str):
            ignored.append(VisaResult.ignored(None, 22, "visa is not a JWS string"))
            continue
        if element in seen:
            continue
        seen.add(element)
        if len(element) > rules.max_bytes:
            ignored.append(VisaResult.ignored(sha256_hex(element), 3, "visa exceeds the size limit"))
            continue
        unique.append(element)
    return unique, ignored


def read_visa(token: object, now: float, rules: VisaRules = VisaRules(), *,
              headers: jws.HeaderMemo | None = None) -> VisaResult:
    """Parse and validate one Visa (rules 3, 6–12, 17, 22–30). Never raises for a bad Visa. ``headers``: see
    :func:`gateway.passports.jose.jws.parse_compact` (one per Passport)."""
    now_s = seconds(now)
    if not isinstance(token, str):
        return VisaResult.ignored(None, 22, "visa is not a JWS string")
    try:
        parsed = jws.parse_compact(token, max_bytes=rules.max_bytes, algorithms=rules.algorithms, headers=headers)
    except JwsError as exc:  # parsed tokens carry their hash; only a failure needs it computed here
        return VisaResult.ignored(sha256_hex(token), exc.rule, exc.reason)
    digest = parsed.raw_sha256  # the same value: a parsed token is ASCII
    try:
        visa = _validate_visa(parsed, now_s, rules)
    except (InvalidClaim, JwsError) as exc:
        return VisaResult.ignored(digest, exc.rule, exc.reason)
    return VisaResult(_VALID, digest, visa)


def read_visas(passport: Passport, now: float, rules: VisaRules = VisaRules()) -> list[VisaResult]:
    """Every distinct element of the Passport's ``ga4gh_passport_v1``, read with :func:`read_visa`."""
    unique, results = split_visas(passport, rules)
    return results + [read_visa(token, now, rules) for token in unique]


def visa_format(header: Mapping[str, Any], claims: Mapping[str, Any]) -> VisaFormat:
    """Rule 17: ``jku`` ⇒ Document Token (``scope`` must not contain openid); no ``jku`` ⇒ Access Token (``scope``
    must contain openid). Both or neither raise."""
    scopes = scope_claim(claims, 17)
    openid = scopes is not None and "openid" in scopes
    if "jku" in header:
        if openid:
            raise InvalidClaim(17, "visa has both jku and an openid scope")
        return _DOCUMENT
    if not openid:
        raise InvalidClaim(17, "visa has neither jku nor an openid scope")
    return _ACCESS


def _validate_visa(parsed: ParsedJws, now: int, rules: VisaRules) -> Visa:
    header, claims = parsed.header, parsed.payload
    fmt = visa_format(header, claims)
    kind = _KIND_DOCUMENT if fmt is _DOCUMENT else _KIND_ACCESS
    jws.check_typ(header, kind, legacy=rules.legacy_typ)
    # Each claim below is read by a plain guard that accepts only what its reader (string_claim, check_times,
    # date_claim: the one copy of each rule) would return unchanged; anything else (absent, ill-typed, too long,
    # out of range, a subclass) is handed to that reader, which returns it or raises the error it always raised.
    # Same outcome and order for every input; one pass without a dozen calls for the usual Visa.
    iss = claims.get("iss")
    if iss.__class__ is not str or not 0 < len(iss) <= _FAST_CHARS:
        iss = string_claim(claims, "iss", 23, required=True)
    sub = claims.get("sub")
    if sub.__class__ is not str or not 0 < len(sub) <= _FAST_CHARS:
        sub = string_claim(claims, "sub", 23, required=True)
    jti = claims.get("jti")
    if jti is None or jti.__class__ is not str or not 0 < len(jti) <= _FAST_CHARS:
        jti = string_claim(claims, "jti", 23, required=False)
    iat, exp, nbf = claims.get("iat"), claims.get("exp"), claims.get("nbf")
    leeway = rules.leeway
    if not (iat.__class__ is int and exp.__class__ is int and nbf is None and 0 <= iat < exp <= MAX_NUMERIC_DATE
            and "nbf" not in claims and exp + leeway > now and iat <= now + leeway):
        iat, exp, nbf = check_times(claims, now, leeway, 23)
    if fmt is _ACCESS and "aud" in claims:
        raise InvalidClaim(23, "a visa access token must not have aud")
    obj = claims.get("ga4gh_visa_v1")
    if not isinstance(obj, dict):
        raise InvalidClaim(23, "ga4gh_visa_v1 is missing or not an object")
    vtype, value, source, asserted = obj.get("type"), obj.get("value"), obj.get("source"), obj.get("asserted")
    if vtype.__class__ is not str or not 0 < len(vtype) <= MAX_VISA_FIELD_CHARS:
        vtype = string_claim(obj, "type", 24, required=True, limit_chars=MAX_VISA_FIELD_CHARS)
    if value.__class__ is not str or not 0 < len(value) <= MAX_VISA_FIELD_CHARS:
        value = string_claim(obj, "value", 24, required=True, limit_chars=MAX_VISA_FIELD_CHARS)
    if source.__class__ is not str or not 0 < len(source) <= MAX_VISA_FIELD_CHARS:
        source = string_claim(obj, "source", 24, required=True, limit_chars=MAX_VISA_FIELD_CHARS)
    if asserted.__class__ is not int or not 0 <= asserted <= MAX_NUMERIC_DATE:
        asserted = date_claim(obj, "asserted", 24, required=True)
    assert vtype is not None and value is not None and source is not None and asserted is not None
    by = obj.get("by")
    if by is not None and (not isinstance(by, str) or by not in BY_VALUES):
        raise InvalidClaim(24, "by is not one of self, peer, system, so, dac")
    if by is None and vtype in BY_REQUIRED_TYPES:
        raise InvalidClaim(24, "by is required for this visa type")
    conditions = obj.get("conditions", _NO_CONDITIONS)
    if not isinstance(conditions, list):
        raise InvalidClaim(33, "conditions is not an array")
    if vtype == LINKED_IDENTITIES:  # rule 39: the one parser; a malformed value never counts, conditions included
        try:
            parse_linked_value(value)
        except LinkedIdentitiesError as exc:
            raise InvalidClaim(39, f"malformed LinkedIdentities value: {exc}") from None
    if asserted > iat:
        raise InvalidClaim(25, "asserted is after iat")
    if asserted > now + rules.leeway:
        raise InvalidClaim(25, "asserted is in the future")
    if fmt is _ACCESS and rules.access_token_max_age is not None \
            and iat < now - rules.access_token_max_age:
        raise InvalidClaim(29, "visa access token is older than the allowed age")
    end = exp
    if rules.max_authz_ttl is not None:
        end = min(end, asserted + rules.max_authz_ttl)
    expires = usable_until(end, rules.leeway)
    if expires <= now:  # past exp + leeway was refused by check_times: only the assertion's age is left
        raise InvalidClaim(25, "visa assertion is older than the maximum authorization TTL")
    # rule 30: a Visa's own ga4gh_passport_v1 (if any) is never read, and nothing inside a Visa is unwrapped
    assert iss is not None and sub is not None
    # positional: 17 keywords would cost a quarter of the construction
    return Visa(iss, sub, iat, exp, nbf, jti, vtype, value, source, by, asserted, tuple(conditions), fmt,
                header.get("jku"), expires, obj, parsed)
