"""What one reference commons instance is: its prefix, seed, size, public URL and where it keeps state, which
federation gateways it trusts and how its Guppy tiers access.

A leaf of the reference commons: every service imports it, it imports none of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

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
    """Public base URL, no trailing slash: token ``iss`` is ``<base_url>/user``; signed URLs and the DRS
    ``self_uri`` hostname are derived from it."""
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
    def hostname(self) -> str:
        """``host[:port]`` of :attr:`base_url` (used in hostname-based ``drs://`` URIs)."""
        rest = self.base_url.split("://", 1)[-1]
        return rest.split("/", 1)[0]
