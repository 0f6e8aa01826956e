"""The ``passports`` configuration section, as plain pydantic models (validated when the configuration is loaded):
trust (:class:`PassportTrustSettings`, rulebook §C), key fetching (:class:`KeyFetchSettings` under
``passports.keys``), grant mapping (:class:`GrantMappingSettings` under ``passports.grants``), the members' resource
maps, the gateway's own tokens and the decision cache. :mod:`gateway.passports.build` turns them into the Passport
package's runtime objects (trust configuration, grant configuration, resource maps, the engine).

With ``enabled: false`` (the default) nothing here is used. With ``enabled: true`` and no trusted broker the
configuration is refused (:class:`PassportTrustSettings` and the trust configuration both enforce it): an empty
trust list never means "trust everyone".

The bounds below are the rulebook's (``docs/passport-rules.md``); the Passport package enforces the same numbers.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from gateway.settings.sections import Section
from gateway.settings.value_templates import (
    CONSENT_SLOT,
    DATASET_SLOT,
    MAX_TEMPLATE_LENGTH,
    Charset,
    Slot,
    check_resource_template,
    template_parts,
)

Alg = Literal["RS256", "ES256"]
"""The only signature algorithms a Passport, Visa or gateway token is ever verified with (rule 8)."""
MAX_URL_LENGTH = 2048
"""Longest issuer or key URL accepted (rule 16)."""
MAX_PASSPORTS = 10
"""Most Passports one request may carry unless configured otherwise (rule 3)."""
MAX_GATEWAY_TOKEN_TTL = 300
"""No gateway token lives longer than this, whatever the configuration says."""


# --- trust and keys -------------------------------------------------------------------------------------------------


class KeySourceSettings(Section):
    """Who an issuer is, and where its keys come from: a pinned JWKS (inline or a file) or OIDC discovery."""

    issuer: str = Field(min_length=1, max_length=MAX_URL_LENGTH, description="The exact `iss` value.")
    jwks: dict[str, Any] | None = Field(None, description="A pinned JWKS (`{\"keys\": [...]}`), inline.")
    jwks_file: Path | None = Field(None, description="A pinned JWKS, read from this file at startup.")
    discovery: bool = Field(False, description="Find the keys by OIDC discovery on the configured `issuer` URL.")
    algorithms: list[Alg] = Field(["RS256", "ES256"], min_length=1, description="Allowed `alg` values.")


class BrokerSettings(KeySourceSettings):
    legacy_typ: bool = Field(False, description="Accept `typ: JWT` or no `typ` on this broker's Passports.")
    strict_subject: bool = Field(False, description="Visas must be bound to the Passport's own `iss`/`sub`.")


class VisaIssuerSettings(KeySourceSettings):
    jku: list[str] = Field([], description="JWKS URLs registered for this issuer (Document-Token Visas, exact).")
    sources: dict[str, list[str]] = Field(
        {}, description="Visa `type` → trusted `source` values (exact strings); unlisted types are not trusted."
    )


class PassportTrustSettings(Section):
    """Who the gateway trusts for Passports and Visas (rulebook §C, rules 13–16), and the claim bounds it holds
    them to."""

    enabled: bool = Field(False, description="Accept GA4GH Passports.")
    trusted_brokers: list[BrokerSettings] = Field([], description="Passport issuers trusted by the gateway.")
    trusted_visa_issuers: list[VisaIssuerSettings] = Field([], description="Visa issuers trusted by the gateway.")
    audiences: list[str] = Field([], description="Accepted `aud` values (a Passport's `aud`, if any, must hold one).")
    require_audience: bool = Field(False, description="Reject Passports without `aud`.")
    leeway: int = Field(30, ge=0, le=60, description=(
        "Clock-skew leeway for `exp`/`nbf`/`iat`, seconds: a Passport or Visa counts until `exp` + leeway, for "
        "validation and the access decision alike."))
    max_authz_ttl: int | None = Field(
        None, gt=0, description="Longest a Visa's assertion counts after `asserted`, seconds (empty: no cap)."
    )
    allow_insecure_loopback: bool = Field(
        False, description="DEVELOPMENT ONLY: allow http key URLs to 127.0.0.1, ::1 and localhost."
    )

    @model_validator(mode="after")
    def _not_empty_when_enabled(self) -> PassportTrustSettings:
        if self.enabled and not self.trusted_brokers:
            raise ValueError("passports.enabled needs at least one entry in passports.trusted_brokers")
        return self


class KeyFetchSettings(Section):
    """How keys are fetched and cached (not part of the trust hash: it changes no decision)."""

    connect_timeout: float = Field(3.0, gt=0, le=30, description="Seconds to open a connection to a key endpoint.")
    read_timeout: float = Field(3.0, gt=0, le=30, description="Seconds to wait for a key endpoint's answer.")
    max_bytes: int = Field(256 * 1024, ge=1024, le=4 * 1024 * 1024, description="Largest JWKS/discovery body.")
    max_keys: int = Field(50, ge=1, le=1000, description="Most keys one JWKS may hold.")
    ttl: float = Field(300.0, gt=0, description="Seconds fetched keys are used before they are refreshed.")
    max_stale: float = Field(86400.0, ge=0, description="Seconds past `ttl` old keys serve when a refresh fails.")
    kid_miss_cooldown: float = Field(30.0, ge=0, description="Least seconds between refetches for an unknown kid.")
    error_cooldown: float = Field(5.0, ge=0, description="Seconds a failed fetch is not retried.")


# --- grants and resource maps ---------------------------------------------------------------------------------------


class SlotSettings(Section):
    prefix: str = Field("", max_length=64, description="Literal prefix, kept in the captured value (e.g. `phs`).")
    charset: Charset = Field("digits", description="Characters after the prefix: `digits`, `alnum` or `word`.")
    min_len: int = Field(1, ge=1, le=256, description="Fewest characters after the prefix.")
    max_len: int = Field(32, ge=1, le=256, description="Most characters after the prefix.")

    def to_slot(self) -> Slot:
        """The slot (:class:`~gateway.settings.value_templates.Slot` checks ``min_len <= max_len``)."""
        return Slot(prefix=self.prefix, charset=self.charset, min_len=self.min_len, max_len=self.max_len)


class TemplateSettings(Section):
    template: str = Field(
        min_length=1, max_length=MAX_TEMPLATE_LENGTH,
        description="Anchored template with `{dataset}` and optionally `{consent}`, matched in full.",
    )
    dataset: SlotSettings = Field(
        default_factory=lambda: SlotSettings.model_validate(asdict(DATASET_SLOT)),
        description="What `{dataset}` captures (default `phs` + 6 digits).",
    )
    consent: SlotSettings = Field(
        default_factory=lambda: SlotSettings.model_validate(asdict(CONSENT_SLOT)),
        description="What `{consent}` captures (default `c` + 1 to 4 digits).",
    )

    def slots(self) -> tuple[Slot, Slot]:
        """The ``{dataset}`` and ``{consent}`` slots; :class:`ValueError` for lengths that contradict each other."""
        return self.dataset.to_slot(), self.consent.to_slot()


class ExactGrantSettings(Section):
    value: str = Field(min_length=1, max_length=255, description="The exact Visa `value`.")
    dataset: str = Field(min_length=1, max_length=255, description="The dataset it grants.")
    consent: str | None = Field(None, max_length=255, description="Its consent group; empty: a whole study.")


class IssuerGrantSettings(Section):
    issuer: str = Field(min_length=1, description="Visa `iss` (exact).")
    source: str = Field(min_length=1, description="Visa `source` (exact).")
    authority: str = Field(min_length=1, description="Authority the grants belong to, e.g. `dbgap`.")
    exact: list[ExactGrantSettings] = Field([], description="Exact `value` → dataset/consent, tried first.")
    templates: list[TemplateSettings] = Field([], description="Anchored value templates, tried in order.")


class RasSettings(Section):
    issuers: list[str] = Field([], description="Issuers whose RAS v1.1 Visas are read (`ras_dbgap_permissions`).")
    authority: str = Field("dbgap", min_length=1, description="Authority of RAS grants.")


class SingleConsentSettings(Section):
    authority: str = Field(min_length=1, description="Authority of the study.")
    dataset: str = Field(min_length=1, description="The study.")
    consent: str = Field(min_length=1, description="Its one consent group.")


class GrantMappingSettings(Section):
    issuers: list[IssuerGrantSettings] = Field(
        [], description="ControlledAccessGrants mapping per Visa issuer and source (exact values, then templates)."
    )
    ras: RasSettings = Field(default_factory=RasSettings, description="NIH RAS v1.1 Visas.")
    single_consent: list[SingleConsentSettings] = Field(
        [], description="Studies with exactly one consent group: a consent-less grant of one grants that group."
    )


class ExactResourceSettings(Section):
    resource: str = Field(min_length=1, max_length=1024, description="The member's `authz` resource path (exact).")
    authority: str = Field(min_length=1, description="Authority of the dataset, e.g. `dbgap`.")
    dataset: str = Field(min_length=1, max_length=255, description="The dataset, e.g. `phs000123`.")
    consent: str = Field(min_length=1, max_length=255, description="Its consent group, e.g. `c1`.")


class ResourceTemplateSettings(TemplateSettings):
    authority: str = Field(min_length=1, description="Authority of the datasets it captures, e.g. `dbgap`.")


class ResourceMapSettings(Section):
    """One member's `authz` resources → `(authority, dataset, consent)`; a resource matched by neither is
    unmapped and denies access."""

    exact: list[ExactResourceSettings] = Field([], description="Exact resource paths, tried first.")
    templates: list[ResourceTemplateSettings] = Field(
        [], description="Anchored templates with `{dataset}` and `{consent}`, e.g. `/programs/{dataset}.{consent}`."
    )

    @model_validator(mode="after")
    def _valid(self) -> ResourceMapSettings:
        """Every template parses and captures ``{consent}``: refused when the configuration is loaded."""
        for t in self.templates:
            check_resource_template(template_parts(t.template, *t.slots()))
        return self


# --- tokens, cache, the whole section -------------------------------------------------------------------------------


class GatewayTokenSettings(Section):
    issuer: str | None = Field(
        None, description="`iss` of gateway tokens; its JWKS is at `<issuer>/.well-known/jwks.json`. Empty: the "
        "gateway's `public_url`."
    )
    ttl: int = Field(
        60, ge=1, le=MAX_GATEWAY_TOKEN_TTL, description="Seconds a gateway token lives (never past the decision)."
    )
    rotate_after: int = Field(
        7 * 24 * 3600, ge=60, description="Seconds after which a new signing key replaces the current one; the old "
        "key stays published until every token it signed has expired."
    )


class DecisionCacheSettings(Section):
    enabled: bool = Field(True, description="Cache Passport evaluations in the gateway cache (`cache.url`).")
    negative_ttl: int = Field(60, ge=1, le=600, description="Seconds a rejected Passport set stays cached.")
    key_prefix: str = Field("pp:", description="Prefix of decision-cache keys inside the gateway cache.")


class PassportsConfig(PassportTrustSettings):
    """The whole ``passports`` section; the trust fields are :class:`PassportTrustSettings`'s own."""

    max_passports: int = Field(MAX_PASSPORTS, ge=1, le=100, description="Most Passports one request may carry.")
    keys: KeyFetchSettings = Field(default_factory=KeyFetchSettings, description="Fetching issuers' keys.")
    grants: GrantMappingSettings = Field(default_factory=GrantMappingSettings, description="Visas to grants.")
    decision_cache: DecisionCacheSettings = Field(
        default_factory=DecisionCacheSettings, description="The decision cache."
    )
    resource_maps: dict[str, ResourceMapSettings] = Field(
        {}, description="Per member id: its objects' `authz` resources → datasets and consent groups. A member "
        "without a map (or an unmapped resource) denies Passport access."
    )
    gateway_tokens: GatewayTokenSettings = Field(
        default_factory=GatewayTokenSettings, description="Tokens the gateway signs for `gateway_token` members."
    )
