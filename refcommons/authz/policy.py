"""Gen3-style (arborist) policy evaluation over a ``user.yaml``-style document; pure, no I/O.

A document names roles (permissions = ``{service, method}`` actions), policies (roles on resource
paths), groups (users sharing policies), ``anonymous_policies`` (granted to everyone, even without a
credential), ``all_users_policies`` (granted to every authenticated user) and per-user policies.
:meth:`PolicyDocument.authz_map` gives a user's map ``{resource_path: [{"method", "service"}]}``
(the shape of Gen3's ``/user/user`` ``authz``); :func:`allows` decides a request against such a map.

Resource paths are hierarchical by **path segment**: a grant on ``/programs/phs001234`` covers that
path and everything beneath it (``/programs/phs001234/...``) but not ``/programs/phs001234.c1`` nor,
from a grant on ``/programs/phs0012``, ``/programs/phs001234``. ``*`` as a granted method or service
matches any. A request names one or more resources and is allowed only if **every** one is covered;
a request naming none is refused (a record without ``authz`` is not public).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

WILDCARD = "*"

AuthzMap = dict[str, list[dict[str, str]]]
"""``{resource_path: [{"method": m, "service": s}, ...]}``, as in Gen3's ``/user/user``."""


class PolicyError(ValueError):
    """The policy document is malformed or refers to roles/policies it does not define."""


# --- the edge: pydantic models of the YAML/JSON document -------------------------------------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")  # user.yaml also holds clients, cloud_providers, ...


class _Action(_Lenient):
    service: str
    method: str


class _Permission(_Lenient):
    id: str
    action: _Action


class _Role(_Lenient):
    id: str
    permissions: list[_Permission] = Field(default_factory=list)


class _Policy(_Lenient):
    id: str
    resource_paths: list[str] = Field(default_factory=list)
    role_ids: list[str] = Field(default_factory=list)


class _Group(_Lenient):
    name: str
    users: list[str] = Field(default_factory=list)
    policies: list[str] = Field(default_factory=list)


class _Resource(_Lenient):
    name: str
    subresources: list[_Resource] = Field(default_factory=list)


class _Authz(_Lenient):
    resources: list[_Resource] = Field(default_factory=list)
    roles: list[_Role] = Field(default_factory=list)
    policies: list[_Policy] = Field(default_factory=list)
    groups: list[_Group] = Field(default_factory=list)
    anonymous_policies: list[str] = Field(default_factory=list)
    all_users_policies: list[str] = Field(default_factory=list)


class _User(_Lenient):
    admin: bool = False
    policies: list[str] = Field(default_factory=list)
    tags: dict[str, Any] = Field(default_factory=dict)


class _UserYaml(_Lenient):
    authz: _Authz = Field(default_factory=_Authz)
    users: dict[str, _User | None] = Field(default_factory=dict)


# --- the inside: plain dataclasses ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grant:
    """One permitted action: ``method`` on ``service`` (either may be ``*``)."""

    method: str
    service: str

    def matches(self, method: str, service: str) -> bool:
        """Whether this grant permits ``method`` on ``service`` (a requested service ``*``: any)."""
        method_ok = self.method == WILDCARD or self.method == method
        service_ok = self.service == WILDCARD or service == WILDCARD or self.service == service
        return method_ok and service_ok


@dataclass(frozen=True, slots=True)
class Policy:
    id: str
    resource_paths: tuple[str, ...]
    grants: tuple[Grant, ...]
    """The union of the policy's roles' permissions."""


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    users: frozenset[str]
    policies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class UserEntry:
    name: str
    admin: bool
    policies: tuple[str, ...]
    tags: Mapping[str, Any]


