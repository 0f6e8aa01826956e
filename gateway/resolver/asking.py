"""Asking members for a batch of ids: each member at most once per chunk of ids (plus once more for the ids it
lacks in the spelling given), members concurrently.

- :func:`ask_owner`: the ids routed to one member, in one call; the ids it lacks asked again in Gen3's
  conventional prefix spelling (:func:`~gateway.resolver.routing.spellings`), in one more call. The member's
  failure fails its ids, with its status.
- :func:`ask_everyone`: the ids with no route, asked of every active, healthy member at once, at most
  ``concurrency`` members at a time (:func:`~gateway.core.concurrency.first_hit`, done as soon as every id has
  been found). Each id goes to the first member in registry order that has it; else 504 when a member timed
  out or had not answered by the deadline, 502 when one failed, 404 when every member answered without it.

The call a member gets is its bulk call (which its adapter splits into chunks), except in a batch of one id:
then its single-record call, the cheaper of the two for one id. What a member answered before the deadline
counts even when the batch is cut short there.
"""

from __future__ import annotations

from typing import Literal

from gateway.core.concurrency import FanoutResult, first_hit
from gateway.core.deadline import Deadline
from gateway.core.errors import MemberTimeout, UpstreamError
from gateway.core.member import Member
from gateway.core.records import MemberRecord
from gateway.members.protocols import MemberAdapter
from gateway.registry.directory import Directory
from gateway.resolver.identifiers import Identifier
from gateway.resolver.outcomes import Outcome, Resolution, ResolutionError
from gateway.resolver.routing import Routed, spellings

Answers = dict[str, dict[str, MemberRecord] | UpstreamError]
"""Per member id: the records it has among those asked, or how it failed."""


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
    out: dict[str, Outcome],
) -> None:
    """Each id routed to ``member`` → its outcome in ``out``."""
    adapter = directory.adapter(member)
    try:
        found = await records(adapter, [routed.ident.object_id for _, routed in items], deadline, single=single)
        retry = {alt: routed.ident.object_id for _, routed in items if routed.ident.object_id not in found
                 for alt in spellings(routed.ident)[1:]}
        if retry:
            again = await records(adapter, list(retry), deadline, single=single)
            found.update({retry[alt]: record for alt, record in again.items()})
    except UpstreamError as exc:
        error = ResolutionError.upstream(member.id, exc)
        out.update((raw, error) for raw, _ in items)
        return
    for raw, routed in items:
        record = found.get(routed.ident.object_id)
        out[raw] = (Resolution(routed.ident, member, record, routed.route) if record is not None
                    else ResolutionError(404, f"{routed.ident.object_id} is not in member commons {member.id}"))


async def ask_everyone(
    directory: Directory, items: list[tuple[str, Identifier]], deadline: Deadline, *, single: bool,
    concurrency: int, out: dict[str, Outcome],
) -> None:
    """Each id with no route → its outcome in ``out`` (recorded even when cancelled at the deadline)."""
    candidates = await directory.candidates()
    if not candidates:
        error = ResolutionError(404, "no active, healthy member commons to ask")
        out.update((raw, error) for raw, _ in items)
        return
    wanted = list(dict.fromkeys(ident.object_id for _, ident in items))
    answers: Answers = {}

    async def lookup(member: Member) -> Literal[True] | None:
        """``True`` once every id has been found (which ends the fan-out)."""
        try:
            answers[member.id] = await records(directory.adapter(member), wanted, deadline, single=single)
        except UpstreamError as exc:
            answers[member.id] = exc
            return None
        found = {i for a in answers.values() if isinstance(a, dict) for i in a}
        return True if found.issuperset(wanted) else None

    result: FanoutResult[Member, Literal[True]] | None = None
    try:
        result = await first_hit(candidates, lookup, concurrency=concurrency, deadline=deadline)
    finally:
        broken = [m.id for m, _ in result.failures] if result is not None else []
        out.update(everyone_outcomes(candidates, answers, broken, items))


def everyone_outcomes(
    candidates: list[Member], answers: Answers, broken: list[str], items: list[tuple[str, Identifier]]
) -> dict[str, Outcome]:
    """Each id: the first member in registry order that has it; else 504 if a member timed out or never
    answered, 502 if one failed (``broken``: raised something other than an upstream error), 404 if all
    answered without it."""
    failed = sorted([m for m, a in answers.items() if isinstance(a, UpstreamError)] + broken)
    silent = sorted(m.id for m in candidates if m.id not in answers and m.id not in broken)
    timed_out = bool(silent) or any(isinstance(a, MemberTimeout) for a in answers.values())
    out: dict[str, Outcome] = {}
    for raw, ident in items:
        hit = next(((m, a[ident.object_id]) for m in candidates
                    if isinstance(a := answers.get(m.id), dict) and ident.object_id in a), None)
        if hit is not None:
            out[raw] = Resolution(ident, hit[0], hit[1], "fanout")
        elif timed_out:
            out[raw] = ResolutionError(504, f"{ident.object_id}: not found before the deadline; members still "
                                            f"answering or failed: {', '.join(silent + failed)}")
        elif failed:
            out[raw] = ResolutionError(502, f"{ident.object_id} was not found, but these members failed: "
                                            f"{', '.join(failed)}")
        else:
            out[raw] = ResolutionError(404, f"{ident.object_id} is in none of the {len(candidates)} member "
                                            "commons asked")
    return out
