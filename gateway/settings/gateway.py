"""The gateway's configuration: a YAML file overlaid by environment variables, validated by pydantic.

Precedence, highest first: environment variables (``GATEWAY_<KEY>``, nested keys joined with ``__``,
e.g. ``GATEWAY_STORE__URL=redis://127.0.0.1:6379/0``), then the YAML file (``--config`` or
``GATEWAY_CONFIG``), then the defaults below. Unknown keys in the file are errors, so typos surface.
Every key is documented, with its default, in ``docs/configuration.md`` (a test keeps the two in step).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.settings.aggregate import AggregateConfig
from gateway.settings.passports import PassportsConfig

CONFIG_ENV = "GATEWAY_CONFIG"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StoreConfig(_Section):
    url: str = Field("sqlite:///./var/gateway.sqlite3", description="`sqlite:///<path>` or `redis://host:port/db`.")
    key_prefix: str = Field("gw:", description="Prefix of every Redis key the store writes.")


class CacheConfig(_Section):
    url: str = Field("memory://", description="`memory://` (per process, bounded LRU) or `redis://host:port/db`.")
    max_entries: int = Field(10_000, ge=1, description="Bound of the in-process LRU cache.")
    default_ttl: float = Field(300.0, gt=0, description="Seconds an entry lives when the writer gives no TTL.")
    key_prefix: str = Field("gwc:", description="Prefix of every Redis key the cache writes.")


class LogConfig(_Section):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level logged.")
    format: Literal["json", "text"] = Field("json", description="`json`: one JSON object per line.")
    access: bool = Field(True, description="Log one line per HTTP request.")


class RefCommonsConfig(_Section):
    enabled: bool = Field(True, description="Run the bundled reference commons in-process.")
    mount: str = Field("/refcommons", description="URL path the in-process reference commons is served under.")
    prefix: str = Field("dg.REF0", description="GUID prefix of the in-process reference commons.")
    seed: int = Field(1, description="Seed of its synthetic dataset.")
    subjects: int = Field(200, ge=1, le=100_000, description="Number of synthetic subjects.")
    data_dir: Path | None = Field(
        Path("./var/refcommons"), description="Where its keys, API keys and writes persist; empty: in memory."
    )
    user_yaml: Path | None = Field(None, description="A Gen3 user.yaml policy file; empty: the built-in default.")
    tier_access_level: Literal["private", "regular", "libre"] = Field(
        "regular", description="Tiered access of its own Guppy API (`private`, `regular` or `libre`); the gateway's "
        "search tiers its answers itself (`aggregate.tier`)."
    )
    tier_access_limit: int = Field(50, ge=0, description="Its Guppy's tier limit under `regular`.")

    @field_validator("mount")
    @classmethod
    def _mount_shape(cls, v: str) -> str:
        if not v.startswith("/") or v.endswith("/") or len(v) < 2:
            raise ValueError("mount must start with '/' and not end with '/', e.g. /refcommons")
        return v


class MemberAuthConfig(_Section):
    type: Literal["none", "passthrough", "bearer", "api_key", "passport", "gateway_token"] = Field(
        "none", description="How access calls to the member are authorised: `none` (no credentials), "
        "`passthrough` (the caller's own `Authorization`, sent to this member only), `bearer` or `api_key` "
        "(the gateway's own credentials), `passport` (the gateway decides from the caller's GA4GH Passports, "
        "then forwards them to this member in a DRS POST) or `gateway_token` (the gateway decides, then signs a "
        "short-lived token for this member and object).",
    )
    audience: str | None = Field(
        None, description="`gateway_token`: the `aud` of the tokens signed for this member (default: its base URL)."
    )
    token: SecretStr | None = Field(None, description="Static bearer token (`type: bearer`).")
    credentials_file: Path | None = Field(
        None, description="Gen3 credentials JSON `{api_key, key_id}` exchanged for access tokens (`type: api_key`)."
    )


class MemberConfig(_Section):
    id: str = Field(description="Stable member id (lower-case letters, digits, `-`).")
    name: str = Field(description="Human-readable name.")
    base_url: str = Field(description="Root URL of the commons, e.g. `https://commons.example.org`.")
    kind: Literal["gen3", "drs", "reference"] = Field("gen3", description="Adapter kind.")
    prefixes: list[str] = Field(default_factory=list, description="GUID prefixes it owns, e.g. `dg.4503`.")
    hostnames: list[str] = Field(default_factory=list, description="DRS hostnames it answers for.")
    contact: str = Field("", description="Operator contact (e-mail or URL).")
    auth: MemberAuthConfig = Field(default_factory=MemberAuthConfig, description="Credentials for access calls.")


class RegistryConfig(_Section):
    members: list[MemberConfig] = Field(
        default_factory=list, description="Members declared here are loaded as `active` at start."
    )
    join_rate_limit: int = Field(10, ge=1, description="Join requests allowed per client address per hour.")
    join_probe_timeout: float = Field(5.0, gt=0, description="Seconds a candidate has to answer the join check.")
    join_max_body_bytes: int = Field(65_536, ge=1024, description="Largest body accepted from a candidate's probe.")
    join_deny_networks: list[str] = Field(
        default_factory=lambda: ["169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                 "100.64.0.0/10", "0.0.0.0/8", "fc00::/7", "fe80::/10"],
        description="Networks a joining candidate may not resolve into (cloud metadata, private ranges); "
        "loopback stays allowed for local federations. `[]` allows all.",
    )

    @field_validator("join_deny_networks")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        for network in v:
            ipaddress.ip_network(network, strict=False)  # ValueError names the bad entry
        return v


class HealthConfig(_Section):
    interval: float = Field(30.0, gt=0, description="Seconds between health probes of each active member.")
    timeout: float = Field(5.0, gt=0, description="Seconds a probe may take.")
    failure_threshold: int = Field(3, ge=1, description="Consecutive failures that mark a member unhealthy.")
    history: int = Field(20, ge=1, description="Recent failures kept per member.")


class UpstreamConfig(_Section):
    connect_timeout: float = Field(3.0, gt=0, description="Seconds to connect to a member.")
    read_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a member's response.")
    retries: int = Field(2, ge=0, description="Retries of idempotent calls (connect errors, 429, 502, 503, 504).")
    backoff: float = Field(0.2, gt=0, description="Base of the jittered exponential backoff, seconds.")
    max_connections: int = Field(100, ge=1, description="Pooled connections per member.")
    bulk_concurrency: int = Field(16, ge=1, description="Parallel GETs when a member has no bulk endpoint.")


class ResolverConfig(_Section):
    cache: bool = Field(True, description="Cache resolutions (hits and misses); off only to diagnose or benchmark.")
    deadline: float = Field(10.0, gt=0, description="Seconds one resolution may take, retries included.")
    fanout_concurrency: int = Field(8, ge=1, description="Members asked at once for a prefix-less id.")
    positive_ttl: float = Field(300.0, gt=0, description="Seconds a resolved id stays cached.")
    negative_ttl: float = Field(60.0, gt=0, description="Seconds an unresolvable id stays cached.")
    dist_urls: list[str] = Field(
        default_factory=list, description="Upstream `/index/_dist` lists for prefixes no member owns."
    )
    dist_ttl: float = Field(86_400.0, gt=0, description="Seconds an upstream dist list is cached.")


class DrsConfig(_Section):
    deadline: float = Field(
        55.0, gt=0, description="Seconds one DRS request may take end to end (under Cromwell's 60 s); then 504."
    )
    max_bulk_request_length: int = Field(
        1000, ge=1, le=100_000, description="Most ids one bulk DRS request may carry (413 beyond); advertised."
    )
    max_signed_url_ttl: int = Field(
        3600, ge=1, description="Longest signed-URL lifetime asked of a member, seconds (`expires_in` is clamped)."
    )
    object_ttl: float = Field(300.0, gt=0, description="Seconds a rendered DRS object stays cached.")
    access_concurrency: int = Field(
        32, ge=1, description="Signed-URL calls in flight at once per member within one bulk access request."
    )
    hostname: str | None = Field(
        None, description="Host[:port] in the `self_uri` of every object; empty: the host of `public_url`."
    )


class TlsConfig(_Section):
    cert: Path | None = Field(None, description="PEM certificate (chain) to also serve HTTPS; empty: HTTP only.")
    key: Path | None = Field(None, description="PEM private key of `tls.cert`.")
    port: int = Field(8443, ge=0, le=65535, description="Port of the HTTPS listener.")


class ServiceInfoConfig(_Section):
    id: str = Field("org.example.gateway", description="GA4GH service-info `id` (reverse domain name).")
    name: str = Field("Federation gateway", description="GA4GH service-info `name`.")
    description: str = Field(
        "One GA4GH DRS, passport and search surface over many Gen3-style data commons.",
        description="GA4GH service-info `description`.",
    )
    organization_name: str = Field("Example organization", description="`organization.name`.")
    organization_url: str = Field("https://example.org", description="`organization.url`.")
    contact_url: str = Field("mailto:admin@example.org", description="`contactUrl`.")
    documentation_url: str = Field("https://example.org/docs", description="`documentationUrl`.")
    environment: str = Field("dev", description="`environment` (dev, test, staging, prod).")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on.")
    public_url: str | None = Field(
        None, description="Base URL clients reach the gateway at; empty: `http://<host>:<port>`."
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted (413 beyond).")
    admin_token: SecretStr | None = Field(None, description="Bearer token for admin routes; empty: admin disabled.")
    store: StoreConfig = Field(default_factory=StoreConfig, description="Durable shared state.")
    cache: CacheConfig = Field(default_factory=CacheConfig, description="Caches.")
    log: LogConfig = Field(default_factory=LogConfig, description="Logging.")
    refcommons: RefCommonsConfig = Field(default_factory=RefCommonsConfig, description="In-process reference commons.")
    service_info: ServiceInfoConfig = Field(default_factory=ServiceInfoConfig, description="GA4GH service-info.")
    registry: RegistryConfig = Field(default_factory=RegistryConfig, description="Member commons.")
    health: HealthConfig = Field(default_factory=HealthConfig, description="Member health probing.")
    upstream: UpstreamConfig = Field(default_factory=UpstreamConfig, description="Calls to members.")
    resolver: ResolverConfig = Field(default_factory=ResolverConfig, description="Identifier resolution.")
    drs_profile: Literal["1.5", "1.2"] = Field(
        "1.5", description="DRS output profile: `1.5`, or `1.2` for strict DRS 1.2.0 clients (compliance suite)."
    )
    drs: DrsConfig = Field(default_factory=DrsConfig, description="The federated GA4GH DRS API.")
    tls: TlsConfig = Field(default_factory=TlsConfig, description="Optional HTTPS listener.")
    passports: PassportsConfig = Field(
        default_factory=PassportsConfig, description="GA4GH Passports (off by default)."
    )
    aggregate: AggregateConfig = Field(
        default_factory=AggregateConfig, description="Federated search, tiered access and export."
    )

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def drs_hostname(self) -> str:
        """``host[:port]`` of the gateway's ``self_uri``s: ``drs.hostname``, else the public URL's host."""
        return (self.drs.hostname or urlsplit(self.base_url).netloc).lower().removesuffix(":443")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file's content arrives as init kwargs; the environment overrides it.
        return (env_settings, init_settings)


class ConfigError(Exception):
    """The configuration cannot be used: the file is missing, unreadable or not a mapping; or (a subclass raised as
    the gateway starts) a section its feature compiles means nothing it can run, e.g. a field mapping."""


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at top level")
    return data


def load_settings(config_path: Path | str | None = None) -> Settings:
    """Settings from ``config_path`` (or ``$GATEWAY_CONFIG``) overlaid by ``GATEWAY_*`` environment variables."""
    path = config_path or os.environ.get(CONFIG_ENV) or None
    file_values = read_yaml(Path(path)) if path else {}
    return Settings(**file_values)


def iter_keys(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any, str]]:
    """Every leaf key as (dotted name, default, description): the source of docs/configuration.md."""
    out: list[tuple[str, Any, str]] = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.extend(iter_keys(ann, f"{prefix}{name}."))
        else:
            default = field.get_default(call_default_factory=True)
            out.append((f"{prefix}{name}", default, field.description or ""))
    return out


def _show_default(value: Any) -> str:
    if value is None:
        return "*(empty)*"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, dict) and value and isinstance(next(iter(value.values())), BaseModel):
        return f"*{len(value)} entries: {', '.join(f'`{k}`' for k in value)}*"
    return f"`{value}`"


def env_name(dotted: str) -> str:
    return "GATEWAY_" + dotted.upper().replace(".", "__")


def config_reference_table() -> str:
    """The Markdown table of every key, its environment variable, default and meaning."""
    rows = ["| key | environment variable | default | meaning |", "|---|---|---|---|"]
    for key, default, description in iter_keys(Settings):
        rows.append(f"| `{key}` | `{env_name(key)}` | {_show_default(default)} | {description} |")
    return "\n".join(rows) + "\n"
