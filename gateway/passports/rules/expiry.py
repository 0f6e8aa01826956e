"""How long a decision lasts, and how long it may be cached (rulebook §H, rules 41, 42 and 44). Pure."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from gateway.passports.rules.claims import seconds, sha256_hex
from gateway.passports.rules.passport import Passport
from gateway.passports.rules.visa import Visa

CACHE_TTL_CAP = 15 * 60  # rule 44
CACHE_TTL_MARGIN = 60


def decision_expiry(passports: Iterable[Passport], visas: Iterable[Visa], extra: Iterable[int] = ()) -> int:
    """Rule 41: a decision is valid until the earliest expiry of everything it used (Passports, Visas including those
    that satisfied conditions, per-grant expiries such as RAS ``expiration`` passed in ``extra``). A Passport's or
    Visa's end is its ``expires``: ``exp`` plus the leeway (rule 20), as the claims checks judged it."""
    times = [p.expires for p in passports] + [v.expires for v in visas] + list(extra)
    if not times:
        raise ValueError("a decision must use at least one passport")
    return min(times)


def clamp_ttl(requested: int, validity: int, now: float) -> int:
    """Rule 42: a signed URL or downstream token lasts at most until ``validity`` (0 when already past)."""
    return max(0, min(int(requested), validity - seconds(now)))


def cache_ttl(validity: int, now: float, *, cap: int = CACHE_TTL_CAP, margin: int = CACHE_TTL_MARGIN) -> int:
    """Rule 44: cache a decision for ``min(validity − margin, cap)`` seconds from now; 0 means do not cache."""
    return max(0, min(validity - margin - seconds(now), cap))


def decision_cache_key(passport_tokens: Sequence[str], trust_config_hash: str) -> str:
    """Rule 44: sha256 over the raw Passports (order-insensitive) and the trust-config hash; no raw token kept."""
    digest = hashlib.sha256(trust_config_hash.encode("utf-8"))
    # an ASCII string (every Passport that can parse) encodes to the same bytes either way; "ascii" is a plain copy
    for part in sorted(hashlib.sha256(t.encode("ascii")).hexdigest() if t.isascii() else sha256_hex(t)
                       for t in passport_tokens):
        digest.update(b"\x00" + part.encode("ascii"))
    return digest.hexdigest()
