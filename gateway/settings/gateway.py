"""The gateway's configuration: the root :class:`Settings`, loaded from a YAML file overlaid by environment
variables and validated by pydantic.

Precedence, highest first: environment variables (``GATEWAY_<KEY>``, nested keys joined with ``__``,
e.g. ``GATEWAY_STORE__URL=redis://127.0.0.1:6379/0``), then the YAML file (``--config`` or
``GATEWAY_CONFIG``, read by pydantic-settings' YAML source: :mod:`gateway.settings.yaml_source`), then the
defaults. Unknown keys in the file are errors, so typos surface. Every key is documented, with its default, in
``docs/configuration.md`` (:mod:`gateway.settings.reference`; a test keeps the two in step).

The sections live in :mod:`gateway.settings.sections` (the Passport and search sections in their own modules),
:class:`~gateway.settings.yaml_source.ConfigError` with the file source.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from gateway.settings.aggregate import AggregateConfig
from gateway.settings.passports import PassportsConfig
from gateway.settings.portal import PortalConfig
from gateway.settings.sections import (
    CacheConfig,
    DrsConfig,
    EgressConfig,
    HealthConfig,
    LogConfig,
    MetricsConfig,
    RefCommonsConfig,
    RegistryConfig,
    ResolverConfig,
    ServiceInfoConfig,
    StoreConfig,
    TlsConfig,
    TracingConfig,
    UpstreamConfig,
)
from gateway.settings.yaml_source import YamlFileSource

CONFIG_ENV = "GATEWAY_CONFIG"
_CONFIG_FILE: ContextVar[Path | None] = ContextVar("gateway_config_file", default=None)
"""The YAML file :func:`load_settings` is reading while it builds the settings (``Settings(...)`` reads none)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8080, ge=0, le=65535, description="Port to listen on.")
    public_url: str | None = Field(
        None, description="Base URL clients reach the gateway at; empty: `http://<host>:<port>`."
    )
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted: a larger `Content-Length` is answered 413 "
        "before any of the body is read (a larger chunked body: 413 once it passes this)."
    )
    header_timeout: float = Field(
        10.0, ge=0, description="Seconds a client has to finish a request's head (request line and headers) once "
        "its first byte arrived; past it: 408 and the connection closed. 0: no limit."
    )
    body_timeout: float = Field(
        30.0, gt=0, description="Seconds a client has to send a request's whole body once its head arrived; past "
        "it: 408 and the connection closed."
    )
    keepalive_timeout: float = Field(
        75.0, gt=0, description="Seconds a connection may stay open without a request (a new connection that sends "
        "nothing, or a kept-alive one between requests) before the gateway closes it."
    )
    workers: int | None = Field(
        None, ge=1, description="Worker processes `gateway serve` runs on the one port (`--workers` overrides); "
        "empty: the machine's cores. 1: a single process, no supervisor."
    )
    gc_threshold: int = Field(
        50_000, ge=0, description="Allocations between two collections of the interpreter's youngest generation "
        "once the server runs (Python's default is 700). Almost everything a request makes is freed when it ends, "
        "but at 700 a collection runs every request or two and walks every object the requests in flight still "
        "hold; the higher figure costs a few MB of cyclic garbage at most (bench/bench_drs.py shows what it saves). "
        "0: Python's default."
    )
    shutdown_timeout: float = Field(
        30.0, gt=0, description="Seconds a stopping server (SIGTERM, SIGINT) lets in-flight requests finish before "
        "it closes their connections."
    )
    admin_token: SecretStr | None = Field(
        None, description="Bootstrap admin credential (the admin named `bootstrap`); named admins are added with "
        "`gateway admin add NAME`. Empty and no named admin: admin disabled."
    )
    store: StoreConfig = Field(default_factory=StoreConfig, description="Durable shared state.")
    cache: CacheConfig = Field(default_factory=CacheConfig, description="Caches.")
    log: LogConfig = Field(default_factory=LogConfig, description="Logging.")
    metrics: MetricsConfig = Field(default_factory=MetricsConfig, description="Prometheus metrics.")
    tracing: TracingConfig = Field(default_factory=TracingConfig, description="OpenTelemetry spans.")
    refcommons: RefCommonsConfig = Field(default_factory=RefCommonsConfig, description="In-process reference commons.")
    service_info: ServiceInfoConfig = Field(default_factory=ServiceInfoConfig, description="GA4GH service-info.")
    registry: RegistryConfig = Field(default_factory=RegistryConfig, description="Member commons.")
    health: HealthConfig = Field(default_factory=HealthConfig, description="Member health probing.")
    upstream: UpstreamConfig = Field(default_factory=UpstreamConfig, description="Calls to members.")
    egress: EgressConfig = Field(default_factory=EgressConfig, description="Where the gateway may connect.")
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
    portal: PortalConfig = Field(default_factory=PortalConfig, description="The web portal for people.")

    @model_validator(mode="after")
    def _fold_join_deny_networks(self) -> Settings:
        """``registry.join_deny_networks`` (deprecated) sets ``egress.deny_networks`` when that is not set; both
        set and different is an error (which one was meant is unknowable)."""
        alias = self.registry.join_deny_networks
        if alias is None:
            return self
        if "deny_networks" in self.egress.model_fields_set:
            if self.egress.deny_networks != alias:
                raise ValueError("registry.join_deny_networks is a deprecated alias of egress.deny_networks: "
                                 "set egress.deny_networks only")
            return self
        self.egress = self.egress.model_copy(update={"deny_networks": list(alias)})
        return self

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
        # The environment overrides arguments, which override the YAML file (only load_settings names one).
        return (env_settings, init_settings, YamlFileSource(settings_cls, _CONFIG_FILE.get()))


def load_settings(config_path: Path | str | None = None) -> Settings:
    """Settings from ``config_path`` (or ``$GATEWAY_CONFIG``) overlaid by ``GATEWAY_*`` environment variables.
    :class:`ConfigError` when the file cannot be used, :class:`pydantic.ValidationError` naming a bad key."""
    path = config_path or os.environ.get(CONFIG_ENV) or None
    reading = _CONFIG_FILE.set(Path(path) if path else None)
    try:
        return Settings()
    finally:
        _CONFIG_FILE.reset(reading)
