"""Request bodies of the registry API (pydantic, at the edge) and the pure rules every member record obeys.

Join bodies come from anyone, so they are strict: ``base_url`` is http(s) without credentials, query or
fragment; prefixes and hostnames are normalised; a member that resolves GUIDs (``gen3``, ``reference``)
owns at least one prefix; and a joiner may hand the gateway a bearer token for access calls but never a
``credentials_file`` (a path on the gateway's own disk: only an administrator or the config file may name
one). Validation messages never echo a submitted value, so no secret reaches a response or a log.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.core.member import (
    MEMBER_ID_RE,
    SERVICES,
    Kind,
    Member,
    MemberAuth,
    Status,
    default_endpoints,
    normalize_endpoints,
    normalize_hostname,
    normalize_prefix,
)

MAX_KEYS = 100
"""Most prefixes (or hostnames) one member may own."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NOT_ID = re.compile(r"[^a-z0-9]+")
KINDS_NEEDING_PREFIX = ("gen3", "reference")


def normalize_base_url(value: str) -> str:
    """``HTTPS://Data.Example.org/`` → ``https://data.example.org``; ValueError naming the rule broken."""
    text = value.strip()
    if not text or _CONTROL.search(text) or " " in text:
        raise ValueError("base_url must be a URL without spaces or control characters")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("base_url must be an http:// or https:// URL")
    if "@" in parts.netloc:
        raise ValueError("base_url must not carry credentials (user:password@)")
    if "?" in text or "#" in text:
        raise ValueError("base_url must not have a query or a fragment")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("base_url has an invalid port") from None
    if not parts.hostname:
        raise ValueError("base_url must name a host")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def host_of(base_url: str) -> str | None:
    """``host[:port]`` of a normalised base URL, normalised; ``None`` when not a DNS name or IPv4 address."""
    try:
        return normalize_hostname(urlsplit(base_url).netloc)
    except ValueError:
        return None


def check_endpoints(declared: dict[str, str | None]) -> tuple[tuple[str, str | None], ...]:
    """Declared endpoints, each URL normalised like a ``base_url`` (ValueError naming the service and the rule)."""
    out: dict[str, str | None] = {}
    for name, url in declared.items():
        if name not in SERVICES:
            raise ValueError(f"endpoints: unknown service {name[:40]!r}; expected one of {', '.join(SERVICES)}")
        try:
            out[name] = None if url is None else normalize_base_url(url)
        except ValueError as exc:
            raise ValueError(f"endpoints.{name}: {str(exc).replace('base_url', 'the URL')}") from None
    return normalize_endpoints(out)


def default_hostnames(kind: str, base_url: str, declared: tuple[tuple[str, str | None], ...]) -> list[str]:
    """The DRS hostnames a member answers for unless it names them: the hosts of its ``base_url`` and of its DRS and
    indexd endpoints (where ``drs://<host>/<id>`` URIs of its objects would point)."""
    endpoints = replace(default_endpoints(kind, base_url), **dict(declared))
    urls = [base_url, endpoints.drs, endpoints.indexd]
    return list(dict.fromkeys(h for url in urls if url for h in [host_of(url)] if h))


