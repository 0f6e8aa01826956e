"""Resolution: an identifier in any form → the member commons that holds it, and its record.

Routing: a prefixed id goes to the member owning the prefix (or, for prefixes no member owns, to an
upstream dist list's host); a ``drs://host/id`` goes to the member answering for that hostname; a bare
UUID or opaque id is asked of every active, healthy member in parallel, first hit wins. A member known
to be unhealthy is not waited on. Hits and misses are cached in the configured cache under the
registry's version, so any registry change (on any replica) retires every cached answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from gateway.cache import Cache
from gateway.core.concurrency import first_hit
from gateway.core.deadline import Deadline
from gateway.core.errors import MemberTimeout, UpstreamError
from gateway.core.member import Member
from gateway.core.records import MemberRecord
from gateway.registry.directory import Directory, Routes
from gateway.resolver.identifiers import Identifier, parse_identifier
from gateway.resolver.upstream import UpstreamDist
from gateway.settings.gateway import ResolverConfig

log = logging.getLogger("gateway.resolver")

Route = Literal["prefix", "hostname", "fanout", "upstream"]


@dataclass(frozen=True, slots=True)
class Resolution:
    identifier: Identifier
    member: Member
    record: MemberRecord
    route: Route
    cached: bool = False


class ResolutionError(Exception):
    """Why an id could not be resolved; ``status`` is what to answer (400, 404, 502, 503, 504; a member's
    202 with ``retry_after``, its 401/403)."""

    def __init__(self, status: int, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after

    @classmethod
    def upstream(cls, member_id: str, exc: UpstreamError) -> ResolutionError:
        return cls(exc.status, f"member commons {member_id}: {exc.message}",
                   retry_after=exc.retry_after)


@dataclass
class Resolver:
    directory: Directory
    cache: Cache
    config: ResolverConfig
    upstream: UpstreamDist | None = None
    own_hostnames: frozenset[str] = frozenset()
    """The gateway's own ``host[:port]``: ``drs://<gateway>/<id>`` resolves ``<id>`` itself."""

    async def resolve(self, raw: str | Identifier, deadline: Deadline | None = None) -> Resolution:
        """Resolve one id (``InvalidIdentifier`` for garbage, :class:`ResolutionError` otherwise)."""
        ident = raw if isinstance(raw, Identifier) else parse_identifier(raw)
        deadline = deadline or Deadline.after(self.config.deadline)
        routes = await self.directory.routes()
        if not self.config.cache:
            return await self._resolve(ident, deadline, routes)
        key = cache_key(routes.version, ident)
        cached = await self.cache.get(key)
        if cached is not None:
            hit = self.from_cache(ident, orjson.loads(cached), routes.members)
            if hit is not None:
                return hit
        try:
            resolution = await self._resolve(ident, deadline, routes)
        except ResolutionError as exc:
            if exc.status == 404:
                await self.cache.set(key, orjson.dumps({"miss": exc.message}), ttl=self.config.negative_ttl)
            raise
        await self.cache.set(key, to_cache(resolution), ttl=self.config.positive_ttl)
        return resolution

    async def resolve_many(
        self, raws: Sequence[str], deadline: Deadline | None = None
    ) -> dict[str, Resolution | ResolutionError]:
        """Every distinct id → its resolution or error, each member asked once (see :mod:`.bulk`)."""
        from gateway.resolver.bulk import resolve_many

        return await resolve_many(self, raws, deadline or Deadline.after(self.config.deadline))

    async def _resolve(self, ident: Identifier, deadline: Deadline, routes: Routes) -> Resolution:
        routed = await self.route(ident, deadline, routes)
        if routed is None:
            return await self._fan_out(ident, deadline)
        member, inner, route = routed
        return await self._ask(member, inner, deadline, route, check_health=route != "upstream")

    async def route(
        self, ident: Identifier, deadline: Deadline, routes: Routes
    ) -> tuple[Member, Identifier, Route] | None:
        """Which member an id goes to, and the identifier to ask it for (``drs://<gateway>/<id>`` is asked
        as ``<id>``); ``None`` when every member must be asked (a bare UUID or opaque id).
        :class:`ResolutionError` 404 when nothing answers for its prefix or hostname."""
        if ident.kind == "hostname":
            member = routes.by_hostname.get(ident.hostname or "")
            if member is None and ident.hostname in self.own_hostnames:
                inner = parse_identifier(ident.accession)
                if inner.kind != "hostname":
                    return await self.route(inner, deadline, routes)
            if member is None:
                raise ResolutionError(404, f"no member commons answers for DRS hostname {ident.hostname}")
            return member, ident, "hostname"
        if ident.kind == "prefixed":
            member = routes.by_prefix.get(ident.prefix or "")
            if member is not None:
                return member, ident, "prefix"
            upstream = await self.upstream.member_for(ident.prefix or "", deadline) if self.upstream else None
            if upstream is None:
                raise ResolutionError(404, f"no member commons owns the prefix {ident.prefix_as_given}")
            return upstream, ident, "upstream"
        return None

    async def _ask(
        self, member: Member, ident: Identifier, deadline: Deadline, route: Route, *, check_health: bool = True
    ) -> Resolution:
        if check_health and not await self.directory.is_healthy(member.id):
            raise ResolutionError(503, f"member commons {member.id} is unhealthy; try again later")
        adapter = self.directory.adapter(member)
        record = None
        try:
            for object_id in spellings(ident):
                record = await adapter.get_record(object_id, deadline)
                if record is not None:
                    break
        except UpstreamError as exc:
            raise ResolutionError.upstream(member.id, exc) from None
        if record is None:
            raise ResolutionError(404, f"{ident.object_id} is not in member commons {member.id}")
        return Resolution(ident, member, record, route)

    async def _fan_out(self, ident: Identifier, deadline: Deadline) -> Resolution:
        candidates = await self.directory.candidates()
        if not candidates:
            raise ResolutionError(404, "no active, healthy member commons to ask")

        async def lookup(member: Member) -> MemberRecord | None:
            return await self.directory.adapter(member).get_record(ident.object_id, deadline)

        result = await first_hit(
            candidates, lookup, concurrency=self.config.fanout_concurrency, deadline=deadline
        )
        if result.hit is not None:
            member, record = result.hit
            return Resolution(ident, member, record, "fanout")
        failed = sorted(m.id for m, _ in result.failures)
        if result.timed_out or any(isinstance(exc, MemberTimeout) for _, exc in result.failures):
            raise ResolutionError(504, f"{ident.object_id}: not found before the deadline; members still "
                                       f"answering or failed: {', '.join(failed) or 'none failed'}")
        if failed:
            raise ResolutionError(502, f"{ident.object_id} was not found, but these members failed: "
                                       f"{', '.join(failed)}")
        raise ResolutionError(404, f"{ident.object_id} is in none of the {len(candidates)} member commons asked")

    def from_cache(self, ident: Identifier, doc: dict[str, Any], members: dict[str, Member]) -> Resolution | None:
        if "miss" in doc:
            raise ResolutionError(404, doc["miss"])
        member = members.get(doc["m"])
        if member is None:  # an upstream pseudo-member or a member since removed: resolve afresh
            return None
        record = MemberRecord(member.id, doc["id"], doc["f"], doc["d"])
        return Resolution(ident, member, record, doc["r"], cached=True)


def spellings(ident: Identifier) -> list[str]:
    """The ids to ask a member for, in order: as typed, then (for a prefixed id) with the prefix in Gen3's
    conventional spelling, ``dg.`` + upper case (``dg.anv0/x`` → ``dg.ANV0/x``). Prefixes route without
    regard to case, but indexd matches GUIDs exactly, so a lower-cased prefix would otherwise miss."""
    ids = [ident.object_id]
    if ident.kind == "prefixed" and ident.prefix_as_given:
        scheme, _, name = ident.prefix_as_given.partition(".")
        conventional = f"{scheme.lower()}.{name.upper()}/{ident.accession}"
        if conventional != ident.object_id:
            ids.append(conventional)
    return ids


def cache_key(version: int, ident: Identifier) -> str:
    # object_id keeps the prefix as the user spelled it: Gen3 GUIDs are case-sensitive upstream
    return f"resolve:v{version}:{ident.kind}:{ident.hostname or ''}:{ident.object_id}"


def to_cache(resolution: Resolution) -> bytes:
    r = resolution.record
    return orjson.dumps({"m": resolution.member.id, "id": r.id, "f": r.format, "d": r.document,
                         "r": resolution.route})
