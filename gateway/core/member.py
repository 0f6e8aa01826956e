"""A member commons record, and the normalisation rules for what it owns (pure).

A member's services may live under one host (Gen3's reverse-proxy layout) or apart: :class:`Endpoints` says where
each one is (an absolute URL, or ``None``: the member has no such service), derived from ``base_url`` by kind
(:func:`default_endpoints`) and overridden per service by what the member declares (``Member.declared_endpoints``).
What the member was found to offer there (:data:`CAPABILITIES`) is :class:`Capabilities`, discovered at the join and
re-checked by the health prober (:mod:`gateway.registry.join`); features read it through :meth:`Member.offers`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
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


SERVICES = ("indexd", "drs", "fence", "guppy", "mds", "authz", "dictionary")
"""The services a member may have, each at its own endpoint (:class:`Endpoints`)."""
CAPABILITIES = ("records", "bulk", "signed_urls", "cohort_search", "study_discovery", "authz_mapping", "dictionary")
"""What a member may offer the gateway (:class:`Capabilities`)."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where each of a member's services lives: an absolute URL without trailing slash, or ``None`` (no such service).

    The URLs are the roots the services' own routes hang under: indexd's ``/index/{guid}``, ``/bulk/documents`` and
    ``/_status`` under ``indexd``; ``/ga4gh/drs/v1/…`` under ``drs``; fence's ``/data/download/{guid}``, ``/user``
    and ``/credentials/…`` under ``fence``; ``/graphql`` under ``guppy``; ``/metadata`` under ``mds``; ``/mapping``
    under ``authz`` (Arborist); sheepdog's ``/v0/submission/_dictionary/…`` under ``dictionary``."""

    indexd: str | None = None
    drs: str | None = None
    fence: str | None = None
    guppy: str | None = None
    mds: str | None = None
    authz: str | None = None
    dictionary: str | None = None

    def to_doc(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in SERVICES}

    def hosts(self) -> list[str]:
        """Every distinct endpoint URL (for egress checks)."""
        return list(dict.fromkeys(url for url in self.to_doc().values() if url))


def default_endpoints(kind: str, base_url: str) -> Endpoints:
    """The endpoints a member of ``kind`` has at ``base_url`` unless it says otherwise: ``gen3`` (and the in-process
    ``reference`` commons) is Gen3's reverse-proxy layout under one host; ``drs`` is a DRS server only."""
    base = base_url.rstrip("/")
    if kind == "drs":
        return Endpoints(drs=base)
    return Endpoints(indexd=f"{base}/index", drs=base, fence=f"{base}/user", guppy=f"{base}/guppy",
                     mds=f"{base}/mds", authz=f"{base}/authz", dictionary=f"{base}/api")


@lru_cache(maxsize=4096)
def resolved_endpoints(kind: str, base_url: str, declared: tuple[tuple[str, str | None], ...]) -> Endpoints:
    """The kind's defaults at ``base_url`` with ``declared`` over them. Remembered (an :class:`Endpoints` is immutable):
    every upstream call asks where its service is, and building the answer costs more than the call's own URL."""
    return replace(default_endpoints(kind, base_url), **dict(declared))