def derive_id(name: str) -> str:
    """A member id from a name: ``"Données Commons #4"`` → ``donnees-commons-4`` (``member`` if nothing is left)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = _NOT_ID.sub("-", ascii_name.lower()).strip("-")[:63].rstrip("-")
    return slug or "member"


def check_member(member: Member) -> Member:
    """The invariants of a record, whoever wrote it (ValueError naming the broken one)."""
    if not MEMBER_ID_RE.match(member.id):
        raise ValueError("id must be 1-63 lower-case letters, digits or '-', starting with a letter or digit")
    if member.kind in KINDS_NEEDING_PREFIX and not member.prefixes:
        raise ValueError(f"a {member.kind} member must own at least one GUID prefix")
    if member.auth.type == "bearer" and not member.auth.token:
        raise ValueError("auth type bearer needs a token")
    if member.auth.type == "api_key" and not member.auth.credentials_file:
        raise ValueError("auth type api_key needs a credentials_file")
    return member


def _unique(values: list[str], normalise: Any) -> list[str]:
    if len(values) > MAX_KEYS:
        raise ValueError(f"at most {MAX_KEYS} entries")
    return list(dict.fromkeys(normalise(v) for v in values))


def _text(value: str, what: str) -> str:
    text = value.strip()
    if _CONTROL.search(text):
        raise ValueError(f"{what} must not contain control characters")
    return text


class AuthIn(BaseModel):
    """How the gateway authenticates to the member for access calls (secrets: stored, never shown)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    type: Literal["none", "passthrough", "bearer", "api_key", "passport", "gateway_token"] = "none"
    token: str | None = Field(None, min_length=1, max_length=8192, description="Bearer token (type bearer).")
    credentials_file: str | None = Field(
        None, min_length=1, max_length=4096, description="Gen3 credentials JSON on the gateway host (type api_key)."
    )

    audience: str | None = Field(
        None, min_length=1, max_length=2048, description="`aud` of gateway tokens (type gateway_token)."
    )

    def to_auth(self) -> MemberAuth:
        return MemberAuth(self.type, self.token, self.credentials_file, self.audience)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    @field_validator("name", check_fields=False)
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        return None if v is None else _text(v, "name")

    @field_validator("contact", check_fields=False)
    @classmethod
    def _contact(cls, v: str | None) -> str | None:
        return None if v is None else _text(v, "contact")

    @field_validator("base_url", check_fields=False)
    @classmethod
    def _base_url(cls, v: str | None) -> str | None:
        return None if v is None else normalize_base_url(v)

    @field_validator("prefixes", check_fields=False)
    @classmethod
    def _prefixes(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _unique(v, normalize_prefix)

    @field_validator("hostnames", check_fields=False)
    @classmethod
    def _hostnames(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _unique(v, normalize_hostname)

    @field_validator("endpoints", check_fields=False)
    @classmethod
    def _endpoints(cls, v: dict[str, str | None] | None) -> dict[str, str | None] | None:
        return None if v is None else dict(check_endpoints(v))


class JoinRequest(_Body):
    """``POST /registry/v1/commons``: a commons asks to join (it becomes ``pending`` until approved)."""

    id: str | None = Field(None, max_length=63, description="Member id; derived from the name when absent.")
    name: str = Field(min_length=1, max_length=200)
    base_url: str = Field(max_length=2048, description="Root URL of the commons (http or https).")
    kind: Kind = Field(description="Adapter kind: gen3 or drs (reference is the gateway's in-process commons).")
    prefixes: list[str] = Field(default_factory=list, description="GUID prefixes it owns (dg.XXXX, drs.XXXX).")
    hostnames: list[str] | None = Field(None, description="DRS hostnames; default: the base_url's host[:port].")
    contact: str = Field("", max_length=320)
    auth: AuthIn = Field(default_factory=AuthIn)
    endpoints: dict[str, str | None] | None = Field(
        None, description="Where each service is when not at the kind's default under base_url (indexd, drs, fence, "
        "guppy, mds, authz, dictionary); null: the member has no such service. See docs/members.md.")

    @field_validator("kind")
    @classmethod
    def _joinable_kind(cls, v: Kind) -> Kind:
        if v == "reference":
            raise ValueError("kind 'reference' is the gateway's in-process commons; a standalone reference "
                             "commons speaks Gen3's wire formats: join it as kind 'gen3'")
        return v

    @field_validator("id")
    @classmethod
    def _id(cls, v: str | None) -> str | None:
        if v is None:
            return None
        value = v.strip().lower()
        if not MEMBER_ID_RE.match(value):
            raise ValueError("id must be 1-63 lower-case letters, digits or '-', starting with a letter or digit")
        return value

    @model_validator(mode="after")
    def _rules(self) -> JoinRequest:
        if self.auth.credentials_file is not None or self.auth.type == "api_key":
            raise ValueError("auth.credentials_file (type api_key) is accepted only from an administrator or the "
                             "configuration file; a joining commons may give a bearer token")
        if self.auth.type == "passport":
            raise ValueError("auth type passport (the callers' Passports are forwarded to the member) is set only "
                             "by an administrator or the configuration file")
        check_member(self.to_member(now=""))
        return self

    def to_member(self, *, now: str) -> Member:
        declared = normalize_endpoints(self.endpoints or {})
        hostnames = (self.hostnames if self.hostnames is not None
                     else default_hostnames(self.kind, self.base_url, declared))
        return Member(
            id=self.id or derive_id(self.name), name=self.name, base_url=self.base_url, kind=self.kind,
            prefixes=tuple(self.prefixes), hostnames=tuple(hostnames), contact=self.contact,
            status=Status.pending, auth=self.auth.to_auth(), source="api", created=now, updated=now,
            declared_endpoints=declared,
        )


class UpdateRequest(_Body):
    """``PATCH /registry/v1/commons/{id}`` (admin): the fields to change; absent fields stay as they are."""

    name: str | None = Field(None, min_length=1, max_length=200)
    base_url: str | None = Field(None, max_length=2048)
    kind: Kind | None = None
    prefixes: list[str] | None = None
    hostnames: list[str] | None = None
    contact: str | None = Field(None, max_length=320)
    auth: AuthIn | None = None
    endpoints: dict[str, str | None] | None = Field(
        None, description="The declared endpoints, replacing the ones declared before ({}: the kind's defaults).")

    @model_validator(mode="after")
    def _not_empty(self) -> UpdateRequest:
        if not self.model_fields_set:
            raise ValueError("name at least one field to change")
        return self

    def apply(self, member: Member) -> Member:
        """``member`` with these changes (ValueError when the result breaks a record invariant)."""
        changes: dict[str, Any] = {}
        for name in ("name", "base_url", "kind", "contact"):
            if getattr(self, name) is not None:
                changes[name] = getattr(self, name)
        if self.prefixes is not None:
            changes["prefixes"] = tuple(self.prefixes)
        if self.hostnames is not None:
            changes["hostnames"] = tuple(self.hostnames)
        if self.auth is not None:
            changes["auth"] = self.auth.to_auth()
        if self.endpoints is not None:
            changes["declared_endpoints"] = normalize_endpoints(self.endpoints)
        if {"base_url", "kind", "endpoints"} & self.model_fields_set:
            changes["capabilities"] = None  # found at the old place: the prober finds them again
        return check_member(replace(member, **changes))


class ApproveRequest(BaseModel):
    """``POST /registry/v1/commons/{id}/approve`` (admin; the body is optional)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    accept_passthrough: bool = Field(
        False, description="Accept that the member will be sent callers' credentials (auth passthrough: their "
        "bearer tokens; passport: their Passports). Required to approve such a member.",
    )


class AdminAddRequest(BaseModel):
    """``POST /registry/v1/admins`` (admin): a new named admin; its token is in the answer, once."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str = Field(min_length=1, max_length=63, description="Lower-case letters, digits, '.', '_' or '-'.")
