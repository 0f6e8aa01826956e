"""A member commons record, and the normalisation rules for what it owns (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

Kind = Literal["gen3", "drs", "reference"]
AuthType = Literal["none", "passthrough", "bearer", "api_key", "passport", "gateway_token"]
PASSPORT_MODES = frozenset({"passport", "gateway_token"})
"""Member modes in which access to controlled objects is decided from the caller's GA4GH Passports."""

PREFIX_RE = re.compile(r"^(dg|drs)\.[a-z0-9][a-z0-9_-]{0,31}$")
"""A GUID prefix as owned by a member: ``dg.XXXX`` or ``drs.XXXX`` (compared lower-cased)."""
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
HOSTNAME_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*(:\d{{1,5}})?$")
"""A DNS hostname or IPv4 address, optionally with ``:port`` (compared lower-cased)."""
MEMBER_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class Status(StrEnum):
    pending = "pending"
    active = "active"
    suspended = "suspended"


def normalize_prefix(prefix: str) -> str:
    """``dg.ANV0`` → ``dg.anv0``; ValueError for anything that is not a ``dg.``/``drs.`` prefix."""
    value = prefix.strip().lower()
    if not PREFIX_RE.match(value):
        raise ValueError(f"{prefix!r} is not a GUID prefix like dg.XXXX or drs.XXXX")
    return value


def normalize_hostname(hostname: str) -> str:
    """``Data.Example.ORG`` → ``data.example.org``; ValueError for anything that is not a host[:port]."""
    value = hostname.strip().lower().rstrip(".")
    if not HOSTNAME_RE.match(value):
        raise ValueError(f"{hostname!r} is not a hostname (optionally with :port)")
    return value.removesuffix(":443")  # DRS hostname URIs imply 443; compare without it


@dataclass(frozen=True, slots=True)
class MemberAuth:
    """How the gateway authenticates to the member for access calls. Secrets are never listed publicly."""

    type: AuthType = "none"
    token: str | None = None
    credentials_file: str | None = None
    audience: str | None = None
    """``gateway_token``: the ``aud`` of the tokens the gateway signs for this member (default: its base URL)."""


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    name: str
    base_url: str
    """Root URL without trailing slash."""
    kind: Kind
    prefixes: tuple[str, ...]
    """Normalised (lower-case) GUID prefixes."""
    hostnames: tuple[str, ...]
    """Normalised (lower-case) DRS hostnames, ``host[:port]``."""
    contact: str = ""
    status: Status = Status.pending
    auth: MemberAuth = field(default_factory=MemberAuth)
    source: Literal["config", "api"] = "api"
    created: str = ""
    """RFC 3339 UTC."""
    updated: str = ""

    def with_status(self, status: Status, now: str) -> Member:
        return replace(self, status=status, updated=now)

    def to_doc(self) -> dict[str, Any]:
        """Storage form (includes secrets; never render this to clients)."""
        return {
            "id": self.id, "name": self.name, "base_url": self.base_url, "kind": self.kind,
            "prefixes": list(self.prefixes), "hostnames": list(self.hostnames), "contact": self.contact,
            "status": self.status.value, "auth": {"type": self.auth.type, "token": self.auth.token,
                                                  "credentials_file": self.auth.credentials_file,
                                                  "audience": self.auth.audience},
            "source": self.source, "created": self.created, "updated": self.updated,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Member:
        auth = doc.get("auth") or {}
        return cls(
            id=doc["id"], name=doc["name"], base_url=doc["base_url"], kind=doc["kind"],
            prefixes=tuple(doc.get("prefixes", ())), hostnames=tuple(doc.get("hostnames", ())),
            contact=doc.get("contact", ""), status=Status(doc.get("status", "pending")),
            auth=MemberAuth(auth.get("type", "none"), auth.get("token"), auth.get("credentials_file"),
                            auth.get("audience")),
            source=doc.get("source", "api"), created=doc.get("created", ""), updated=doc.get("updated", ""),
        )

    def public(self) -> dict[str, Any]:
        """What clients may see: everything but credentials (only the auth type is shown)."""
        doc = self.to_doc()
        doc["auth"] = {"type": self.auth.type}
        if self.auth.type == "gateway_token":
            doc["auth"]["audience"] = self.token_audience
        return doc

    @property
    def token_audience(self) -> str:
        """The ``aud`` of gateway tokens for this member."""
        return self.auth.audience or self.base_url
