"""The gateway's own configuration sections: plain pydantic models, one per key of the root
:class:`~gateway.settings.gateway.Settings` (the Passport and search sections have their own modules).

Every section refuses unknown keys, so a typo in the file is an error naming it. A field's ``description`` is
its line in ``docs/configuration.md`` (:mod:`gateway.settings.reference`).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class Section(BaseModel):
    """A configuration section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


# --- the process: storage, logs, HTTPS, service-info ---------------------------------------------------------


class StoreConfig(Section):
    url: str = Field("sqlite:///./var/gateway.sqlite3", description="`sqlite:///<path>` (the embedded "
                     "default), `redis://host:port/db`, or `postgresql://user:password@host:port/database` "
                     "(recommended in production; see docs/deployment.md).")
    key_prefix: str = Field("gw:", description="Prefix of every Redis key the store writes.")
    timeout: float = Field(5.0, gt=0, description="Seconds a Redis or PostgreSQL store call (connect or answer) may "
                           "take before it fails; a route that needs the store then answers 503.")
    pool_size: int = Field(10, ge=1, description="Most connections a PostgreSQL store opens (per process).")
    migrate_on_start: bool = Field(
        True, description="A PostgreSQL store whose schema is older than this gateway is migrated when the gateway "
        "starts (one instance at a time, under an advisory lock); `false`: the gateway refuses to start until "
        "`gateway db migrate` is run."
    )
    retry_after: int = Field(5, ge=1, description="`Retry-After` seconds of the 503 a route answers while the "
                             "store is unavailable.")


class CacheConfig(Section):
    url: str = Field("memory://", description="`memory://` (per process, bounded LRU) or `redis://host:port/db`.")
    max_entries: int = Field(10_000, ge=1, description="Bound of the in-process LRU cache.")
    default_ttl: float = Field(300.0, gt=0, description="Seconds an entry lives when the writer gives no TTL.")
    key_prefix: str = Field("gwc:", description="Prefix of every Redis key the cache writes.")
    timeout: float = Field(1.0, gt=0, description="Seconds a Redis cache call (connect or answer) may take; a "
                           "call that fails or times out is a cache miss.")
    breaker_failures: int = Field(5, ge=1, description="Consecutive failed Redis cache calls after which this "
                                  "process bypasses the cache (every call a miss) for `cache.breaker_cooldown`.")
    breaker_cooldown: float = Field(5.0, gt=0, description="Seconds the cache stays bypassed before one probe "
                                    "call decides whether to use Redis again.")


class MetricsConfig(Section):
    enabled: bool = Field(
        True, description="Serve Prometheus metrics at `GET /metrics` and record them (requests, member calls, "
        "caches, Passports, fan-outs, bulk sizes, export jobs, the store). Several worker processes: set "
        "`PROMETHEUS_MULTIPROC_DIR` to an empty directory (see docs/deployment.md)."
    )


class TracingConfig(Section):
    otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP endpoint spans are exported to (e.g. `http://collector:4318/v1/traces`): a span "
        "per request and per call to a member, batched. Empty: no spans, and the OpenTelemetry SDK is not even "
        "imported (`X-Request-Id` and `traceparent` are sent to members either way)."
    )
    service_name: str = Field("gateway", description="`service.name` of the exported spans.")


class LogConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level logged.")
    format: Literal["json", "text"] = Field("json", description="`json`: one JSON object per line.")
    access: Literal["full", "errors", "sampled", "off"] = Field(
        "full", description="The access log (one line per HTTP request): `full` every request; `errors` only "
        "requests answered 400 or above or slower than `log.access_slow_ms`; `sampled` those and a "
        "`log.access_sample_rate` share of the rest; `off` none. `true`/`false` (the former switch) read as "
        "`full`/`off`."
    )
    access_sample_rate: float = Field(
        0.01, gt=0, le=1, description="Share of ordinary requests logged when `log.access` is `sampled` (each "
        "line then stands for about 1/rate such requests)."
    )
    access_slow_ms: float = Field(
        1000.0, ge=0, description="A request taking at least this many milliseconds is always logged in the "
        "`errors` and `sampled` modes, like an error."
    )

    @field_validator("access", mode="before")
    @classmethod
    def _access_switch(cls, value: object) -> object:
        """The former boolean switch (`true`/`false`, also as environment text) still reads."""
        if isinstance(value, bool):
            return "full" if value else "off"
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no", "on"):
            return "full" if value.strip().lower() in ("true", "1", "yes", "on") else "off"
        return value


class TlsConfig(Section):
    cert: Path | None = Field(None, description="PEM certificate (chain) to also serve HTTPS; empty: HTTP only.")
    key: Path | None = Field(None, description="PEM private key of `tls.cert`.")
    port: int = Field(8443, ge=0, le=65535, description="Port of the HTTPS listener.")


class ServiceInfoConfig(Section):
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