def normalize_endpoints(declared: Mapping[str, str | None]) -> tuple[tuple[str, str | None], ...]:
    """Declared endpoints in :data:`SERVICES` order, URLs without trailing slash (ValueError for an unknown
    service)."""
    unknown = sorted(set(declared) - set(SERVICES))
    if unknown:
        raise ValueError(f"unknown service {unknown[0]!r} in endpoints: expected one of {', '.join(SERVICES)}")
    return tuple((name, None if declared[name] is None else str(declared[name]).rstrip("/"))
                 for name in SERVICES if name in declared)


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a member was found to offer (:data:`CAPABILITIES`), and why each other one is missing (public words:
    the endpoint asked and what it answered)."""

    offers: frozenset[str] = frozenset()
    missing: tuple[tuple[str, str], ...] = ()
    """``(capability, why)`` in :data:`CAPABILITIES` order."""
    checked: str = ""
    """When this was found (RFC 3339 UTC)."""

    def why_not(self, capability: str) -> str | None:
        return dict(self.missing).get(capability)

    def same_as(self, other: Capabilities | None) -> bool:
        """The same findings, whenever checked."""
        return other is not None and (self.offers, self.missing) == (other.offers, other.missing)

    def to_doc(self) -> dict[str, Any]:
        return {"offers": [c for c in CAPABILITIES if c in self.offers], "missing": dict(self.missing),
                "checked": self.checked}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> Capabilities:
        missing = doc.get("missing") or {}
        return cls(frozenset(doc.get("offers") or ()), tuple((k, str(v)) for k, v in missing.items()),
                   str(doc.get("checked") or ""))


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
    declared_endpoints: tuple[tuple[str, str | None], ...] = ()
    """Endpoints the member declared (``None``: it has no such service), over the kind's defaults; see
    :attr:`endpoints`."""
    capabilities: Capabilities | None = None
    """What the member was found to offer (``None``: never checked, e.g. the in-process commons or a record stored
    before capabilities existed: every service its endpoints name is taken as offered)."""

    @property
    def endpoints(self) -> Endpoints:
        """Where each service is: the kind's defaults at ``base_url`` with the declared endpoints over them."""
        return resolved_endpoints(self.kind, self.base_url, self.declared_endpoints)

    def offers(self, capability: str) -> bool:
        """Does the member offer ``capability``? No endpoint for it: no; checked: what was found; never checked:
        yes when its endpoint is named."""
        if self.kind == "reference":
            return True
        if not _has_endpoint(self.kind, self.endpoints, capability):
            return False
        return self.capabilities is None or capability in self.capabilities.offers

    def why_not(self, capability: str) -> str:
        """Why the member does not offer ``capability`` (for error messages)."""
        if not _has_endpoint(self.kind, self.endpoints, capability):
            return f"it has no {_SERVICE_OF.get((self.kind, capability)) or _SERVICE_OF[('gen3', capability)]} service"
        said = self.capabilities.why_not(capability) if self.capabilities is not None else None
        return said or f"it was not found to offer {capability}"

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
            "endpoints": dict(self.declared_endpoints),
            "capabilities": self.capabilities.to_doc() if self.capabilities is not None else None,
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
            declared_endpoints=normalize_endpoints(doc.get("endpoints") or {}),
            capabilities=Capabilities.from_doc(doc["capabilities"]) if doc.get("capabilities") else None,
        )

    def public(self) -> dict[str, Any]:
        """What clients may see: everything but credentials (only the auth type is shown)."""
        doc = self.to_doc()
        doc["auth"] = {"type": self.auth.type}
        doc["endpoints"] = self.endpoints.to_doc()
        doc["capabilities"] = self.capability_view()
        if self.auth.type == "gateway_token":
            doc["auth"]["audience"] = self.token_audience
        return doc

    @property
    def token_audience(self) -> str:
        """The ``aud`` of gateway tokens for this member."""
        return self.auth.audience or self.base_url

    def capability_view(self) -> dict[str, Any]:
        """What the member offers, as shown: ``offers`` (every capability it is taken to offer now), ``missing``
        (each other one, with why) and ``checked`` (``None``: taken from its endpoints, never checked)."""
        offers = [c for c in CAPABILITIES if self.offers(c)]
        return {"offers": offers, "missing": {c: self.why_not(c) for c in CAPABILITIES if c not in offers},
                "checked": self.capabilities.checked if self.capabilities is not None else None}


_SERVICE_OF = {
    **{("gen3", c): s for c, s in (("records", "indexd"), ("bulk", "indexd"), ("signed_urls", "fence"),
                                     ("cohort_search", "guppy"), ("study_discovery", "mds"),
                                     ("authz_mapping", "authz"), ("dictionary", "dictionary"))},
    ("drs", "records"): "drs", ("drs", "bulk"): "drs", ("drs", "signed_urls"): "drs",
}
"""The service each capability needs, by kind (a DRS server has only ``drs``)."""


def _has_endpoint(kind: str, endpoints: Endpoints, capability: str) -> bool:
    service = _SERVICE_OF.get((kind, capability)) if kind == "drs" else _SERVICE_OF.get(("gen3", capability))
    return service is not None and getattr(endpoints, service) is not None
