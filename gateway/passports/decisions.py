"""The Passport decision cache (rulebook rule 44, §6), in the gateway's :class:`~gateway.cache.base.Cache`.

* **Key**: :func:`gateway.passports.rules.expiry.decision_cache_key`: sha256 over the sha256 of each raw Passport
  and the trust-config hash, so a decision is never reused across trust-config versions. No raw token is ever stored.
* **Positive entries**: the normalised grants, the decision's ``valid_until`` and the Passports' earliest ``exp``,
  orjson-encoded; TTL :func:`~gateway.passports.rules.expiry.cache_ttl` (``min(validity − 60 s, 15 min)``; nothing is
  stored when that is 0). On read an entry is refused once ``now >= valid_until``, whatever the backend's TTL says.
* **Negative entries**: a Passport-level rejection (status and rule only), for ``negative_ttl`` seconds (~60).
  Retryable failures (503: keys unreachable) are never cached.

The backend is memory (per process) or Redis (shared by replicas). It may forget anything at any time; an
unreachable or garbled backend is a miss (and a skipped write), never an error for the request.

A hit reuses the entry this process last decoded for that key while the backend returns exactly the bytes it was
decoded from (the backend stays the one authority on what is cached: rewritten, forgotten or expired there means
decoded anew or missed here); the end of the entry (``valid_until``, a rejection's ``until``) is checked on every hit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.cache.base import Cache
from gateway.core.metrics import current
from gateway.passports.rules.expiry import cache_ttl, decision_cache_key
from gateway.passports.rules.grants import Grant

log = logging.getLogger("gateway.passports.decisions")

FORMAT_VERSION = 2
NEGATIVE_TTL = 60
MAX_CACHED_GRANTS = 10_000
MAX_DECODED = 4096
"""Entries kept decoded per process (what was decoded last for a key; the backend's bytes decide each hit)."""


@dataclass(frozen=True)
class CachedDecision:
    """What a positive entry holds: never tokens, only their normalised outcome."""

    grants: tuple[Grant, ...]
    valid_until: int
    passports_expire: int
    identity: tuple[str, str] | None = None
    """``(iss, sub)`` of the first Passport (whose grants these are; never a token)."""


@dataclass(frozen=True)
class CachedFailure:
    """A cached Passport-level rejection."""

    status: int
    rule: int | None


def encode_decision(decision: CachedDecision) -> bytes:
    return orjson.dumps({
        "v": FORMAT_VERSION, "kind": "ok", "valid_until": decision.valid_until,
        "passports_expire": decision.passports_expire,
        "identity": list(decision.identity) if decision.identity is not None else None,
        "grants": [[g.authority, g.dataset, g.consent, g.expires, g.issuer, g.source] for g in decision.grants],
    })


def encode_failure(failure: CachedFailure, until: int) -> bytes:
    return orjson.dumps({"v": FORMAT_VERSION, "kind": "fail", "status": failure.status, "rule": failure.rule,
                         "until": until})


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("not an integer")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("not a string")
    return value


def decode(raw: bytes, now: int) -> CachedDecision | CachedFailure | None:
    """The entry ``raw`` encodes, or ``None`` when it is garbled, of another format, or no longer valid at ``now``."""
    found = _decode(raw)
    return None if found is None or found[1] <= now else found[0]


def _decode(raw: bytes) -> tuple[CachedDecision | CachedFailure, int] | None:
    """The entry ``raw`` encodes and the first second it no longer holds; ``None`` when garbled or of another
    format."""
    try:
        doc = orjson.loads(raw)
        if not isinstance(doc, dict) or doc.get("v") != FORMAT_VERSION:
            return None
        if doc.get("kind") == "fail":
            until = _int(doc["until"])
            rule = doc.get("rule")
            return CachedFailure(_int(doc["status"]), None if rule is None else _int(rule)), until
        if doc.get("kind") != "ok":
            return None
        valid_until = _int(doc["valid_until"])
        rows = doc["grants"]
        if not isinstance(rows, list) or len(rows) > MAX_CACHED_GRANTS:
            return None
        grants = []
        for row in rows:
            if not isinstance(row, list) or len(row) != 6:
                return None
            grants.append(Grant(_str(row[0]), _str(row[1]), _str(row[2]), _int(row[3]), _str(row[4]),
                                _str(row[5])))
        identity = doc.get("identity")
        if identity is not None and (not isinstance(identity, list) or len(identity) != 2):
            return None
        return CachedDecision(tuple(grants), valid_until, _int(doc["passports_expire"]),
                              None if identity is None else (_str(identity[0]), _str(identity[1]))), valid_until
    except (orjson.JSONDecodeError, KeyError, ValueError, TypeError):
        return None


class DecisionCache:
    """Evaluations of Passport sets, keyed by the Passports' hashes and the trust-config hash."""

    def __init__(self, cache: Cache, *, trust_hash: str, key_prefix: str = "pp:",
                 negative_ttl: int = NEGATIVE_TTL) -> None:
        if negative_ttl <= 0:
            raise ValueError("negative_ttl must be positive")
        self.cache = cache
        self.trust_hash = trust_hash
        self.key_prefix = key_prefix
        self.negative_ttl = negative_ttl
        self._decoded: dict[str, tuple[bytes, CachedDecision | CachedFailure, int]] = {}
        """key → (the backend's bytes, their entry, its end): entries are frozen, so hits may share them."""

    def key(self, passports: list[str]) -> str:
        return self.key_prefix + decision_cache_key(passports, self.trust_hash)

    async def get(self, passports: list[str], now: int) -> CachedDecision | CachedFailure | None:
        key = self.key(passports)
        try:
            raw = await self.cache.get(key)
        except Exception as exc:  # a cache is never the only copy: an unreachable backend is a miss
            log.warning("decision cache read failed", extra={"reason": type(exc).__name__})
            return None
        current().cache_lookup("passport_decisions", raw is not None)
        if raw is None:
            return None
        known = self._decoded.get(key)
        if known is not None and (known[0] is raw or known[0] == raw):
            return known[1] if known[2] > now else None
        found = _decode(raw)
        if found is None:
            return None
        if len(self._decoded) >= MAX_DECODED:
            self._decoded.pop(next(iter(self._decoded)))  # the oldest decoded: a bound, not an LRU
        self._decoded[key] = (raw, found[0], found[1])
        return found[0] if found[1] > now else None

    async def put(self, passports: list[str], decision: CachedDecision, now: int) -> bool:
        """Store a positive entry for ``cache_ttl(valid_until, now)`` seconds; ``False`` when not stored."""
        ttl = cache_ttl(decision.valid_until, now)
        if ttl <= 0:
            return False
        return await self._set(self.key(passports), encode_decision(decision), ttl)

    async def put_failure(self, passports: list[str], failure: CachedFailure, now: int) -> bool:
        """Store a Passport-level rejection for ``negative_ttl`` seconds; retryable (5xx) ones are not stored."""
        if failure.status >= 500:
            return False
        return await self._set(self.key(passports), encode_failure(failure, now + self.negative_ttl),
                               self.negative_ttl)

    async def _set(self, key: str, value: bytes, ttl: int) -> bool:
        try:
            await self.cache.set(key, value, ttl=ttl)
        except Exception as exc:
            log.warning("decision cache write failed", extra={"reason": type(exc).__name__})
            return False
        return True
