"""What one reference commons instance is: its prefix, seed, size, public URL and where it keeps state, which
federation gateways it trusts and how its Guppy tiers access.

A leaf of the reference commons: every service imports it, it imports none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from refcommons.layout import GEN3, Layout, check_layout, hostname, part_url, servers

if TYPE_CHECKING:  # annotations only: importing the settings stays cheap (the CLI imports this module)
    from gateway.settings.passports import PassportsConfig

TierLevel = Literal["private", "regular", "libre"]
"""Guppy's tiered access (its ``TIER_ACCESS_LEVEL``)."""
TIER_LEVELS: tuple[TierLevel, ...] = ("private", "regular", "libre")
DEFAULT_TIER_LEVEL: TierLevel = "regular"
DEFAULT_TIER_LIMIT = 50
"""The reference commons' tier limit (Guppy's own default is 1000; see docs/research, §3.1)."""


@dataclass(frozen=True)
class TrustedGateway:
    """A federation gateway whose tokens this commons accepts: its exact ``iss`` and its JWKS URL."""

    issuer: str
    jwks_uri: str

    @classmethod
    def parse(cls, spec: str) -> TrustedGateway:
        """``ISSUER=JWKS_URL`` (split at the first ``=``); :class:`ValueError` when either side is empty."""
        issuer, sep, jwks_uri = spec.partition("=")
        issuer, jwks_uri = issuer.strip(), jwks_uri.strip()
        if not sep or not issuer or not jwks_uri:
            raise ValueError(f"expected ISSUER=JWKS_URL, got {spec!r}")
        return cls(issuer, jwks_uri)


@dataclass(frozen=True)
class CommonsSettings:
    prefix: str = "dg.REF0"
    """GUID prefix of every record (``<prefix>/<uuid>``); also salts the GUIDs so prefixes never collide."""
    seed: int = 1
    """Seed of the synthetic dataset: the same seed, prefix and size give byte-identical data."""
    subjects: int = 200
    """How many subjects to synthesise (files scale with it, a few per subject)."""
    base_url: str = "http://127.0.0.1:8701"
    """Public base URL, no trailing slash: the commons' own URL (the server that serves indexd; the audience
    of trusted gateways' tokens), and every server's URL unless :attr:`server_urls` says otherwise."""
    layout: Layout = GEN3
    """How the services are served (:mod:`refcommons.layout`): ``gen3`` (Gen3's reverse-proxy layout under one
    host), ``indexd`` (indexd alone at its root, no fence) or ``split`` (each service on its own server)."""
    server_urls: Mapping[str, str] = field(default_factory=dict)
    """Public root URL of each server of the layout (``split``: ``indexd``, ``fence``, ``guppy``, ``mds``,
    ``arborist``, ``sheepdog``); a server not named is at :attr:`base_url`. Token ``iss`` is fence's URL, signed
    URLs point at the server serving fence, DRS ``self_uri`` s at the server serving indexd."""
    data_dir: Path | None = None
    """Where keys, API keys and indexd writes persist (SQLite). ``None``: in memory, gone at exit."""
    user_yaml: Path | None = None
    """A Gen3 ``user.yaml``-style policy file; ``None`` uses a default derived from the dataset."""
    name: str = ""
    """Human-readable name (defaults to ``Reference commons <prefix>``)."""
    api_key_ttl_seconds: int = 30 * 24 * 3600
    access_token_ttl_seconds: int = 20 * 60
    signed_url_max_ttl_seconds: int = 3600
    signed_url_default_ttl_seconds: int = 3600
    drs_profile: str = "1.5"
    """DRS output profile: ``1.5`` (default) or ``1.2`` (strips 1.3+ fields for older clients)."""
    max_bulk_request_length: int = 1000
    """Most ids one DRS bulk request or indexd bulk lookup may carry (413 beyond)."""
    passports: PassportsConfig | None = None
    """The commons' own ``passports`` section (the gateway's format). When set and ``enabled``, DRS access
    requests may carry GA4GH Passports (``{"passports": [...]}``), checked by the commons' own engine; controlled
    resources ``/programs/<phs>.<consent>`` map to grants ``("dbgap", phs, consent)``."""
    trusted_gateways: tuple[TrustedGateway, ...] = ()
    """Federation gateways whose gateway tokens (``Authorization: Bearer``) are accepted for downloads; the token
    audience expected is :attr:`base_url`."""
    allow_insecure_loopback: bool = False
    """DEVELOPMENT ONLY: fetch trusted gateways' JWKS over http from a loopback host."""
    tier_access_level: TierLevel = DEFAULT_TIER_LEVEL
    """Its Guppy's tiered access (Guppy's ``TIER_ACCESS_LEVEL``): ``private`` (every query narrowed to the
    caller's data, whatever its ``accessibility``), ``regular`` (aggregations over everything with counts whose
    inaccessible part is in ``(0, limit)`` answered ``-1``; raw rows only of readable data) or ``libre``
    (everything, to anyone)."""
    tier_access_limit: int = DEFAULT_TIER_LIMIT
    """Guppy's ``TIER_ACCESS_LIMIT`` under ``regular``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "trusted_gateways", tuple(self.trusted_gateways))
        object.__setattr__(self, "layout", check_layout(self.layout))
        unknown = set(self.server_urls) - set(servers(self.layout))
        if unknown:
            raise ValueError(f"layout {self.layout} has no server {', '.join(sorted(unknown))} "
                             f"(its servers: {', '.join(servers(self.layout))})")
        object.__setattr__(self, "server_urls", {k: v.rstrip("/") for k, v in self.server_urls.items()})
        if self.tier_access_level not in TIER_LEVELS:
            raise ValueError(f"tier_access_level must be one of {', '.join(TIER_LEVELS)}, "
                             f"not {self.tier_access_level!r}")
        limit = self.tier_access_limit
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValueError(f"tier_access_limit must be a non-negative integer, not {limit!r}")

    @property
    def passports_enabled(self) -> bool:
        return self.passports is not None and self.passports.enabled

    @property
    def display_name(self) -> str:
        return self.name or f"Reference commons {self.prefix}"

    @property
    def urls(self) -> dict[str, str]:
        """Every server of the layout and its public root URL."""
        return {name: self.server_urls.get(name, self.base_url) for name in servers(self.layout)}

    @property
    def hostname(self) -> str:
        """``host[:port]`` of the server serving indexd's DRS routes (used in hostname-based ``drs://`` URIs)."""
        return hostname(part_url(self.layout, self.urls, "indexd-drs") or self.base_url)

    @property
    def serves_fence(self) -> bool:
        """Whether the layout serves fence (signed URLs, tokens, DRS access): not ``indexd`` alone."""
        return part_url(self.layout, self.urls, "fence") is not None

    @property
    def fence_url(self) -> str:
        """Fence's public URL: the ``iss`` of its tokens (``<base_url>/user`` under Gen3's proxy)."""
        return part_url(self.layout, self.urls, "fence") or f"{self.base_url}/user"

    @property
    def storage_url(self) -> str:
        """Where signed URLs point: ``<storage_url>/storage/<guid>?…`` (the server serving fence)."""
        return part_url(self.layout, self.urls, "storage") or self.base_url
