"""The Passport package's runtime objects from the ``passports`` settings (:mod:`gateway.settings.passports`): the
trust configuration, the grant configuration, the members' resource maps and the engine.

The settings are plain pydantic models, validated when the configuration is loaded; what only makes sense once
they are put together (a pinned JWKS file that must be read, a broker with both a pinned JWKS and discovery, a key
URL that may not be fetched, a grant template that does not parse) is refused here, when the gateway starts:
:class:`~gateway.passports.trust.issuers.TrustConfigError` or :class:`ValueError`, whose message says what to fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, get_args

import orjson

from gateway.cache.base import Cache
from gateway.core.egress import EgressPolicy
from gateway.passports.decisions import DecisionCache
from gateway.passports.engine import PassportEngine
from gateway.passports.jose.jwk import SUPPORTED_ALGORITHMS
from gateway.passports.rules.grants import ExactGrant, GrantConfig, IssuerGrantRules, RasRules
from gateway.passports.rules.resources import MemberResourceMap, ResourceTemplate
from gateway.passports.rules.templates import Template
from gateway.passports.trust.issuers import (
    BrokerTrust,
    KeySource,
    TrustConfig,
    TrustConfigError,
    VisaIssuerTrust,
    trust_hash,
    url_problem,
)
from gateway.passports.trust.keys import KeyStore
from gateway.settings.passports import (
    Alg,
    GrantMappingSettings,
    KeySourceSettings,
    PassportsConfig,
    PassportTrustSettings,
    ResourceMapSettings,
    TemplateSettings,
)

assert frozenset(get_args(Alg)) == SUPPORTED_ALGORITHMS  # what configuration may name is what the JOSE layer verifies


# --- trust ----------------------------------------------------------------------------------------------------------


def pinned_jwks(entry: KeySourceSettings) -> str:
    """The canonical JSON of an issuer's pinned JWKS (``jwks`` inline or read from ``jwks_file``), ``""`` when none
    is pinned; :class:`TrustConfigError` when both are given, the file cannot be read, or it holds no keys."""
    if entry.jwks is not None and entry.jwks_file is not None:
        raise TrustConfigError(f"{entry.issuer}: give `jwks` or `jwks_file`, not both")
    doc: Any = entry.jwks
    if entry.jwks_file is not None:
        try:
            doc = orjson.loads(entry.jwks_file.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            raise TrustConfigError(f"{entry.issuer}: cannot read jwks_file {entry.jwks_file}: {exc}") from None
    if doc is None:
        return ""
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list) or not doc["keys"]:
        raise TrustConfigError(f"{entry.issuer}: a pinned JWKS must be an object with a non-empty `keys` array")
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS).decode()


def build_trust(settings: PassportTrustSettings) -> TrustConfig:
    """The frozen trust configuration; :class:`TrustConfigError` when it is empty, contradictory or insecure.
    Reads ``jwks_file`` files (the only I/O here)."""
    loopback = settings.allow_insecure_loopback
    brokers: dict[str, BrokerTrust] = {}
    for b in settings.trusted_brokers:
        if b.issuer in brokers:
            raise TrustConfigError(f"trusted broker {b.issuer} is listed twice")
        algs = frozenset(b.algorithms)
        pinned = pinned_jwks(b)
        if bool(pinned) == b.discovery:
            raise TrustConfigError(f"trusted broker {b.issuer}: choose exactly one of a pinned JWKS or discovery")
        if pinned:
            keys = KeySource(b.issuer, "pinned", algs, jwks=pinned)
        else:
            _check_url(b.issuer, "issuer (for discovery)", b.issuer, loopback)
            keys = KeySource(b.issuer, "discovery", algs, url=b.issuer)
        brokers[b.issuer] = BrokerTrust(b.issuer, keys, legacy_typ=b.legacy_typ, strict_subject=b.strict_subject)

    issuers: dict[str, VisaIssuerTrust] = {}
    for v in settings.trusted_visa_issuers:
        if v.issuer in issuers:
            raise TrustConfigError(f"trusted visa issuer {v.issuer} is listed twice")
        algs = frozenset(v.algorithms)
        pinned = pinned_jwks(v)
        if pinned and (v.discovery or v.jku):
            raise TrustConfigError(f"trusted visa issuer {v.issuer}: a pinned JWKS excludes discovery and jku")
        if not (pinned or v.discovery or v.jku):
            raise TrustConfigError(f"trusted visa issuer {v.issuer}: give a pinned JWKS, discovery or jku URLs")
        discovery = None
        if v.discovery:
            _check_url(v.issuer, "issuer (for discovery)", v.issuer, loopback)
            discovery = KeySource(v.issuer, "discovery", algs, url=v.issuer)
        for url in v.jku:
            _check_url(v.issuer, "jku", url, loopback)
        issuers[v.issuer] = VisaIssuerTrust(
            v.issuer, algs,
            pinned=KeySource(v.issuer, "pinned", algs, jwks=pinned) if pinned else None,
            discovery=discovery,
            jku=MappingProxyType({url: KeySource(v.issuer, "jku", algs, url=url) for url in v.jku}),
            sources=MappingProxyType({t: _exact(v.issuer, t, s) for t, s in v.sources.items()}),
        )
    return TrustConfig(
        brokers, issuers, audiences=frozenset(settings.audiences), require_audience=settings.require_audience,
        leeway=settings.leeway, max_authz_ttl=settings.max_authz_ttl, allow_insecure_loopback=loopback,
    )


def _check_url(issuer: str, what: str, url: str, loopback: bool) -> None:
    problem = url_problem(url, allow_insecure_loopback=loopback)
    if problem:
        raise TrustConfigError(f"{issuer}: {what} {url!r} {problem}")


def _exact(issuer: str, visa_type: str, sources: Iterable[str]) -> frozenset[str]:
    values = frozenset(sources)
    if not visa_type or any(not s for s in values):
        raise TrustConfigError(f"{issuer}: visa types and sources must be non-empty strings")
    return values


# --- grants and resource maps ---------------------------------------------------------------------------------------


def template(settings: TemplateSettings) -> Template:
    """The compiled template; :class:`ValueError` when it breaks the grammar."""
    dataset, consent = settings.slots()
    return Template(settings.template, dataset=dataset, consent=consent)


def grant_config(settings: GrantMappingSettings) -> GrantConfig:
    """The frozen :class:`GrantConfig` of ``passports.grants``; :class:`ValueError` for a bad template."""
    rules = tuple(
        IssuerGrantRules(
            issuer=i.issuer, source=i.source, authority=i.authority,
            exact=tuple(ExactGrant(e.value, e.dataset, e.consent) for e in i.exact),
            templates=tuple(template(t) for t in i.templates),
        )
        for i in settings.issuers
    )
    return GrantConfig(
        rules=rules,
        ras=RasRules(issuers=frozenset(settings.ras.issuers), authority=settings.ras.authority),
        single_consent=tuple((s.authority, s.dataset, s.consent) for s in settings.single_consent),
    )


def resource_map(settings: ResourceMapSettings) -> MemberResourceMap:
    """One member's frozen resource map (its templates were checked when the configuration was loaded)."""
    return MemberResourceMap(
        exact=tuple((e.resource, (e.authority, e.dataset, e.consent)) for e in settings.exact),
        templates=tuple(ResourceTemplate(template(t), t.authority) for t in settings.templates),
    )


