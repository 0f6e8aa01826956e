"""Which member an id goes to, and in which spellings to ask for it.

The rules, in order: a ``drs://host/id`` goes to the member answering for that hostname (``drs://<the gateway
itself>/<id>`` is routed as ``<id>``); a prefixed id goes to the member owning the prefix, else to the host an
upstream dist list names for it (:mod:`gateway.resolver.upstream`); a bare UUID or opaque id has no route: every
active, healthy member is asked. No I/O but an upstream dist list's (itself cached).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.core.deadline import Deadline
from gateway.core.member import Member
from gateway.registry.directory import Routes
from gateway.resolver.identifiers import Identifier, parse_identifier
from gateway.resolver.outcomes import ResolutionError, Route
from gateway.resolver.upstream import UpstreamDist


@dataclass(frozen=True, slots=True)
class Routed:
    """Where an id goes: the member, the identifier to ask it for, and how it was chosen."""

    member: Member
    ident: Identifier
    route: Route


def route_locally(ident: Identifier, routes: Routes, *, own_hostnames: frozenset[str]) -> Routed | Identifier | None:
    """The member ``ident`` goes to by prefix or hostname (:class:`Routed`); ``None`` when every member must be asked
    (a bare UUID or opaque id); or the prefixed identifier (itself, or the one a ``drs://<the gateway>/`` URI holds)
    whose prefix no member owns, which only :func:`route_upstream` can place. :class:`ResolutionError` 404 when
    nothing answers for its hostname. No I/O: a batch routes its ids without a coroutine each."""
    if ident.kind == "hostname":
        member = routes.by_hostname.get(ident.hostname or "")
        if member is None and ident.hostname in own_hostnames:
            inner = parse_identifier(ident.accession)
            if inner.kind != "hostname":
                return route_locally(inner, routes, own_hostnames=own_hostnames)
        if member is None:
            raise ResolutionError(404, f"no member commons answers for DRS hostname {ident.hostname}")
        return Routed(member, ident, "hostname")
    if ident.kind == "prefixed":
        member = routes.by_prefix.get(ident.prefix or "")
        return ident if member is None else Routed(member, ident, "prefix")
    return None


async def route_upstream(ident: Identifier, deadline: Deadline, upstream: UpstreamDist | None) -> Routed:
    """The member an upstream dist list names for the prefix of ``ident``, which no member owns
    (:func:`route_locally`); :class:`ResolutionError` 404 when there is none."""
    found = await upstream.member_for(ident.prefix or "", deadline) if upstream else None
    if found is None:
        raise ResolutionError(404, f"no member commons owns the prefix {ident.prefix_as_given}")
    return Routed(found, ident, "upstream")


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
