"""Who the gateway trusts for GA4GH Passports, and where each issuer's keys come from (rulebook §C, rules 13–16).

Pure: no network and no clock. :class:`TrustConfig` is the frozen trust configuration the engine consults *before
any network I/O*, built from the ``passports`` settings (:class:`~gateway.settings.passports.PassportTrustSettings`)
by :func:`gateway.passports.build.build_trust`:

* ``trusted_brokers``: Passport ``iss`` → key source (a pinned JWKS, or OIDC discovery on the *configured* issuer
  URL), legacy ``typ`` allowance, strict subject binding, allowed algorithms;
* ``trusted_visa_issuers``: Visa ``iss`` → key source (a pinned JWKS, OIDC discovery for Access-Token Visas, and/or
  ``jku`` URLs registered for exactly that issuer for Document Tokens), allowed algorithms, and per Visa ``type``
  the trusted ``source`` values (exact strings).

:meth:`TrustConfig.visa_key_source` returns ``None`` for anything untrusted: the caller must then make no request
at all (rule 13). An enabled feature with no trusted broker is refused (SDA fails open there; we do not).
:func:`trust_hash` is a stable sha256 of the canonical config, part of every decision-cache key (rule 44), so a
decision is never reused across trust-config versions.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson

from gateway.passports.jose.jwk import SUPPORTED_ALGORITHMS
from gateway.settings.passports import MAX_URL_LENGTH

ALGORITHMS: frozenset[str] = SUPPORTED_ALGORITHMS
"""The only signature algorithms ever accepted (rule 8); an issuer may be narrowed to a subset."""
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


class TrustConfigError(ValueError):
    """The trust configuration is unusable (empty, contradictory, or names an insecure URL)."""


def url_problem(url: object, *, allow_insecure_loopback: bool) -> str | None:
    """Why ``url`` may not be fetched for keys (``None`` when it may): https only, or http to a loopback host when
    the development flag is on; no user info, no fragment (rule 16)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        return "not a usable URL"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return "not a usable URL"
    if not host:
        return "has no host"
    if parts.username is not None or parts.password is not None:
        return "carries user info"
    if parts.fragment:
        return "carries a fragment"
    scheme = parts.scheme.lower()
    if scheme == "https":
        return None
    if scheme == "http":
        if not allow_insecure_loopback:
            return "is not https (http is allowed only to a loopback host with allow_insecure_loopback)"
        if host.lower() in LOOPBACK_HOSTS or _is_loopback_ip(host):
            return None
        return "is http to a host that is not loopback"
    return "is not https"


