"""The claim vocabulary Passports and Visas share: the errors (each names its rule of ``docs/passport-rules.md``),
strictly typed claim readers (NumericDate, bounded strings, ``scope``), the time checks of rule 20 and the leeway
bound. The rules themselves are in :mod:`~gateway.passports.rules.envelope` (§A rules 1–5),
:mod:`~gateway.passports.rules.passport` (§D rules 18–21), :mod:`~gateway.passports.rules.visa` (§E rules 17, 22–31),
:mod:`~gateway.passports.rules.expiry` (§H rules 41–44) and :mod:`~gateway.passports.rules.audit` (rule 46).

Pure: plain data in, frozen dataclasses out, the clock injected as ``now`` (seconds since the epoch). No network and
no signature checking happens in the rules: a :class:`~gateway.passports.rules.passport.Passport` or
:class:`~gateway.passports.rules.visa.Visa` carries its ``ParsedJws`` so the key-fetching edge can verify it
(``gateway.passports.jose.jws.verify``) once the issuer is trusted.

Failure modes follow PS General Requirement 8: a bad Passport raises a
:class:`~gateway.passports.rules.passport.PassportError` (the request gets 401), a bad Visa yields a
:class:`~gateway.passports.rules.visa.VisaResult` with status ``IGNORED`` and the rule that failed — never an
exception that would take the Passport down with it. Messages never echo token contents.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

from gateway.passports.jose.jws import ParsedJws

MAX_LEEWAY = 60
MAX_CLAIM_BYTES = 1024  # iss, sub, jti, ...
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z: keeps datetime conversions downstream safe


SIZE_RULE = 3
"""The size caps (request body, Passport count, Passport bytes, Visa count, Visa bytes)."""


def rejection_status(rule: int) -> int:
    """Rule 45: the status of a Passport that fails ``rule``: 413 for a size cap (rule 3: every one of them, checked
    before any key is fetched or signature verified), 401 for anything else."""
    return 413 if rule == SIZE_RULE else 401


class ClaimError(Exception):
    """Base of the claim errors. ``rule`` is the rulebook number; ``status`` the HTTP status it maps to (rule 45,
    :func:`rejection_status`)."""

    status = 401

    def __init__(self, rule: int, message: str) -> None:
        super().__init__(f"rule {rule}: {message}")
        self.rule = rule
        self.reason = message
        self.status = rejection_status(rule)


class InvalidClaim(Exception):
    """One claim breaks ``rule``: internal to the rules, which turn it into a Passport error or an ignored Visa."""

    def __init__(self, rule: int, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.reason = message


def check_leeway(leeway: int) -> None:
    """A clock-skew leeway is an ``int`` of 0..60 seconds (rule 20); :class:`ValueError` otherwise."""
    if isinstance(leeway, bool) or not isinstance(leeway, int) or not 0 <= leeway <= MAX_LEEWAY:
        raise ValueError(f"leeway must be an int in 0..{MAX_LEEWAY} seconds")


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


def date_claim(claims: Mapping[str, Any], name: str, rule: int, *, required: bool) -> int | None:
    """The NumericDate claim ``name`` (``None`` when absent and not ``required``); :class:`InvalidClaim` otherwise."""
    if name not in claims:
        if required:
            raise InvalidClaim(rule, f"{name} is missing")
        return None
    number = numeric_date(claims[name])
    if number is None:
        raise InvalidClaim(rule, f"{name} is not a NumericDate")
    return number


def string_claim(claims: Mapping[str, Any], name: str, rule: int, *, required: bool,
                 limit_bytes: int = MAX_CLAIM_BYTES, limit_chars: int | None = None) -> str | None:
    """The non-empty string claim ``name``, at most ``limit_bytes`` of UTF-8 (and ``limit_chars`` characters);
    ``None`` when absent and not ``required``; :class:`InvalidClaim` otherwise."""
    if name not in claims:
        if required:
            raise InvalidClaim(rule, f"{name} is missing")
        return None
    value = claims[name]
    if not isinstance(value, str) or not value:
        raise InvalidClaim(rule, f"{name} is not a non-empty string")
    # a code point is at most 4 bytes in UTF-8: only a string that might be too long needs encoding to tell
    if len(value) * 4 > limit_bytes and len(value.encode("utf-8", "surrogatepass")) > limit_bytes:
        raise InvalidClaim(rule, f"{name} is too long")
    if limit_chars is not None and len(value) > limit_chars:
        raise InvalidClaim(rule, f"{name} is longer than {limit_chars} characters")
    return value


def scope_claim(claims: Mapping[str, Any], rule: int) -> frozenset[str] | None:
    """The space-separated ``scope`` claim as a set (``None`` when absent); :class:`InvalidClaim` if not a string."""
    if "scope" not in claims:
        return None
    scope = claims["scope"]
    if not isinstance(scope, str):
        raise InvalidClaim(rule, "scope is not a string")
    return frozenset(scope.split())


def usable_until(end: int, leeway: int) -> int:
    """Rule 20, the one leeway rule: a Passport or Visa ending at ``end`` (its ``exp``, or a Visa's
    ``asserted + max_authz_ttl``) counts while ``now < end + leeway``. The claims checks refuse it from that second
    on, and every decision built on it (its ``valid_until``, how long it is cached, the URLs and tokens it yields)
    ends then at the latest: validation and decision never disagree about a token within the leeway."""
    return end + leeway


def check_times(claims: Mapping[str, Any], now: int, leeway: int, rule: int) -> tuple[int, int, int | None]:
    """Rule 20: ``now < exp + leeway`` (:func:`usable_until`), ``nbf ≤ now + leeway``, ``iat ≤ now + leeway``, all
    strictly typed."""
    iat = date_claim(claims, "iat", rule, required=True)
    exp = date_claim(claims, "exp", rule, required=True)
    nbf = date_claim(claims, "nbf", rule, required=False)
    assert iat is not None and exp is not None
    if usable_until(exp, leeway) <= now:
        raise InvalidClaim(20, "token has expired")
    if nbf is not None and nbf > now + leeway:
        raise InvalidClaim(20, "token is not yet valid (nbf)")
    if iat > now + leeway:
        raise InvalidClaim(20, "token was issued in the future (iat)")
    if exp <= iat:
        raise InvalidClaim(20, "token expires before it was issued")
    return iat, exp, nbf


def seconds(now: float) -> int:
    """An injected clock reading as whole epoch seconds; :class:`ValueError` for anything but a finite number."""
    if now.__class__ is int:
        return now
    if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
        raise ValueError("now must be a finite number of seconds")
    return int(now)


def sha256_hex(text: str) -> str:
    """The hex sha256 of a token string: how tokens are named in logs, reports and cache keys."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Signed:
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
