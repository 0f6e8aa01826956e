"""What a search caller may read at one member: its readable resource paths, from Passports or a member's token.

:class:`Readable` is the one answer both cohort search (what the gateway vouches for in a search token) and the
study-count tiering of ``/mds/aggregate`` (which studies are the caller's) work from:

* from Passports (:func:`from_grants`, pure): the exact resource paths the member's resource map grants
  (:meth:`~gateway.passports.rules.resources.MemberResourceMap.granted`). Exact paths only;
* from a bearer token the member itself issued (:func:`from_authz_map`, pure over the member's fence
  ``GET /user/user`` ``authz`` map): the paths with a ``read`` grant for Guppy (service ``guppy`` or ``*``).
  Arborist resources are hierarchical by path segment: ``/programs/A`` covers ``/programs/A/projects/B``, never
  ``/programs/AB``.

:class:`UserAuthz` is the edge for the second: the member's ``/user/user`` through its adapter, cached in the
gateway cache (shared by replicas through Redis) under the member id and the token's sha256 (never the token), for
at most :data:`AUTHZ_TTL` seconds (and ``drs.authz_max_age``)
and never past the token's ``exp``. A member that refuses the token (401/403)
makes nothing readable, and that is cached too; any other failure makes nothing readable for this request only.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.cache.base import Cache
from gateway.core.deadline import Deadline
from gateway.core.errors import AccessDenied, UpstreamError
from gateway.core.jwt_peek import peek_bearer
from gateway.core.member import Member
from gateway.core.metrics import current
from gateway.members.protocols import Authz
from gateway.passports.rules.grants import Grant
from gateway.passports.rules.resources import MemberResourceMap

log = logging.getLogger("gateway.access.readable")

AUTHZ_TTL = 60
"""Seconds a member's answer to ``/user/user`` is reused (never past the token's ``exp``)."""
KEY_PREFIX = "search:authz:"
READ_METHODS = frozenset({"read", "*"})
READ_SERVICES = frozenset({"guppy", "*"})
LOOKUP_SECONDS = 5.0
"""Longest a ``/user/user`` lookup may take."""


def segments(path: str) -> tuple[str, ...] | None:
    """The segments of an absolute resource path; ``None`` for anything else (``.``/``..`` included)."""
    if not isinstance(path, str) or not path.startswith("/"):
        return None
    parts = tuple(p for p in path.split("/") if p)
    return None if any(p in (".", "..") for p in parts) else parts


@dataclass(frozen=True)
class Readable:
    """Readable resource paths: ``exact`` ones, and ``trees`` (a path and everything below it, by segment)."""

    exact: frozenset[str] = frozenset()
    trees: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.exact or self.trees)

    def __or__(self, other: Readable) -> Readable:
        """What either one may read."""
        return Readable(self.exact | other.exact, self.trees | other.trees)

    def covers(self, resource: str) -> bool:
        if resource in self.exact:
            return True
        wanted = segments(resource)
        if wanted is None:
            return False
        for tree in self.trees:
            root = segments(tree)
            if root is not None and wanted[: len(root)] == root:
                return True
        return False

    def covers_all(self, resources: Iterable[str]) -> bool:
        """Every one of ``resources`` is readable (none at all: not readable)."""
        wanted = list(resources)
        return bool(wanted) and all(self.covers(r) for r in wanted)

    def cached(self) -> bytes:
        """The cache entry of a looked-up map (its ``trees``: what members' authz maps give)."""
        return orjson.dumps(sorted(self.trees))

    @classmethod
    def from_cached(cls, raw: bytes) -> Readable:
        """A :meth:`cached` entry back; nothing readable for an entry that is not one."""
        try:
            paths = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return cls()
        if not isinstance(paths, list):
            return cls()
        return cls(trees=frozenset(p for p in paths if isinstance(p, str)))


NOTHING = Readable()


def from_grants(member_map: MemberResourceMap, grants: Iterable[Grant], now: int) -> Readable:
    """The member's resource paths the grants reach (exact)."""
    return Readable(exact=frozenset(member_map.granted(grants, now)))


def from_authz_map(authz: Any) -> Readable:
    """The readable trees of a Gen3 ``authz`` map ``{path: [{"method", "service"}]}`` (malformed entries skipped)."""
    if not isinstance(authz, Mapping):
        return NOTHING
    trees = set()
    for path, grants in authz.items():
        if segments(path) is None or not isinstance(grants, list):
            continue
        if any(isinstance(g, Mapping) and g.get("method") in READ_METHODS and g.get("service") in READ_SERVICES
               for g in grants):
            trees.add(path)
    return Readable(trees=frozenset(trees))


def token_expiry(authorization: str) -> int | None:
    """The unverified ``exp`` of a ``Bearer <JWT>`` (the member verifies); ``None`` when there is none."""
    peeked = peek_bearer(authorization)
    exp = peeked.payload.get("exp") if peeked is not None else None
    return exp if isinstance(exp, int) and not isinstance(exp, bool) else None


def cache_ttl(authorization: str, now: float) -> int:
    """How long a lookup for this token may be reused: :data:`AUTHZ_TTL`, never past its ``exp`` (0: not at all)."""
    exp = token_expiry(authorization)
    return AUTHZ_TTL if exp is None else max(0, min(AUTHZ_TTL, int(exp - now)))


class UserAuthz:
    """Readable resources of a caller's own token at a member, from the member's fence (cached)."""

    def __init__(self, cache: Cache, adapter_of: Callable[[Member], object], *,
                 clock: Callable[[], float] = time.time, max_age: float | None = None) -> None:
        self.cache = cache
        self.adapter_of = adapter_of
        self.clock = clock
        self.max_age = max_age
        """``drs.authz_max_age``: a lookup is reused no longer than this (0: never cached)."""

    @staticmethod
    def key(member: Member, authorization: str) -> str:
        return f"{KEY_PREFIX}{member.id}:{hashlib.sha256(authorization.encode()).hexdigest()}"

    async def readable(self, member: Member, authorization: str) -> Readable:
        """What ``authorization`` (sent to ``member`` as is) may read there."""
        ttl = cache_ttl(authorization, self.clock())
        if ttl <= 0:
            return NOTHING  # expired: the member would refuse it
        key = self.key(member, authorization)
        hit = await self.cache.get(key)
        current().cache_lookup("user_authz", hit is not None)
        if hit is not None:
            return Readable.from_cached(hit)
        adapter = self.adapter_of(member)
        if not isinstance(adapter, Authz):
            return NOTHING
        try:
            found = from_authz_map(await adapter.user_authz(authorization, Deadline.after(LOOKUP_SECONDS)))
        except AccessDenied:
            found = NOTHING  # the member refuses this token: nothing is readable while it is cached
        except (UpstreamError, TimeoutError) as exc:
            log.info("search: the member's user info failed; nothing readable",
                     extra={"member": member.id, "error": str(exc)[:300]})
            return NOTHING
        keep = ttl if self.max_age is None else min(ttl, self.max_age)
        if keep > 0:
            await self.cache.set(key, found.cached(), ttl=keep)
        return found
