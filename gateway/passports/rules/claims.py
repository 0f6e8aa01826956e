"""Passport and Visa claim validation (rulebook §A rules 1–5, §D rules 18–21, §E rules 17 and 22–31, §H rules 41–44).

Pure: plain data in, frozen dataclasses out, the clock injected as ``now`` (seconds since the epoch). No network and
no signature checking happens here: a :class:`Passport` or :class:`Visa` carries its ``ParsedJws`` so the
key-fetching edge can verify it (``gateway.passports.jose.jws.verify``) once the issuer is trusted.

Failure modes follow PS General Requirement 8: a bad Passport raises :class:`PassportError` (the request gets 401),
a bad Visa yields a :class:`VisaResult` with status ``IGNORED`` and the rule that failed — never an exception that
would take the Passport down with it. Messages never echo token contents.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from gateway.passports.jose import jws
from gateway.passports.jose.jws import JwsError, ParsedJws, TokenKind

MAX_LEEWAY = 60
MAX_PASSPORTS = 10
MAX_VISAS = 200
MAX_CLAIM_BYTES = 1024  # iss, sub, jti, ...
MAX_VISA_FIELD_CHARS = 255  # type, value, source (rule 26)
ACCESS_TOKEN_VISA_MAX_AGE = 3600  # rule 29
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z: keeps datetime conversions downstream safe
CACHE_TTL_CAP = 15 * 60  # rule 44
CACHE_TTL_MARGIN = 60

BY_VALUES = frozenset({"self", "peer", "system", "so", "dac"})
TYPE_ACCEPTED_TERMS = "AcceptedTermsAndPolicies"
TYPE_CONTROLLED_ACCESS = "ControlledAccessGrants"
BY_REQUIRED_TYPES = frozenset({TYPE_ACCEPTED_TERMS, TYPE_CONTROLLED_ACCESS})


class ClaimError(Exception):
    """Base of the claim errors. ``rule`` is the rulebook number; ``status`` the HTTP status it maps to (rule 45)."""

    status = 401

    def __init__(self, rule: int, message: str) -> None:
        super().__init__(f"rule {rule}: {message}")
        self.rule = rule
        self.reason = message


class PassportError(ClaimError):
    """The Passport is invalid: the whole request is rejected with 401 (rule 4)."""


class EnvelopeError(ClaimError):
    """The request envelope is wrong (rules 1–3, 5); ``status`` is 400, 401 or 413."""

    def __init__(self, rule: int, message: str, status: int) -> None:
        super().__init__(rule, message)
        self.status = status


class _Invalid(Exception):
    def __init__(self, rule: int, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.reason = message


# --- rules -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PassportRules:
    """What a Passport from one broker must satisfy. Built per broker by the trust configuration."""

    audiences: frozenset[str] = frozenset()
    require_aud: bool = False  # rule 19: absent `aud` is accepted unless this is set
    legacy_typ: bool = False  # rule 12: accept `typ: JWT` or no `typ` (RAS-era brokers)
    leeway: int = MAX_LEEWAY
    algorithms: frozenset[str] = jws.SUPPORTED_ALGORITHMS
    max_bytes: int = jws.MAX_PASSPORT_BYTES
    max_visas: int = MAX_VISAS

    def __post_init__(self) -> None:
        _check_leeway(self.leeway)
        if isinstance(self.audiences, str):
            raise ValueError("audiences must be a collection of strings, not a string")


@dataclass(frozen=True)
class VisaRules:
    """What a Visa must satisfy. ``max_authz_ttl`` bounds a Visa's life from ``asserted`` (rule 41);
    ``access_token_max_age`` is the rule-29 age limit by ``iat`` for Visa Access Tokens (None: no limit, for issuers
    whose tokens are polled)."""

    leeway: int = MAX_LEEWAY
    algorithms: frozenset[str] = jws.SUPPORTED_ALGORITHMS
    max_bytes: int = jws.MAX_VISA_BYTES
    access_token_max_age: int | None = ACCESS_TOKEN_VISA_MAX_AGE
    max_authz_ttl: int | None = None
    legacy_typ: bool = False  # accept a Visa Access Token without `typ`

    def __post_init__(self) -> None:
        _check_leeway(self.leeway)


def _check_leeway(leeway: int) -> None:
    if isinstance(leeway, bool) or not isinstance(leeway, int) or not 0 <= leeway <= MAX_LEEWAY:
        raise ValueError(f"leeway must be an int in 0..{MAX_LEEWAY} seconds")


# --- typed values ------------------------------------------------------------------------------------------------


def numeric_date(value: object) -> int | None:
    """An RFC 7519 NumericDate, strictly: an ``int`` (or a float without fraction), never ``bool`` or ``str``,
    within 0..year 9999. ``None`` if it is not one."""
    if value.__class__ is int:  # the usual case, first: bool (a subclass of int) is not one
        number = value
    elif isinstance(value, bool):
        return None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
        number = int(value)
    else:
        return None
    return number if 0 <= number <= MAX_NUMERIC_DATE else None


def _date(claims: Mapping[str, Any], name: str, rule: int, *, required: bool) -> int | None:
    if name not in claims:
        if required:
            raise _Invalid(rule, f"{name} is missing")
        return None
    number = numeric_date(claims[name])
    if number is None:
        raise _Invalid(rule, f"{name} is not a NumericDate")
    return number


def _string(claims: Mapping[str, Any], name: str, rule: int, *, required: bool, limit_bytes: int = MAX_CLAIM_BYTES,
            limit_chars: int | None = None) -> str | None:
    if name not in claims:
        if required:
            raise _Invalid(rule, f"{name} is missing")
        return None
    value = claims[name]
    if not isinstance(value, str) or not value:
        raise _Invalid(rule, f"{name} is not a non-empty string")
    # a code point is at most 4 bytes in UTF-8: only a string that might be too long needs encoding to tell
    if len(value) * 4 > limit_bytes and len(value.encode("utf-8", "surrogatepass")) > limit_bytes:
        raise _Invalid(rule, f"{name} is too long")
    if limit_chars is not None and len(value) > limit_chars:
        raise _Invalid(rule, f"{name} is longer than {limit_chars} characters")
    return value


def _scopes(claims: Mapping[str, Any], rule: int) -> frozenset[str] | None:
    if "scope" not in claims:
        return None
    scope = claims["scope"]
    if not isinstance(scope, str):
        raise _Invalid(rule, "scope is not a string")
    return frozenset(scope.split())


def _check_times(claims: Mapping[str, Any], now: int, leeway: int, rule: int) -> tuple[int, int, int | None]:
    """Rule 20: ``exp > now − leeway``, ``nbf ≤ now + leeway``, ``iat ≤ now + leeway``, all strictly typed."""
    iat = _date(claims, "iat", rule, required=True)
    exp = _date(claims, "exp", rule, required=True)
    nbf = _date(claims, "nbf", rule, required=False)
    assert iat is not None and exp is not None
    if exp <= now - leeway:
        raise _Invalid(20, "token has expired")
    if nbf is not None and nbf > now + leeway:
        raise _Invalid(20, "token is not yet valid (nbf)")
    if iat > now + leeway:
        raise _Invalid(20, "token was issued in the future (iat)")
    if exp <= iat:
        raise _Invalid(20, "token expires before it was issued")
    return iat, exp, nbf


def _now(now: float) -> int:
    if now.__class__ is int:
        return now
    if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
        raise ValueError("now must be a finite number of seconds")
    return int(now)


# --- §A request envelope -----------------------------------------------------------------------------------------


def check_envelope(passports: object, *, has_authorization: bool = False, max_passports: int = MAX_PASSPORTS,
                   max_bytes: int = jws.MAX_PASSPORT_BYTES) -> list[str]:
    """Rules 1–3 on the ``passports`` member of a DRS request body (``None`` when the member is absent)."""
    if passports is None:
        raise EnvelopeError(1, "no passports", 401)
    if not isinstance(passports, list) or not all(isinstance(p, str) for p in passports):
        raise EnvelopeError(1, "passports must be an array of strings", 400)
    if has_authorization:
        raise EnvelopeError(2, "passports and an Authorization header cannot both be supplied", 400)
    if not passports:
        raise EnvelopeError(1, "passports is empty", 401)
    if len(passports) > max_passports:
        raise EnvelopeError(3, f"more than {max_passports} passports", 413)
    if any(len(p) > max_bytes for p in passports):
        raise EnvelopeError(3, "a passport exceeds the size limit", 413)
    return passports


def check_same_person(passports: Sequence[Passport],
                      linked: Callable[[tuple[str, str], tuple[str, str]], bool] | None = None) -> None:
    """Rule 5: every Passport in a request belongs to one person: same ``(iss, sub)``, or ``linked(a, b)``."""
    if not passports:
        return
    first = passports[0].identity
    for passport in passports[1:]:
        other = passport.identity
        if other != first and not (linked is not None and linked(first, other)):
            raise EnvelopeError(5, "passports belong to different identities", 400)


# --- §D passports ------------------------------------------------------------------------------------------------


class _Signed:
    """What Passports and Visas share: who they speak for, and the hash of the exact token."""

    iss: str
    sub: str
    jws: ParsedJws

    @property
    def identity(self) -> tuple[str, str]:
        return (self.iss, self.sub)

    @property
    def sha256(self) -> str:
        return self.jws.raw_sha256


@dataclass(frozen=True, eq=False)
class Passport(_Signed):
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
    now_s = _now(now)
    claims = parsed.payload
    try:
        # rule 21 first: a token of another kind gets told what it is, not which claim it lacks
        if "ga4gh_visa_v1" in claims:
            raise _Invalid(21, "token is a Visa, not a Passport")
        scopes = _scopes(claims, 18)
        if "ga4gh_passport_v1" not in claims and scopes is not None and "ga4gh_passport_v1" in scopes:
            raise _Invalid(21, "token is a Passport-scoped access token, not a Passport")
        iss = _string(claims, "iss", 18, required=True)
        sub = _string(claims, "sub", 18, required=True)
        jti = _string(claims, "jti", 18, required=False)
        iat, exp, nbf = _check_times(claims, now_s, rules.leeway, 18)
        if "ga4gh_passport_v1" not in claims:
            raise _Invalid(18, "ga4gh_passport_v1 is missing")
        visas = claims["ga4gh_passport_v1"]
        if not isinstance(visas, list):
            raise _Invalid(18, "ga4gh_passport_v1 is not an array")
        if len(visas) > rules.max_visas:
            raise _Invalid(3, f"more than {rules.max_visas} visas")
        aud = _check_aud(claims, rules)
    except _Invalid as exc:
        raise PassportError(exc.rule, exc.reason) from None
    assert iss is not None and sub is not None
    return Passport(iss=iss, sub=sub, iat=iat, exp=exp, nbf=nbf, aud=aud, jti=jti, visas=tuple(visas), jws=parsed)


def _check_aud(claims: Mapping[str, Any], rules: PassportRules) -> tuple[str, ...]:
    """Rule 19: a present ``aud`` must contain a configured audience (full-string, case-sensitive)."""
    if "aud" not in claims:
        if rules.require_aud:
            raise _Invalid(19, "aud is required")
        return ()
    aud = claims["aud"]
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise _Invalid(19, "aud is not a string or an array of strings")
    if not set(values) & set(rules.audiences):
        raise _Invalid(19, "aud does not name this service")
    return tuple(values)


def read_passport(token: object, now: float, rules: PassportRules = PassportRules()) -> Passport:
    """:func:`parse_passport` then :func:`validate_passport_claims`. The signature still needs verifying."""
    return validate_passport_claims(parse_passport(token, rules), now, rules)


# --- §E visas ----------------------------------------------------------------------------------------------------


class VisaFormat(Enum):
    DOCUMENT_TOKEN = "document"  # `jku` in the header
    ACCESS_TOKEN = "access"  # no `jku`, `scope` contains openid


class VisaStatus(Enum):
    VALID = "VALID"  # claims valid; signature and trust still to be checked by the edge
    IGNORED = "IGNORED"


@dataclass(frozen=True, eq=False)
class Visa(_Signed):
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
    expires: int  # min(exp, asserted + max_authz_ttl)
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
        return self.status is VisaStatus.VALID

    @classmethod
    def ignored(cls, sha256: str | None, rule: int, reason: str) -> VisaResult:
        return cls(status=VisaStatus.IGNORED, sha256=sha256, rule=rule, reason=reason)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


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
            ignored.append(VisaResult.ignored(_sha256(element), 3, "visa exceeds the size limit"))
            continue
        unique.append(element)
    return unique, ignored


def read_visa(token: object, now: float, rules: VisaRules = VisaRules(), *,
              headers: jws.HeaderMemo | None = None) -> VisaResult:
    """Parse and validate one Visa (rules 3, 6–12, 17, 22–30). Never raises for a bad Visa. ``headers``: see
    :func:`gateway.passports.jose.jws.parse_compact` (one per Passport)."""
    now_s = _now(now)
    if not isinstance(token, str):
        return VisaResult.ignored(None, 22, "visa is not a JWS string")
    try:
        parsed = jws.parse_compact(token, max_bytes=rules.max_bytes, algorithms=rules.algorithms, headers=headers)
    except JwsError as exc:  # parsed tokens carry their hash; only a failure needs it computed here
        return VisaResult.ignored(_sha256(token), exc.rule, exc.reason)
    digest = parsed.raw_sha256  # the same value: a parsed token is ASCII
    try:
        visa = _validate_visa(parsed, now_s, rules)
    except (_Invalid, JwsError) as exc:
        return VisaResult.ignored(digest, exc.rule, exc.reason)
    return VisaResult(VisaStatus.VALID, digest, visa)


def read_visas(passport: Passport, now: float, rules: VisaRules = VisaRules()) -> list[VisaResult]:
    """Every distinct element of the Passport's ``ga4gh_passport_v1``, read with :func:`read_visa`."""
    unique, results = split_visas(passport, rules)
    return results + [read_visa(token, now, rules) for token in unique]


