"""Who holds an id no route decides (a bare UUID, an opaque id): the rule a lying member cannot win (pure).

No prefix and no DRS hostname names the owner of such an id, so every active, healthy member is asked
(:func:`gateway.resolver.asking.ask_everyone`) and **every answer is waited for**, until the deadline: no member wins
by answering first. Then, for each id:

1. **A record must name the id asked** (:func:`refusal`). A member's record is accepted when its id is the id asked
   or ``<prefix>/<id asked>`` with a prefix that member itself owns (the registry's routes say who owns a prefix).
   A record under a prefix registered to another member, or with any other id, is refused: logged (warning: the
   member, the id asked, the id it answered with) and counted against the member's health (a ``lied`` event,
   :meth:`gateway.registry.health.HealthMonitor.record_lie`); the member counts as having answered without it.
2. **One holder** → that member. It is *established* as the id's only holder when every active member was asked
   and answered; when some failed, had not answered by the deadline, or were left out as unhealthy (one of them may
   be the real holder) the id is still answered (availability), but not established: it
   is cached only as long as a miss, and a caller's credentials are not sent to it
   (:attr:`~gateway.resolver.outcomes.Resolution.owner_known`).
3. **Several holders** → the id is **ambiguous**: 409 listing each candidate (:class:`Candidate`: the member, the full
   id it answered with, and a ``drs://`` URI naming that member's copy when one can be formed, :func:`drs_uri`).
   Never a silent pick: the caller chooses, by asking for the URI it trusts.
4. **No holder** → 504 when a member timed out or never answered, 502 when one failed, 503 (with ``Retry-After``,
   naming them) when an active member was not asked because it is marked unhealthy — it may hold the id, so the
   answer is not definitive — else 404: **not found is said only when every active member answered**. Only the
   404 (and the 409) are remembered as misses; a 503 is never cached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from gateway.core.errors import MemberTimeout, UpstreamError
from gateway.core.member import PREFIX_RE, Member
from gateway.core.records import MemberRecord
from gateway.resolver.identifiers import Identifier
from gateway.resolver.outcomes import Candidate, Outcome, Resolution, ResolutionError

Answers = dict[str, dict[str, MemberRecord] | UpstreamError]
"""Per member id: the records it has among those asked (keyed by the id as asked), or how it failed."""


@dataclass(frozen=True, slots=True)
class Lie:
    """A record a member answered with for an id it does not hold under its own name."""

    member_id: str
    asked: str
    did: str
    reason: str


def _prefix_of(did: str, asked: str) -> str | None:
    """``P`` when ``did`` is ``P/<asked>`` (``asked`` compared without regard to case) and ``P`` is a prefix."""
    if len(did) <= len(asked) + 1 or not did.lower().endswith("/" + asked.lower()):
        return None
    head = did[: len(did) - len(asked) - 1]
    return head if PREFIX_RE.match(head.lower()) else None


def refusal(asked: str, did: str, member: Member, owners: Mapping[str, Member]) -> str | None:
    """Why ``member``'s record ``did`` for the id ``asked`` is refused; ``None`` when it is accepted: ``did`` is
    ``asked`` itself, or ``<prefix>/<asked>`` with a prefix ``owners`` (lower-case prefix → owner) gives to
    ``member``. The reason names no id (it is shown in the member's public health record; the log has the ids)."""
    if did.lower() == asked.lower():
        return None
    prefix = _prefix_of(did, asked)
    if prefix is None:
        return "a record of another id than the one asked"
    owner = owners.get(prefix.lower())
    if owner is not None and owner.id == member.id:
        return None
    if owner is not None:
        return f"a record under the prefix {prefix.lower()} of member commons {owner.id}"
    return f"a record under the prefix {prefix.lower()}, which it does not own"


def drs_uri(member: Member, did: str) -> str | None:
    """A ``drs://`` URI the gateway routes to ``member`` for its record ``did``: the compact ``drs://<prefix>:<id>``
    when ``did`` carries one of the member's prefixes, else ``drs://<its first DRS hostname>/<did>``; ``None`` when
    neither exists (the member has no hostname and the id no prefix of its own)."""
    head, sep, accession = did.partition("/")
    if sep and accession and head.lower() in member.prefixes:
        return f"drs://{head}:{accession}"
    if member.hostnames:
        return f"drs://{member.hostnames[0]}/{quote(did, safe='')}"
    return None


def vet(candidates: Sequence[Member], answers: Answers, owners: Mapping[str, Member]) -> tuple[Answers, list[Lie]]:
    """``answers`` without the records :func:`refusal` refuses, and the refused ones."""
    members = {m.id: m for m in candidates}
    kept: Answers = {}
    lies: list[Lie] = []
    for member_id, answer in answers.items():
        if isinstance(answer, UpstreamError) or member_id not in members:
            kept[member_id] = answer
            continue
        accepted: dict[str, MemberRecord] = {}
        for asked, record in answer.items():
            reason = refusal(asked, record.id, members[member_id], owners)
            if reason is None:
                accepted[asked] = record
            else:
                lies.append(Lie(member_id, asked, record.id, reason))
        kept[member_id] = accepted
    return kept, lies


def everyone_outcomes(
    candidates: list[Member], answers: Answers, broken: list[str], items: list[tuple[str, Identifier]],
    left_out: Sequence[str] = (), retry_after: int = 30,
) -> dict[str, Outcome]:
    """Each id's outcome from the (vetted) ``answers`` of ``candidates`` (``broken``: members whose lookup raised
    something other than an upstream error; ``left_out``: active members not asked, being marked unhealthy): its one
    holder (established when every active member was asked and answered), the 409 of an ambiguous id, else 504 if
    a member timed out or never answered, 502 if one failed, 503 (``retry_after``) if a member was left out, 404
    if all answered without it."""
    failed = sorted([m for m, a in answers.items() if isinstance(a, UpstreamError)] + broken)
    silent = sorted(m.id for m in candidates if m.id not in answers and m.id not in broken)
    timed_out = bool(silent) or any(isinstance(a, MemberTimeout) for a in answers.values())
    everyone = not failed and not silent and not left_out  # a member left out unasked may be the real holder
    out: dict[str, Outcome] = {}
    for raw, ident in items:
        oid = ident.object_id
        holders = [(m, a[oid]) for m in candidates if isinstance(a := answers.get(m.id), dict) and oid in a]
        if len(holders) == 1:
            member, record = holders[0]
            out[raw] = Resolution(ident, member, record, "fanout", established=everyone)
        elif holders:
            named = tuple(Candidate(m.id, r.id, drs_uri(m, r.id)) for m, r in holders)
            out[raw] = ResolutionError(
                409, f"{oid} is held by {len(named)} member commons ({', '.join(c.member_id for c in named)}); "
                     "ask for one of them by its drs:// URI (or its full id)", candidates=named)
        elif timed_out:
            out[raw] = ResolutionError(504, f"{oid}: not found before the deadline; members still "
                                            f"answering or failed: {', '.join(silent + failed)}")
        elif failed:
            out[raw] = ResolutionError(502, f"{oid} was not found, but these members failed: {', '.join(failed)}")
        elif left_out:
            out[raw] = unasked(oid, len(candidates), left_out, retry_after)
        else:
            out[raw] = ResolutionError(404, f"{oid} is in none of the {len(candidates)} member commons asked")
    return out


def unasked(oid: str, asked: int, left_out: Sequence[str], retry_after: int) -> ResolutionError:
    """The 503 for an id no member asked holds while ``left_out`` (marked unhealthy) were not asked: not a
    definitive not-found."""
    return ResolutionError(
        503, f"{oid} is in none of the {asked} member commons asked, but {len(left_out)} marked unhealthy were not "
             f"asked and may hold it: {', '.join(left_out)}; try again later", retry_after=retry_after)