def segments(path: str) -> tuple[str, ...] | None:
    """The segments of an absolute resource path (``/`` → ``()``); ``None`` if it is not one.

    Empty segments (``//``, a trailing ``/``) are ignored; ``.`` and ``..`` make a path invalid.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    parts = tuple(p for p in path.split("/") if p)
    if any(p in (".", "..") for p in parts):
        return None
    return parts


def normalize(path: str) -> str:
    """``path`` in canonical form (``/a/b``); raises :class:`PolicyError` if it is not a resource path."""
    parts = segments(path)
    if parts is None:
        raise PolicyError(f"not an absolute resource path: {path!r}")
    return "/" + "/".join(parts)


def covers(granted: str, resource: str) -> bool:
    """Whether a grant on ``granted`` applies to ``resource`` (segment prefix, not string prefix)."""
    g, r = segments(granted), segments(resource)
    if g is None or r is None:
        return False
    return r[: len(g)] == g


def allows(
    authz: Mapping[str, Iterable[Mapping[str, str]]], method: str, resources: Iterable[str], service: str = WILDCARD
) -> bool:
    """Whether ``authz`` permits ``method`` on ``service`` for **every** resource (none → ``False``)."""
    wanted = list(resources)
    if not wanted:
        return False
    granted = [
        (path, [Grant(g["method"], g["service"]) for g in grants]) for path, grants in authz.items()
    ]

    def one(resource: str) -> bool:
        return any(
            covers(path, resource) and any(g.matches(method, service) for g in grants) for path, grants in granted
        )

    return all(one(r) for r in wanted)


def _grant_order(grant: Grant) -> tuple[str, str]:
    return (grant.service, grant.method)


def _flatten(resources: Iterable[_Resource], parent: str = "") -> list[str]:
    out: list[str] = []
    for res in resources:
        path = f"{parent}/{res.name.strip('/')}"
        out.append(path)
        out.extend(_flatten(res.subresources, path))
    return out


@dataclass(frozen=True)
class PolicyDocument:
    """A parsed, cross-checked policy document."""

    resources: tuple[str, ...]
    """Resource paths declared in ``authz.resources`` (flattened; informational)."""
    policies: Mapping[str, Policy]
    groups: tuple[Group, ...]
    anonymous_policies: tuple[str, ...]
    all_users_policies: tuple[str, ...]
    users: Mapping[str, UserEntry]

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None) -> PolicyDocument:
        """Validate a decoded ``user.yaml``; :class:`PolicyError` names what is wrong."""
        try:
            doc = _UserYaml.model_validate(data or {})
        except ValidationError as exc:
            raise PolicyError(f"invalid policy document: {exc}") from None
        roles = {
            r.id: tuple(Grant(p.action.method, p.action.service) for p in r.permissions) for r in doc.authz.roles
        }
        policies: dict[str, Policy] = {}
        for p in doc.authz.policies:
            missing = [r for r in p.role_ids if r not in roles]
            if missing:
                raise PolicyError(f"policy {p.id!r} refers to undefined roles {missing}")
            grants = tuple(dict.fromkeys(g for r in p.role_ids for g in roles[r]))
            policies[p.id] = Policy(p.id, tuple(normalize(path) for path in p.resource_paths), grants)

        def known(ids: Iterable[str], where: str) -> tuple[str, ...]:
            ids = tuple(ids)
            missing = [i for i in ids if i not in policies]
            if missing:
                raise PolicyError(f"{where} refers to undefined policies {missing}")
            return ids

        groups = tuple(
            Group(g.name, frozenset(g.users), known(g.policies, f"group {g.name!r}")) for g in doc.authz.groups
        )
        users = {
            name: UserEntry(name, u.admin, known(u.policies, f"user {name!r}"), dict(u.tags))
            for name, u in ((n, u or _User()) for n, u in doc.users.items())
        }
        return cls(
            resources=tuple(_flatten(doc.authz.resources)),
            policies=policies,
            groups=groups,
            anonymous_policies=known(doc.authz.anonymous_policies, "anonymous_policies"),
            all_users_policies=known(doc.authz.all_users_policies, "all_users_policies"),
            users=users,
        )

    def groups_of(self, user: str | None) -> list[str]:
        """Names of the groups ``user`` belongs to (none for the anonymous user)."""
        return [] if user is None else [g.name for g in self.groups if user in g.users]

    def is_admin(self, user: str | None) -> bool:
        entry = self.users.get(user) if user is not None else None
        return bool(entry and entry.admin)

    def policy_ids(self, user: str | None) -> list[str]:
        """The policies in force for ``user`` (``None``: anonymous), without duplicates."""
        ids: list[str] = list(self.anonymous_policies)
        if user is not None:
            ids += self.all_users_policies
            entry = self.users.get(user)
            if entry is not None:
                ids += entry.policies
            ids += [p for g in self.groups if user in g.users for p in g.policies]
        return list(dict.fromkeys(ids))

    def authz_map(self, user: str | None) -> AuthzMap:
        """``{resource_path: [{"method", "service"}]}`` for ``user``, sorted for stable output."""
        found: dict[str, set[Grant]] = {}
        for pid in self.policy_ids(user):
            policy = self.policies[pid]
            for path in policy.resource_paths:
                found.setdefault(path, set()).update(policy.grants)
        return {
            path: [{"method": g.method, "service": g.service} for g in sorted(grants, key=_grant_order)]
            for path, grants in sorted(found.items())
        }