# --- the in-process reference commons -------------------------------------------------------------------------


class RefCommonsConfig(Section):
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


# --- egress: where the gateway may connect ------------------------------------------------------------------

DEFAULT_DENY_NETWORKS = ("169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                         "0.0.0.0/8", "fc00::/7", "fe80::/10")
"""Cloud metadata (link-local), private, shared (CGNAT) and "this network" ranges; loopback is not among them."""


def _check_networks(networks: list[str]) -> list[str]:
    for network in networks:
        ipaddress.ip_network(network, strict=False)  # ValueError names the bad entry
    return networks


class EgressConfig(Section):
    deny_networks: list[str] = Field(
        default_factory=lambda: list(DEFAULT_DENY_NETWORKS),
        description="Networks no outbound connection of the gateway may reach (members, health probes, join "
        "checks, Passport key fetches, dist lists), checked at connect time on the addresses connected to, "
        "IPv4 embedded in IPv6 (mapped, 6to4, NAT64, Teredo…) included. Default: cloud metadata and private "
        "ranges; loopback stays allowed for local federations. `[]` allows all.",
    )
    allow_networks: list[str] = Field(
        default_factory=list,
        description="Exceptions inside `egress.deny_networks`, e.g. `10.20.0.0/24` for members on a private "
        "network. They apply only to destinations the configuration names (members under `registry.members`, Passport "
        "key URLs, `resolver.dist_urls`), never to a join check or a member that joined through the API.",
    )

    @field_validator("deny_networks", "allow_networks")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        return _check_networks(v)


# --- members: who they are, their health, how they are called --------------------------------------------------


class MemberAuthConfig(Section):
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


class MemberConfig(Section):
    id: str = Field(description="Stable member id (lower-case letters, digits, `-`).")
    name: str = Field(description="Human-readable name.")
    base_url: str = Field(description="Root URL of the commons, e.g. `https://commons.example.org`.")
    kind: Literal["gen3", "drs", "reference"] = Field("gen3", description="Adapter kind.")
    prefixes: list[str] = Field(default_factory=list, description="GUID prefixes it owns, e.g. `dg.4503`.")
    hostnames: list[str] = Field(default_factory=list, description="DRS hostnames it answers for.")
    contact: str = Field("", description="Operator contact (e-mail or URL).")
    auth: MemberAuthConfig = Field(default_factory=MemberAuthConfig, description="Credentials for access calls.")
    endpoints: dict[
        Literal["indexd", "drs", "fence", "guppy", "mds", "authz", "dictionary"], str | None
    ] = Field(
        default_factory=dict, description="Where each service is when not at the kind's default under `base_url` "
        "(`gen3`: indexd `<base>/index`, drs `<base>`, fence `<base>/user`, guppy `<base>/guppy`, mds `<base>/mds`, "
        "authz `<base>/authz`, dictionary `<base>/api`; `drs`: drs `<base>` only); `null`: the member has no such "
        "service (docs/members.md).",
    )


class RegistryConfig(Section):
    members: list[MemberConfig] = Field(
        default_factory=list, description="Members declared here are loaded as `active` at start."
    )
    join_rate_limit: int = Field(10, ge=1, description="Join requests allowed per client address per hour.")
    admin_token_failures: int = Field(
        20, ge=1, description="Wrong admin tokens (API bearer tokens and portal sign-ins together) a client address "
        "may present per clock hour; past it every admin attempt from that address, the right token included, is "
        "429 with `Retry-After` until the hour ends."
    )
    join_probe_timeout: float = Field(5.0, gt=0, description="Seconds a candidate has to answer the join check.")
    join_max_body_bytes: int = Field(65_536, ge=1024, description="Largest body accepted from a candidate's probe.")
    anonymous_join: bool = Field(
        True, description="Anyone may ask to join (`POST /registry/v1/commons`); `false`: only an admin may (403 "
        "for anonymous callers)."
    )
    pending_ttl: float = Field(
        259_200.0, gt=0, description="Seconds a join may stay pending (unapproved) before it expires and is removed "
        "(default 3 days)."
    )
    reassert_interval: float = Field(
        30.0, gt=0, description="Seconds between checks that every declared member (and the in-process reference "
        "commons) is in the store; one replica per interval re-creates those missing (e.g. after the store came back "
        "empty)."
    )
    join_deny_networks: list[str] | None = Field(
        None, description="Deprecated alias of `egress.deny_networks` (which it sets when that is not set); "
        "the join check now uses the one egress policy.",
    )

    @field_validator("join_deny_networks")
    @classmethod
    def _networks(cls, v: list[str] | None) -> list[str] | None:
        return _check_networks(v) if v is not None else v


class HealthConfig(Section):
    interval: float = Field(30.0, gt=0, description="Seconds between health probes of each active member.")
    timeout: float = Field(5.0, gt=0, description="Seconds a probe may take.")
    failure_threshold: int = Field(3, ge=1, description="Consecutive failures that mark a member unhealthy.")
    history: int = Field(20, ge=1, description="Recent failures kept per member.")


class UpstreamConfig(Section):
    connect_timeout: float = Field(3.0, gt=0, description="Seconds to connect to a member.")
    read_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a member's response.")
    retries: int = Field(2, ge=0, description=(
        "Retries of idempotent calls (connect errors, a connect timeout included; 429, 502, 503, 504). A request the "
        "member dropped unanswered on a pooled connection as it was reused (the keep-alive race) is sent again on "
        "another connection without spending a retry (idempotent calls, at most twice)."))
    backoff: float = Field(0.2, gt=0, description="Base of the jittered exponential backoff, seconds.")
    max_connections: int = Field(100, ge=1, description=(
        "Connections open at once per member (HTTP/1.1, kept alive; an idle one is closed after 15 s)."))
    bulk_concurrency: int = Field(16, ge=1, description="Parallel GETs when a member has no bulk endpoint.")
    attempt_timeout: float | None = Field(
        None, gt=0, description="Seconds one attempt may take in all (connecting, redirects and the whole body): a "
        "member dripping its answer is cut like a hanging one (504). Empty: `upstream.read_timeout`; at most that."
    )
    max_record_bytes: int = Field(
        1_048_576, ge=1024, description="Largest answer of a metadata call (a record, a DRS object, service-info, a "
        "status, a signed URL, user info, a token): 502 naming the member beyond, read no further."
    )
    bulk_bytes_per_id: int = Field(
        65_536, ge=256, description="What each id asked adds to the cap of a bulk answer (indexd bulk documents, DRS "
        "bulk objects and access): `max_record_bytes` + this × (ids − 1), at most `upstream.max_body_bytes`."
    )
    max_body_bytes: int = Field(
        16_777_216, ge=1024, description="Largest answer any member call may take: the bulk cap's ceiling, and the "
        "cap of search (Guppy), discovery (MDS pages) and data dictionary answers."
    )
    inflight_bytes: int = Field(
        67_108_864, ge=1024, description="Bytes of member answers being read at once, across every call and member "
        "of the process: a call whose next chunk does not fit fails at once with 503 (`Retry-After: 1`) rather than "
        "wait, so memory stays bounded whatever members send."
    )

    @model_validator(mode="after")
    def _attempt_within_read(self) -> UpstreamConfig:
        if self.attempt_timeout is not None and self.attempt_timeout > self.read_timeout:
            raise ValueError("upstream.attempt_timeout must not exceed upstream.read_timeout")
        return self

    @property
    def attempt_seconds(self) -> float:
        """The cap of one attempt's whole duration."""
        return self.attempt_timeout if self.attempt_timeout is not None else self.read_timeout


# --- resolution and the federated DRS API ----------------------------------------------------------------------


class ResolverConfig(Section):
    cache: bool = Field(True, description="Cache resolutions (hits and misses); off only to diagnose or benchmark.")
    coalesce_after: int = Field(4, ge=0, description=(
        "One member's calls under way at once before its one-id lookups queue; each time one of its calls ends, the "
        "queue goes out as one call (its bulk call for two ids or more). Each lookup keeps its own deadline. 0: "
        "every lookup is its own call."))
    deadline: float = Field(10.0, gt=0, description="Seconds one resolution may take, retries included.")
    fanout_concurrency: int = Field(8, ge=1, description="Members asked at once for a prefix-less id.")
    fanout_budget: int = Field(
        600, ge=0, description="Requests that fan out to every member (ids without a prefix or DRS hostname, not "
        "cached; indexd listings, `_stats` and `_version`) allowed per client address per minute, shared by replicas "
        "through the cache; past it 429 with `Retry-After`, before any member is asked. `0`: no budget."
    )
    positive_ttl: float = Field(300.0, gt=0, description="Seconds a resolved id stays cached.")
    negative_ttl: float = Field(
        60.0, gt=0, description="Seconds an unresolvable or ambiguous id stays cached (and a bare id's holder found "
        "while some member did not answer)."
    )
    dist_urls: list[str] = Field(
        default_factory=list, description="Upstream `/index/_dist` lists for prefixes no member owns."
    )
    dist_ttl: float = Field(86_400.0, gt=0, description="Seconds an upstream dist list is cached.")


class DrsConfig(Section):
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
    authz_max_age: float = Field(
        30.0, ge=0, description="Oldest a record's metadata may be (seconds since fetched from its member) when the "
        "gateway itself decides access from its `authz` (Passport `gateway_token`/`passport` members); an older "
        "cached record is fetched again first. 0: always fetched."
    )
    access_concurrency: int = Field(
        32, ge=1, description="Signed-URL calls in flight at once per member within one bulk access request."
    )
    hostname: str | None = Field(
        None, description="Host[:port] in the `self_uri` of every object; empty: the host of `public_url`."
    )
