"""What anyone may read at a member: its open resources, from Arborist's auth mapping for the anonymous user.

Gen3 exposes Arborist's ``GET /auth/mapping`` at ``/authz/mapping``; asked with no token it answers the
``anonymous_policies`` only, ``{resource_path: [{"service", "method"}]}``. The readable paths in it are read as
:func:`gateway.access.readable.from_authz_map` reads ``/user/user`` (a ``read`` for Guppy, by path segment), and
every caller may read them on top of their own (:meth:`gateway.access.caller.SearchCaller.readable_at`).

:class:`OpenAuthz` asks a member's adapter (``anonymous_authz``) at most once per :data:`OPEN_TTL` seconds (and per
``drs.authz_max_age``, the bound on what the gateway decides access on): the
answer is kept in the gateway cache (shared by replicas through Redis) under the member id, and concurrent misses
in one process share one call. A failed lookup (the member is down, has no such route, refuses, answers
something else) makes nothing more readable, is cached for :data:`FAILED_TTL` seconds, and never fails the request.
A member whose adapter has no such lookup (no :class:`~gateway.members.protocols.Authz`: not a Gen3 commons) makes
nothing more readable and costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from gateway.access.readable import NOTHING, Readable, from_authz_map
from gateway.cache.base import Cache
from gateway.core.deadline import Deadline
from gateway.core.errors import UpstreamError
from gateway.core.member import Member
from gateway.core.metrics import current
from gateway.members.protocols import Authz

log = logging.getLogger("gateway.access.open_readable")

OPEN_TTL = 300
"""Seconds a member's anonymous mapping is reused."""
FAILED_TTL = 30
"""Seconds a failed lookup is remembered (nothing more readable meanwhile)."""
KEY_PREFIX = "search:open:"
LOOKUP_SECONDS = 5.0
"""Longest an anonymous mapping lookup may take."""


class OpenAuthz:
    """The resources anyone may read at a member (cached; see the module doc)."""

    def __init__(self, cache: Cache, adapter_of: Callable[[Member], object], *, max_age: float | None = None) -> None:
        self.cache = cache
        self.adapter_of = adapter_of
        self.max_age = max_age
        """``drs.authz_max_age``: a mapping is reused no longer than this (0: never cached)."""
        self._locks: dict[str, asyncio.Lock] = {}

    @staticmethod
    def key(member: Member) -> str:
        return f"{KEY_PREFIX}{member.id}"

    async def readable(self, member: Member) -> Readable:
        """What an anonymous caller may read at ``member``."""
        adapter = self.adapter_of(member)
        if not isinstance(adapter, Authz):
            return NOTHING
        key = self.key(member)
        hit = await self.cache.get(key)
        current().cache_lookup("open_authz", hit is not None)
        if hit is not None:
            return Readable.from_cached(hit)
        async with self._locks.setdefault(member.id, asyncio.Lock()):
            hit = await self.cache.get(key)  # another request of this process may have just asked
            if hit is not None:
                return Readable.from_cached(hit)
            try:
                found, ttl = from_authz_map(await adapter.anonymous_authz(Deadline.after(LOOKUP_SECONDS))), OPEN_TTL
            except (UpstreamError, TimeoutError) as exc:
                log.info("search: the member's anonymous auth mapping failed; nothing more readable",
                         extra={"member": member.id, "error": str(exc)[:300]})
                found, ttl = NOTHING, FAILED_TTL
            keep = ttl if self.max_age is None else min(ttl, self.max_age)
            if keep > 0:
                await self.cache.set(key, found.cached(), ttl=keep)
            return found
