"""Asking members for a batch of ids: each member at most once per chunk of ids (plus once more for the ids it
lacks in the spelling given), members concurrently.

- :func:`ask_owner`: the ids routed to one member, in one call; the ids it lacks asked again in Gen3's
  conventional prefix spelling (:func:`~gateway.resolver.routing.spellings`), in one more call. The member's
  failure fails its ids, with its status.
- :func:`ask_everyone`: the ids with no route, asked of every active, healthy member at once (at most
  ``concurrency`` members at a time), **waiting for every member's answer** until :data:`ANSWER_MARGIN` before the
  deadline, so that no member wins by being first; what each id then resolves to follows the ownership rule of
  :mod:`gateway.resolver.holders` (a record must name the id asked; one holder, established or not; several: 409).
  Refused records are logged and counted against their member's health.

The call a member gets is its bulk call (which its adapter splits into chunks), except in a batch of one id:
then its single-record call, the cheaper of the two for one id. What a member answered before the deadline
counts even when the batch is cut short there.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict
from functools import partial

from gateway.core.concurrency import run_until
from gateway.core.deadline import Deadline
from gateway.core.errors import UpstreamError
from gateway.core.member import Member
from gateway.core.metrics import current
from gateway.core.records import MemberRecord
from gateway.members.protocols import MemberAdapter
from gateway.registry.directory import Directory
from gateway.resolver.coalescing import Coalescer
from gateway.resolver.holders import Answers, Lie, everyone_outcomes, unasked, vet
from gateway.resolver.identifiers import Identifier
from gateway.resolver.outcomes import Outcome, Resolution, ResolutionError
from gateway.resolver.routing import Routed, spellings

log = logging.getLogger("gateway.resolver.asking")
ANSWER_MARGIN = 0.03
"""Seconds before the request's deadline at which a fan-out stops waiting for members, so that a holder found by
then is still answered within the deadline (rather than lost to the request's own timeout)."""


def unhealthy_retry_after(directory: Directory) -> int:
    """Seconds to suggest before asking again while a member is marked unhealthy: one health interval (the
    soonest its probe can clear it), within 1..60."""
    return max(1, min(60, math.ceil(directory.health.config.interval)))


async def records(
    adapter: MemberAdapter, ids: list[str], deadline: Deadline, *, single: bool
) -> dict[str, MemberRecord]:
    """The records the member has among ``ids``, keyed by the id as asked: one bulk call (chunked by the
    adapter), or for the one id of a ``single`` batch one single-record call."""
    if single and len(ids) == 1:
        record = await adapter.get_record(ids[0], deadline)
        return {} if record is None else {ids[0]: record}
    return await adapter.get_records(ids, deadline)


async def ask_owner(
    directory: Directory, member: Member, items: list[tuple[str, Routed]], deadline: Deadline, *, single: bool,
    out: dict[str, Outcome], coalescer: Coalescer | None = None,
) -> None:
    """Each id routed to ``member`` → its outcome in ``out``. With a ``coalescer``, the one id of a ``single``
    batch queues with the member's other lookups while its calls are busy (:mod:`.coalescing`)."""
    adapter = directory.adapter(member)
    one_call = partial(records, adapter, single=True)

    async def ask(ids: list[str]) -> dict[str, MemberRecord]:
        if coalescer is not None and single and len(ids) == 1:
            record = await coalescer.record(member.id, one_call, ids[0], deadline, where=member.base_url)
            return {} if record is None else {ids[0]: record}
        return await records(adapter, ids, deadline, single=single)

    wanted = [routed.ident.object_id for _, routed in items]
    try:
        found = await ask(wanted)
        retry = {alt: object_id for object_id, (_, routed) in zip(wanted, items, strict=True) if object_id not in found
                 for alt in spellings(routed.ident)[1:]}
        if retry:
            again = await ask(list(retry))
            found.update({retry[alt]: record for alt, record in again.items()})
    except UpstreamError as exc:
        error = ResolutionError.upstream(member.id, exc)
        out.update((raw, error) for raw, _ in items)
        return
    for object_id, (raw, routed) in zip(wanted, items, strict=True):
        record = found.get(object_id)
        out[raw] = (Resolution(routed.ident, member, record, routed.route) if record is not None
                    else ResolutionError(404, f"{object_id} is not in member commons {member.id}"))


async def ask_everyone(
    directory: Directory, items: list[tuple[str, Identifier]], deadline: Deadline, *, single: bool,
    concurrency: int, out: dict[str, Outcome],
) -> None:
    """Each id with no route → its outcome in ``out`` (recorded even when cancelled at the deadline)."""
    routes = await directory.routes()
    owners = routes.by_prefix
    candidates = await directory.candidates()
    left_out = sorted(set(routes.members) - {m.id for m in candidates})
    retry_after = unhealthy_retry_after(directory)
    if not candidates:
        out.update((raw, unasked(ident.object_id, 0, left_out, retry_after) if left_out else
                    ResolutionError(404, "no active member commons to ask")) for raw, ident in items)
        return
    wanted = list(dict.fromkeys(ident.object_id for _, ident in items))
    until = Deadline(deadline.at - ANSWER_MARGIN)
    answers: Answers = {}
    broken: list[str] = []
    gate = asyncio.Semaphore(concurrency)

    async def lookup(member: Member) -> None:
        async with gate:
            try:
                answers[member.id] = await records(directory.adapter(member), wanted, until, single=single)
            except UpstreamError as exc:
                answers[member.id] = exc
            except Exception:  # a bug in an adapter: that member failed, the others still count
                log.warning("member lookup failed", extra={"member_id": member.id}, exc_info=True)
                broken.append(member.id)

    lies: list[Lie] = []
    current().fanout("resolve", len(candidates))
    try:
        await run_until([lookup(m) for m in candidates], until)
    finally:
        vetted, lies = vet(candidates, answers, owners)
        out.update(everyone_outcomes(candidates, vetted, broken, items, left_out, retry_after))
    await _report(directory, lies)


async def _report(directory: Directory, lies: list[Lie]) -> None:
    """Log the refused records and count them against their members' health: one warning and one health event per
    member and fan-out (a member lying about a thousand ids costs one store write)."""
    per_member: dict[str, list[Lie]] = defaultdict(list)
    for lie in lies:
        per_member[lie.member_id].append(lie)
    for member_id, theirs in per_member.items():
        first = theirs[0]
        log.warning("member commons answered for an id it does not hold under its own name; record refused",
                    extra={"member_id": member_id, "asked": first.asked, "did": first.did, "refused": len(theirs)})
        detail = f"refused {len(theirs)} record(s): {first.reason}"
        try:
            await directory.health.record_lie(member_id, detail)
        except Exception:  # the store is down: the answer stands, the warning above was logged
            log.warning("could not record a refused record in the member's health", extra={"member_id": member_id},
                        exc_info=True)