def _is_loopback_ip(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address in (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


# --- the frozen trust configuration -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where one issuer's keys come from. ``kind``: ``pinned`` (``jwks`` is the canonical JSON of the JWKS, no
    request is ever made), ``discovery`` (``url`` is the configured issuer; its ``jwks_uri`` is discovered) or
    ``jku`` (``url`` is a JWKS URL registered for this issuer)."""

    issuer: str
    kind: Literal["pinned", "discovery", "jku"]
    algorithms: frozenset[str]
    url: str = ""
    jwks: str = ""

    @property
    def cache_key(self) -> tuple[str, str, str]:
        """Keys are cached per source: one issuer with two registered ``jku`` URLs has two key sets."""
        return (self.issuer, self.kind, self.url)


@dataclass(frozen=True, slots=True)
class BrokerTrust:
    issuer: str
    keys: KeySource
    legacy_typ: bool = False
    """Accept ``typ: JWT`` or no ``typ`` on this broker's Passports (RAS-era brokers, rule 12)."""
    strict_subject: bool = False
    """Every Visa must carry the Passport's own ``iss``/``sub`` (or be linked to it, §G)."""

    @property
    def algorithms(self) -> frozenset[str]:
        return self.keys.algorithms


@dataclass(frozen=True, slots=True)
class VisaIssuerTrust:
    issuer: str
    algorithms: frozenset[str]
    pinned: KeySource | None = None
    discovery: KeySource | None = None
    jku: Mapping[str, KeySource] = field(default_factory=lambda: MappingProxyType({}))
    """Registered ``jku`` URL (exact string) → its source."""
    sources: Mapping[str, frozenset[str]] = field(default_factory=lambda: MappingProxyType({}))
    """Visa ``type`` → the trusted ``source`` values (exact strings); a type not listed is not trusted."""

    def key_source(self, jku: str | None) -> KeySource | None:
        """The source for a Visa with this ``jku`` header (``None``: an Access-Token Visa); ``None`` if untrusted.
        Pinned keys serve either format and ignore ``jku`` (no request is made); otherwise a ``jku`` must equal a
        registered one exactly, and a Visa without one needs discovery to be configured."""
        if self.pinned is not None:
            return self.pinned
        if jku is None:
            return self.discovery
        if not isinstance(jku, str):
            return None
        return self.jku.get(jku)


@dataclass(frozen=True, slots=True)
class TrustConfig:
    brokers: Mapping[str, BrokerTrust]
    visa_issuers: Mapping[str, VisaIssuerTrust]
    audiences: frozenset[str] = frozenset()
    require_audience: bool = False
    leeway: int = 30
    max_authz_ttl: int | None = None
    allow_insecure_loopback: bool = False
    digest: str = field(init=False, default="")

    def __post_init__(self) -> None:
        if not self.brokers:
            raise TrustConfigError(
                "passports are enabled but no trusted broker is configured: refusing to run with an empty trust "
                "list (an empty list must never mean 'trust everyone')"
            )
        if self.require_audience and not self.audiences:
            raise TrustConfigError("require_audience is set but no audience is configured")
        object.__setattr__(self, "brokers", MappingProxyType(dict(self.brokers)))
        object.__setattr__(self, "visa_issuers", MappingProxyType(dict(self.visa_issuers)))
        object.__setattr__(self, "digest", hashlib.sha256(_canonical(self)).hexdigest())

    def is_trusted_broker(self, iss: Any) -> bool:
        return isinstance(iss, str) and iss in self.brokers

    def broker(self, iss: Any) -> BrokerTrust | None:
        return self.brokers.get(iss) if isinstance(iss, str) else None

    def broker_key_source(self, iss: Any) -> KeySource | None:
        broker = self.broker(iss)
        return broker.keys if broker is not None else None

    def visa_issuer(self, iss: Any) -> VisaIssuerTrust | None:
        return self.visa_issuers.get(iss) if isinstance(iss, str) else None

    def visa_key_source(self, iss: Any, jku: str | None = None) -> KeySource | None:
        """Where to get the keys for a Visa from ``iss`` with this ``jku`` header; ``None`` = untrusted, and the
        caller must make zero requests (rule 13)."""
        issuer = self.visa_issuer(iss)
        return issuer.key_source(jku) if issuer is not None else None

    def visa_source_trusted(self, iss: Any, visa_type: Any, source: Any) -> bool:
        """Is ``source`` trusted for Visas of ``visa_type`` from ``iss``? Exact strings only (rule 14)."""
        issuer = self.visa_issuer(iss)
        if issuer is None or not isinstance(visa_type, str) or not isinstance(source, str):
            return False
        return source in issuer.sources.get(visa_type, frozenset())


def trust_hash(config: TrustConfig) -> str:
    """A stable sha256 (hex) of the canonical trust configuration: equal configs give equal hashes, whatever the
    order they were written in; any change to who or what is trusted changes it."""
    return config.digest


def _canonical(config: TrustConfig) -> bytes:
    def source(s: KeySource | None) -> Any:
        if s is None:
            return None
        return {"kind": s.kind, "url": s.url, "algs": sorted(s.algorithms),
                "jwks": orjson.loads(s.jwks) if s.jwks else None}

    doc = {
        "v": 1,
        "brokers": {iss: {"keys": source(b.keys), "legacy_typ": b.legacy_typ, "strict_subject": b.strict_subject}
                    for iss, b in config.brokers.items()},
        "visa_issuers": {iss: {"algs": sorted(v.algorithms), "pinned": source(v.pinned),
                               "discovery": source(v.discovery), "jku": sorted(v.jku),
                               "sources": {t: sorted(s) for t, s in v.sources.items()}}
                         for iss, v in config.visa_issuers.items()},
        "audiences": sorted(config.audiences),
        "require_audience": config.require_audience,
        "leeway": config.leeway,
        "max_authz_ttl": config.max_authz_ttl,
        "allow_insecure_loopback": config.allow_insecure_loopback,
    }
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)