def visa_format(header: Mapping[str, Any], claims: Mapping[str, Any]) -> VisaFormat:
    """Rule 17: ``jku`` ⇒ Document Token (``scope`` must not contain openid); no ``jku`` ⇒ Access Token (``scope``
    must contain openid). Both or neither raise."""
    scopes = _scopes(claims, 17)
    openid = scopes is not None and "openid" in scopes
    if "jku" in header:
        if openid:
            raise _Invalid(17, "visa has both jku and an openid scope")
        return VisaFormat.DOCUMENT_TOKEN
    if not openid:
        raise _Invalid(17, "visa has neither jku nor an openid scope")
    return VisaFormat.ACCESS_TOKEN


def _validate_visa(parsed: ParsedJws, now: int, rules: VisaRules) -> Visa:
    header, claims = parsed.header, parsed.payload
    fmt = visa_format(header, claims)
    kind = TokenKind.VISA_DOCUMENT if fmt is VisaFormat.DOCUMENT_TOKEN else TokenKind.VISA_ACCESS
    jws.check_typ(header, kind, legacy=rules.legacy_typ)
    iss = _string(claims, "iss", 23, required=True)
    sub = _string(claims, "sub", 23, required=True)
    jti = _string(claims, "jti", 23, required=False)
    iat, exp, nbf = _check_times(claims, now, rules.leeway, 23)
    if fmt is VisaFormat.ACCESS_TOKEN and "aud" in claims:
        raise _Invalid(23, "a visa access token must not have aud")
    obj = claims.get("ga4gh_visa_v1")
    if not isinstance(obj, dict):
        raise _Invalid(23, "ga4gh_visa_v1 is missing or not an object")
    vtype = _string(obj, "type", 24, required=True, limit_chars=MAX_VISA_FIELD_CHARS)
    value = _string(obj, "value", 24, required=True, limit_chars=MAX_VISA_FIELD_CHARS)
    source = _string(obj, "source", 24, required=True, limit_chars=MAX_VISA_FIELD_CHARS)
    asserted = _date(obj, "asserted", 24, required=True)
    assert vtype is not None and value is not None and source is not None and asserted is not None
    by = obj.get("by")
    if by is not None and (not isinstance(by, str) or by not in BY_VALUES):
        raise _Invalid(24, "by is not one of self, peer, system, so, dac")
    if by is None and vtype in BY_REQUIRED_TYPES:
        raise _Invalid(24, "by is required for this visa type")
    conditions = obj.get("conditions", [])
    if not isinstance(conditions, list):
        raise _Invalid(33, "conditions is not an array")
    if asserted > iat:
        raise _Invalid(25, "asserted is after iat")
    if asserted > now + rules.leeway:
        raise _Invalid(25, "asserted is in the future")
    if fmt is VisaFormat.ACCESS_TOKEN and rules.access_token_max_age is not None \
            and iat < now - rules.access_token_max_age:
        raise _Invalid(29, "visa access token is older than the allowed age")
    expires = exp
    if rules.max_authz_ttl is not None:
        expires = min(expires, asserted + rules.max_authz_ttl)
        if expires <= now - rules.leeway:
            raise _Invalid(25, "visa assertion is older than the maximum authorization TTL")
    # rule 30: a Visa's own ga4gh_passport_v1 (if any) is never read, and nothing inside a Visa is unwrapped
    assert iss is not None and sub is not None
    # positional: 17 keywords would cost a quarter of the construction
    return Visa(iss, sub, iat, exp, nbf, jti, vtype, value, source, by, asserted, tuple(conditions), fmt,
                header.get("jku"), expires, obj, parsed)


