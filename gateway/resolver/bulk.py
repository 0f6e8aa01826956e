"""Resolving many ids in one go: each member is asked once, with its bulk call, for all of its ids.

1. Each distinct id is parsed (garbage → 400) and looked up in the resolution cache (one ``get_many``).
2. The rest are routed without I/O (prefix, DRS hostname, the gateway's own hostname; an upstream dist
   list only for prefixes no member owns) and grouped per member. Ids with no route (bare UUIDs, opaque
   ids) form one fan-out group that every active, healthy member is asked for in one bulk call each;
   the first member in registry order that has an id wins it.
3. Members are asked concurrently. An id a member lacks is asked again in Gen3's conventional prefix
   spelling (one more bulk call for those). A member's failure fails only its own ids.
4. At the deadline whatever is still running is cancelled and its ids answer 504; everything already
   answered is kept. Hits and 404s are cached as the single-id path caches them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

import orjson

from gateway.core.concurrency import run_until
from gateway.core.deadline import Deadline
from gateway.core.errors import MemberTimeout, UpstreamError
from gateway.core.member import Member
from gateway.core.records import MemberRecord
from gateway.resolver.identifiers import Identifier, InvalidIdentifier, parse_identifier
from gateway.resolver.service import Resolution, ResolutionError, Route, cache_key, spellings, to_cache

if TYPE_CHECKING:
    from gateway.resolver.service import Resolver

Outcome = Resolution | ResolutionError


async def resolve_many(resolver: Resolver, raws: Sequence[str], deadline: Deadline) -> dict[str, Outcome]:
    """Every distinct id in ``raws`` → its :class:`Resolution` or :class:`ResolutionError`."""
    out: dict[str, Outcome] = {}
    idents: dict[str, Identifier] = {}
    for raw in dict.fromkeys(raws):
        try:
            idents[raw] = parse_identifier(raw)
        except InvalidIdentifier as exc:
            out[raw] = ResolutionError(400, str(exc))
    routes = await resolver.directory.routes()
    keys = {raw: cache_key(routes.version, ident) for raw, ident in idents.items()}
    if resolver.config.cache and keys:
        cached = await resolver.cache.get_many(list(dict.fromkeys(keys.values())))
        for raw, key in keys.items():
            if key in cached:
                try:
                    hit = resolver.from_cache(idents[raw], orjson.loads(cached[key]), routes.members)
                except ResolutionError as exc:
                    out[raw] = exc
                    continue
                if hit is not None:
                    out[raw] = hit

    groups: dict[str, tuple[Member, list[tuple[str, Identifier, Route]]]] = {}
    fan: list[tuple[str, Identifier]] = []
    for raw, ident in idents.items():
        if raw in out:
            continue
        try:
            routed = await resolver.route(ident, deadline, routes)
        except ResolutionError as exc:
            out[raw] = exc
            continue
        if routed is None:
            fan.append((raw, ident))
            continue
        member, inner, route = routed
        groups.setdefault(member.id, (member, []))[1].append((raw, inner, route))

    fresh: dict[str, Outcome] = {}
    unhealthy = await resolver.directory.unhealthy()
    jobs = []
    for member, items in groups.values():
        if member.id in unhealthy:  # upstream pseudo-members are never probed, so never in this set
            error = ResolutionError(503, f"member commons {member.id} is unhealthy; try again later")
            fresh.update((raw, error) for raw, _, _ in items)
        else:
            jobs.append(_ask_member(resolver, member, items, deadline, fresh))
    if fan:
        jobs.append(_fan_out(resolver, fan, deadline, fresh))
    await run_until(jobs, deadline)
    for raw in idents:
        if raw not in out and raw not in fresh:
            fresh[raw] = ResolutionError(504, f"{raw}: no answer from its member commons before the deadline")
    await _remember(resolver, fresh, keys)
    out.update(fresh)
    return out


async def _ask_member(
    resolver: Resolver, member: Member, items: list[tuple[str, Identifier, Route]], deadline: Deadline,
    out: dict[str, Outcome],
) -> None:
    adapter = resolver.directory.adapter(member)
    try:
        found = await adapter.get_records([ident.object_id for _, ident, _ in items], deadline)
        retry = {alt: ident.object_id for _, ident, _ in items if ident.object_id not in found
                 for alt in spellings(ident)[1:]}
        if retry:
            again = await adapter.get_records(list(retry), deadline)
            found.update({retry[alt]: record for alt, record in again.items()})
    except UpstreamError as exc:
        error = ResolutionError.upstream(member.id, exc)
        out.update((raw, error) for raw, _, _ in items)
        return
    for raw, ident, route in items:
        record = found.get(ident.object_id)
        out[raw] = (Resolution(ident, member, record, route) if record is not None
                    else ResolutionError(404, f"{ident.object_id} is not in member commons {member.id}"))


async def _fan_out(
    resolver: Resolver, items: list[tuple[str, Identifier]], deadline: Deadline, out: dict[str, Outcome]
) -> None:
    """Every candidate asked for every id at once. Ends when each id has been found or every member has
    answered; if cancelled at the deadline, what the members said by then still counts (in ``finally``)."""
    candidates = await resolver.directory.candidates()
    if not candidates:
        error = ResolutionError(404, "no active, healthy member commons to ask")
        out.update((raw, error) for raw, _ in items)
        return
    wanted = list(dict.fromkeys(ident.object_id for _, ident in items))
    answers: dict[str, dict[str, MemberRecord] | UpstreamError] = {}
    gate = asyncio.Semaphore(resolver.config.fanout_concurrency)
    all_found = asyncio.Event()

    async def ask(member: Member) -> None:
        async with gate:
            try:
                answers[member.id] = await resolver.directory.adapter(member).get_records(wanted, deadline)
            except UpstreamError as exc:
                answers[member.id] = exc
        found = {i for a in answers.values() if isinstance(a, dict) for i in a}
        if found.issuperset(wanted):
            all_found.set()

    tasks = [asyncio.ensure_future(ask(m)) for m in candidates]
    waiter = asyncio.ensure_future(all_found.wait())
    everyone = asyncio.gather(*tasks, return_exceptions=True)
    try:
        await asyncio.wait([everyone, waiter], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in [*tasks, waiter]:
            task.cancel()
        await asyncio.gather(everyone, waiter, return_exceptions=True)
        _fan_out_outcomes(candidates, answers, items, out)


def _fan_out_outcomes(
    candidates: list[Member], answers: dict[str, dict[str, MemberRecord] | UpstreamError],
    items: list[tuple[str, Identifier]], out: dict[str, Outcome],
) -> None:
    """Each id: the first member in registry order that has it; else 504 if a member timed out or never
    answered, 502 if one failed, 404 if all answered without it."""
    failed = sorted(m for m, a in answers.items() if isinstance(a, UpstreamError))
    silent = sorted(m.id for m in candidates if m.id not in answers)
    timed_out = silent or any(isinstance(a, MemberTimeout) for a in answers.values())
    for raw, ident in items:
        hit = next(((m, a[ident.object_id]) for m in candidates
                    if isinstance(a := answers.get(m.id), dict) and ident.object_id in a), None)
        if hit is not None:
            out[raw] = Resolution(ident, hit[0], hit[1], "fanout")
        elif timed_out:
            out[raw] = ResolutionError(504, f"{ident.object_id}: not found before the deadline; still answering or "
                                            f"failed: {', '.join(silent + failed)}")
        elif failed:
            out[raw] = ResolutionError(502, f"{ident.object_id} was not found, but these members failed: "
                                            f"{', '.join(failed)}")
        else:
            out[raw] = ResolutionError(404, f"{ident.object_id} is in none of the {len(candidates)} member "
                                            "commons asked")


async def _remember(resolver: Resolver, fresh: dict[str, Outcome], keys: dict[str, str]) -> None:
    if not resolver.config.cache:
        return
    writes = []
    for raw, outcome in fresh.items():
        key = keys.get(raw)
        if key is None:
            continue
        if isinstance(outcome, Resolution):
            writes.append(resolver.cache.set(key, to_cache(outcome), ttl=resolver.config.positive_ttl))
        elif outcome.status == 404:
            writes.append(resolver.cache.set(key, orjson.dumps({"miss": outcome.message}),
                                              ttl=resolver.config.negative_ttl))
    await asyncio.gather(*writes)