def resource_maps(settings: PassportsConfig) -> Mapping[str, MemberResourceMap]:
    """Every configured member's resource map, by member id."""
    return {member_id: resource_map(section) for member_id, section in settings.resource_maps.items()}


# --- the engine -----------------------------------------------------------------------------------------------------


def build_engine(settings: PassportsConfig, cache: Cache | None = None, *, egress: EgressPolicy) -> PassportEngine:
    """The engine for an enabled ``passports`` section, with a decision cache in ``cache`` when one is given and
    ``decision_cache.enabled``. Raises :class:`~gateway.passports.trust.issuers.TrustConfigError` (a ``ValueError``)
    for an unusable trust configuration and :class:`ValueError` for an unusable grant mapping, so the app refuses to
    start. Keys are fetched under ``egress``. Call :meth:`PassportEngine.aclose` on shutdown."""
    if not settings.enabled:
        raise ValueError("passports are not enabled")
    trust = build_trust(settings)
    grants = grant_config(settings.grants)
    keys = KeyStore(trust, settings.keys, egress=egress)
    decisions = None
    if cache is not None and settings.decision_cache.enabled:
        decisions = DecisionCache(cache, trust_hash=trust_hash(trust), key_prefix=settings.decision_cache.key_prefix,
                                  negative_ttl=settings.decision_cache.negative_ttl)
    return PassportEngine(trust, keys, grants, max_passports=settings.max_passports, decisions=decisions,
                          own_keys=True)
