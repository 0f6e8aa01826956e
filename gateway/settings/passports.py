"""The ``passports`` configuration section: trust (``trust.PassportTrustSettings``), key fetching
(``keys.KeyFetchSettings`` under ``passports.keys``), grant mapping (``passports.grants``, converted to
``grants.GrantConfig``) and the decision cache (``passports.decision_cache``).

With ``enabled: false`` (the default) nothing here is used. With ``enabled: true`` and no trusted broker the
configuration is refused (``PassportTrustSettings`` and ``TrustConfig`` both enforce it): an empty trust list never
means "trust everyone".
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.passports.rules.envelope import MAX_PASSPORTS
from gateway.passports.rules.grants import CHARSETS, ExactGrant, GrantConfig, IssuerGrantRules, RasRules, Slot, Template
from gateway.passports.rules.resources import MemberResourceMap, ResourceTemplate
from gateway.passports.tokens.gateway_token import MAX_TTL
from gateway.passports.trust.issuers import PassportTrustSettings
from gateway.passports.trust.keys import KeyFetchSettings

Charset = Literal["digits", "alnum", "word"]
assert set(CHARSETS) == {"digits", "alnum", "word"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlotSettings(_Section):
    prefix: str = Field("", max_length=64, description="Literal prefix, kept in the captured value (e.g. `phs`).")
    charset: Charset = Field("digits", description="Characters after the prefix: `digits`, `alnum` or `word`.")
    min_len: int = Field(1, ge=1, le=256, description="Fewest characters after the prefix.")
    max_len: int = Field(32, ge=1, le=256, description="Most characters after the prefix.")

    def to_slot(self) -> Slot:
        return Slot(prefix=self.prefix, charset=self.charset, min_len=self.min_len, max_len=self.max_len)


class TemplateSettings(_Section):
    template: str = Field(
        min_length=1, max_length=1024,
        description="Anchored template with `{dataset}` and optionally `{consent}`, matched in full.",
    )
    dataset: SlotSettings = Field(
        default_factory=lambda: SlotSettings(prefix="phs", charset="digits", min_len=6, max_len=6),
        description="What `{dataset}` captures (default `phs` + 6 digits).",
    )
    consent: SlotSettings = Field(
        default_factory=lambda: SlotSettings(prefix="c", charset="digits", min_len=1, max_len=4),
        description="What `{consent}` captures (default `c` + 1 to 4 digits).",
    )

    def to_template(self) -> Template:
        return Template(self.template, dataset=self.dataset.to_slot(), consent=self.consent.to_slot())


class ExactGrantSettings(_Section):
    value: str = Field(min_length=1, max_length=255, description="The exact Visa `value`.")
    dataset: str = Field(min_length=1, max_length=255, description="The dataset it grants.")
    consent: str | None = Field(None, max_length=255, description="Its consent group; empty: a whole study.")


class IssuerGrantSettings(_Section):
    issuer: str = Field(min_length=1, description="Visa `iss` (exact).")
    source: str = Field(min_length=1, description="Visa `source` (exact).")
    authority: str = Field(min_length=1, description="Authority the grants belong to, e.g. `dbgap`.")
    exact: list[ExactGrantSettings] = Field([], description="Exact `value` → dataset/consent, tried first.")
    templates: list[TemplateSettings] = Field([], description="Anchored value templates, tried in order.")


class RasSettings(_Section):
    issuers: list[str] = Field([], description="Issuers whose RAS v1.1 Visas are read (`ras_dbgap_permissions`).")
    authority: str = Field("dbgap", min_length=1, description="Authority of RAS grants.")


class SingleConsentSettings(_Section):
    authority: str = Field(min_length=1, description="Authority of the study.")
    dataset: str = Field(min_length=1, description="The study.")
    consent: str = Field(min_length=1, description="Its one consent group.")


class GrantMappingSettings(_Section):
    issuers: list[IssuerGrantSettings] = Field(
        [], description="ControlledAccessGrants mapping per Visa issuer and source (exact values, then templates)."
    )
    ras: RasSettings = Field(default_factory=RasSettings, description="NIH RAS v1.1 Visas.")
    single_consent: list[SingleConsentSettings] = Field(
        [], description="Studies with exactly one consent group: a consent-less grant of one grants that group."
    )

    def to_config(self) -> GrantConfig:
        """The frozen :class:`GrantConfig`; :class:`ValueError` for a bad template."""
        rules = tuple(
            IssuerGrantRules(
                issuer=i.issuer, source=i.source, authority=i.authority,
                exact=tuple(ExactGrant(e.value, e.dataset, e.consent) for e in i.exact),
                templates=tuple(t.to_template() for t in i.templates),
            )
            for i in self.issuers
        )
        return GrantConfig(
            rules=rules,
            ras=RasRules(issuers=frozenset(self.ras.issuers), authority=self.ras.authority),
            single_consent=tuple((s.authority, s.dataset, s.consent) for s in self.single_consent),
        )


class ExactResourceSettings(_Section):
    resource: str = Field(min_length=1, max_length=1024, description="The member's `authz` resource path (exact).")
    authority: str = Field(min_length=1, description="Authority of the dataset, e.g. `dbgap`.")
    dataset: str = Field(min_length=1, max_length=255, description="The dataset, e.g. `phs000123`.")
    consent: str = Field(min_length=1, max_length=255, description="Its consent group, e.g. `c1`.")


class ResourceTemplateSettings(TemplateSettings):
    authority: str = Field(min_length=1, description="Authority of the datasets it captures, e.g. `dbgap`.")


class ResourceMapSettings(_Section):
    """One member's `authz` resources → `(authority, dataset, consent)`; a resource matched by neither is
    unmapped and denies access."""

    exact: list[ExactResourceSettings] = Field([], description="Exact resource paths, tried first.")
    templates: list[ResourceTemplateSettings] = Field(
        [], description="Anchored templates with `{dataset}` and `{consent}`, e.g. `/programs/{dataset}.{consent}`."
    )

    def to_map(self) -> MemberResourceMap:
        """The frozen map; :class:`ValueError` for a template without `{consent}`."""
        return MemberResourceMap(
            exact=tuple((e.resource, (e.authority, e.dataset, e.consent)) for e in self.exact),
            templates=tuple(ResourceTemplate(t.to_template(), t.authority) for t in self.templates),
        )

    @model_validator(mode="after")
    def _valid(self) -> ResourceMapSettings:
        self.to_map()
        return self


class GatewayTokenSettings(_Section):
    issuer: str | None = Field(
        None, description="`iss` of gateway tokens; its JWKS is at `<issuer>/.well-known/jwks.json`. Empty: the "
        "gateway's `public_url`."
    )
    ttl: int = Field(60, ge=1, le=MAX_TTL, description="Seconds a gateway token lives (never past the decision).")
    rotate_after: int = Field(
        7 * 24 * 3600, ge=60, description="Seconds after which a new signing key replaces the current one; the old "
        "key stays published until every token it signed has expired."
    )


class DecisionCacheSettings(_Section):
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