# --- §H expiry and caching, §I audit -----------------------------------------------------------------------------


def decision_expiry(passports: Iterable[Passport], visas: Iterable[Visa], extra: Iterable[int] = ()) -> int:
    """Rule 41: a decision is valid until the earliest expiry of everything it used (Passports, Visas including those
    that satisfied conditions, per-grant expiries such as RAS ``expiration`` passed in ``extra``)."""
    times = [p.exp for p in passports] + [v.expires for v in visas] + list(extra)
    if not times:
        raise ValueError("a decision must use at least one passport")
    return min(times)


def clamp_ttl(requested: int, validity: int, now: float) -> int:
    """Rule 42: a signed URL or downstream token lasts at most until ``validity`` (0 when already past)."""
    return max(0, min(int(requested), validity - _now(now)))


def cache_ttl(validity: int, now: float, *, cap: int = CACHE_TTL_CAP, margin: int = CACHE_TTL_MARGIN) -> int:
    """Rule 44: cache a decision for ``min(validity − margin, cap)`` seconds from now; 0 means do not cache."""
    return max(0, min(validity - margin - _now(now), cap))


def decision_cache_key(passport_tokens: Sequence[str], trust_config_hash: str) -> str:
    """Rule 44: sha256 over the raw Passports (order-insensitive) and the trust-config hash; no raw token kept."""
    digest = hashlib.sha256(trust_config_hash.encode("utf-8"))
    for part in sorted(_sha256(t) for t in passport_tokens):
        digest.update(b"\x00" + part.encode("ascii"))
    return digest.hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    """Rule 46: what may be logged about a validation: identifiers only, never raw tokens."""

    passport_jti: str | None
    passport_identity: tuple[str, str]
    passport_sha256: str
    visas: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def audit_record(passport: Passport, results: Iterable[VisaResult]) -> AuditRecord:
    rows = []
    for result in results:
        visa = result.visa
        row: dict[str, Any]
        if visa is not None:
            row = {"sha256": result.sha256, "status": result.status.value, "iss": visa.iss, "sub": visa.sub,
                   "jti": visa.jti, "type": visa.type}
            txn = visa.jws.payload.get("txn")
            if isinstance(txn, str) and len(txn) <= MAX_CLAIM_BYTES:
                row["txn"] = txn
        else:
            row = {"sha256": result.sha256, "status": result.status.value, "rule": result.rule,
                   "reason": result.reason}
        rows.append(row)
    return AuditRecord(passport_jti=passport.jti, passport_identity=passport.identity,
                       passport_sha256=passport.sha256, visas=tuple(rows))
