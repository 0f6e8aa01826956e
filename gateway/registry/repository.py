"""The durable registry: member records over the :class:`~gateway.store.base.Store`, shared by every replica.

Layout (namespaces of the store):

* ``registry.members/<id>``: the member (:meth:`Member.to_doc`, secrets included; never rendered);
* ``registry.prefixes/<prefix>`` and ``registry.hostnames/<host[:port]>``: ownership claims,
  ``{"member_id", "at"}``, each written create-only so two members can never own the same key. Only an admitted
  member (active or suspended: :func:`gateway.registry.approval.holds_claims`) holds claims; a pending join only
  *asks* for the keys its record lists, claims nothing, and so never blocks anyone: several pending joins may ask
  for one prefix, and whoever an admin approves first claims it (the others' approvals then fail, naming it);
* ``registry.meta/version``: a document rewritten on every change; its revision is the registry version,
  so replicas and caches notice a change with one cheap read;
* log ``registry.audit``: ``{at, actor, action, member_id, before?, after?, detail?}`` (public forms only).

Concurrency: a create of an admitted member claims every key it needs (sorted, so writers never wait on each
other in a cycle), then creates the member create-only (the commit point); if anything conflicts it releases
exactly the claims it wrote (by revision) and raises :class:`RegistryConflict` naming the owner. Updates claim the
keys the new record holds and the old one did not (all of them when an approval admits a pending member), write the
member with ``expect_rev`` (the commit point) and then release the keys it no longer holds. Every claim is one
create-only (or revision-conditional) write of the store, atomic on every backend, so two approvals racing for a
key on two replicas have exactly one winner. A claim left by a crashed writer (its member missing, pending, or not
listing it) is taken over after :data:`STALE_CLAIM_SECONDS`.

Expiry: a pending join older than ``pending_ttl`` seconds (from its ``created``) is gone. The first read or write
that meets it removes it with a delete conditional on the revision it read, so with several replicas exactly one
removes it and writes the ``expired`` audit entry (actor ``expiry``); everyone else simply no longer sees it. No
background job is needed: an expired join is never listed, routed (it never was) or approved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from gateway.core.member import Member, Status
from gateway.registry.approval import holds_claims, needs_acknowledgement, refusal_without_acknowledgement
from gateway.store.base import ABSENT, Conflict, LogEntry, Store, Stored

log = logging.getLogger("gateway.registry.repository")

NS_MEMBERS = "registry.members"
NS_PREFIXES = "registry.prefixes"
NS_HOSTNAMES = "registry.hostnames"
NS_META = "registry.meta"
NS_HEALTH = "gateway.registry.health"
VERSION_KEY = "version"
AUDIT_LOG = "registry.audit"
EXPIRY_ACTOR = "expiry"
STALE_CLAIM_SECONDS = 30.0
"""A claim whose member does not list it is someone's in-flight write for this long, then debris."""
_RETRIES = 5
_UPDATE_RETRIES = 25
_PAGE = 500

ClaimKind = Literal["prefix", "hostname"]
_CLAIM_NS: dict[ClaimKind, str] = {"prefix": NS_PREFIXES, "hostname": NS_HOSTNAMES}


def utc_now() -> str:
    """Now, RFC 3339 UTC with milliseconds."""
    return rfc3339(time.time())


class RegistryError(Exception):
    """Base of registry failures; ``str()`` is a message fit for clients."""


class MemberNotFound(RegistryError):
    def __init__(self, member_id: str) -> None:
        super().__init__(f"no member commons {member_id!r}")
        self.member_id = member_id


class RegistryConflict(RegistryError):
    """A prefix, hostname or id is owned by another member, or the record changed under us."""

    def __init__(self, message: str, *, what: str = "", value: str = "", owner: str | None = None) -> None:
        super().__init__(message)
        self.what = what
        self.value = value
        self.owner = owner


class InvalidTransition(RegistryError):
    """A status change the lifecycle does not allow."""


class AcknowledgementRequired(RegistryError):
    """An approval that would send callers' credentials to the member, without the admin accepting it."""


@dataclass(frozen=True, slots=True)
class _Claim:
    kind: ClaimKind
    value: str
    rev: int


def _owned(member: Member, kind: ClaimKind) -> tuple[str, ...]:
    return member.prefixes if kind == "prefix" else member.hostnames


def _keys(member: Member) -> list[tuple[ClaimKind, str]]:
    """Every key ``member`` lists, in the global claim order (prefixes, then hostnames, each sorted)."""
    return [("prefix", p) for p in sorted(set(member.prefixes))] + [
        ("hostname", h) for h in sorted(set(member.hostnames))
    ]


def _claimed(member: Member | None) -> list[tuple[ClaimKind, str]]:
    """The keys ``member`` holds claims on: all it lists when admitted, none while pending (or absent)."""
    return _keys(member) if member is not None and holds_claims(member) else []


def _holds(member: Member | None, kind: ClaimKind, value: str) -> bool:
    return member is not None and holds_claims(member) and value in _owned(member, kind)


def created_epoch(member: Member) -> float | None:
    """``member.created`` as seconds since the epoch (``None`` when missing or unreadable)."""
    try:
        return datetime.fromisoformat(member.created).timestamp() if member.created else None
    except ValueError:
        return None


def expires_at(member: Member, pending_ttl: float | None) -> float | None:
    """When a pending join expires (epoch seconds); ``None`` for admitted members or without a TTL."""
    created = created_epoch(member)
    if member.status != Status.pending or pending_ttl is None or created is None:
        return None
    return created + pending_ttl


def rfc3339(epoch: float) -> str:
    """Epoch seconds as RFC 3339 UTC with milliseconds (the form of :func:`utc_now`)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch % 1 * 1000):03d}Z"


def same_record(a: Member, b: Member) -> bool:
    """Equal but for lifecycle and bookkeeping fields (status, source, times) and what the member was found to offer
    (the prober's finding, not a declaration)."""
    keep = {"status": Status.pending, "source": "api", "created": "", "updated": "", "capabilities": None}
    return replace(a, **keep) == replace(b, **keep)  # type: ignore[arg-type]


class RegistryRepository:
    """Members, their ownership claims, the version counter and the audit log, over one store."""

    def __init__(
        self, store: Store, *, clock: Callable[[], str] = utc_now, pending_ttl: float | None = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.clock = clock
        self.pending_ttl = pending_ttl
        """Seconds a pending join lives (``None``: forever)."""
        self.now = now
        self.local_changes = 0
        """Changes written through this process: a reader here may skip its recheck interval when it moved (other
        replicas' changes are seen within that interval)."""

    # --- reading ------------------------------------------------------------------------------------

    async def get(self, member_id: str) -> Member | None:
        found = await self.store.get(NS_MEMBERS, member_id)
        return await self._live(found) if found else None

    async def require(self, member_id: str) -> Member:
        member = await self.get(member_id)
        if member is None:
            raise MemberNotFound(member_id)
        return member

    async def members(self, status: Status | None = None) -> list[Member]:
        """Every member (in id order), optionally only those with ``status``; expired pending joins are not."""
        out: list[Member] = []
        after = ""
        while True:
            page = await self.store.scan(NS_MEMBERS, after=after, limit=_PAGE)
            for stored in page:
                member = await self._live(stored)
                if member is not None and (status is None or member.status == status):
                    out.append(member)
            if len(page) < _PAGE:
                return out
            after = page[-1].key

    async def version(self) -> int:
        """Grows on every change of any member (0 for a registry never written)."""
        found = await self.store.get(NS_META, VERSION_KEY)
        return found.rev if found else 0

    async def owner(self, kind: ClaimKind, value: str) -> str | None:
        """The member id holding the claim on a normalised prefix or hostname, if any."""
        found = await self.store.get(_CLAIM_NS[kind], value)
        return str(found.doc.get("member_id")) if found else None

    async def audit(self, *, after: str | None = None, limit: int = 100) -> list[LogEntry]:
        return await self.store.read_log(AUDIT_LOG, after=after, limit=limit)

    def expires(self, member: Member) -> str | None:
        """When ``member`` expires if it stays pending (RFC 3339), ``None`` if it never does."""
        at = expires_at(member, self.pending_ttl)
        return rfc3339(at) if at is not None else None

    async def precheck(self, candidate: Member) -> None:
        """Raise :class:`RegistryConflict` if the id is taken, or a key is visibly held by an admitted member (not
        atomic: a fast refusal before probing a candidate; the approval decides for real). Pending joins asking for
        the same keys are no conflict."""
        found = await self.store.get(NS_MEMBERS, candidate.id)
        if found is not None and await self._live(found) is not None:
            raise RegistryConflict(
                f"member id {candidate.id!r} is already registered", what="id", value=candidate.id,
                owner=candidate.id,
            )
        for kind, value in _keys(candidate):
            claim = await self.store.get(_CLAIM_NS[kind], value)
            if claim is not None and not await self._is_debris(kind, value, claim):
                raise _owned_by(kind, value, str(claim.doc.get("member_id")))

    # --- writing ------------------------------------------------------------------------------------

    async def create(self, member: Member, *, actor: str, detail: dict[str, Any] | None = None) -> Member:
        """Register ``member`` (its ``created``/``updated`` set now) or raise :class:`RegistryConflict`. A pending
        member claims nothing; an admitted one (declared in the configuration) claims every key it lists."""
        now = self.clock()
        member = replace(member, created=now, updated=now)
        taken: list[_Claim] = []
        try:
            for kind, value in _claimed(member):
                taken.append(await self._claim(kind, value, member.id, creating=True))
            await self._put_new(member)
        except BaseException:
            await self._release(taken, keep=None)
            raise
        await self._changed(actor, "create", member.id, before=None, after=member, detail=detail)
        return member

    async def _put_new(self, member: Member) -> None:
        """Write ``member`` create-only; an expired pending join holding the id is removed first."""
        for _ in range(2):
            try:
                await self.store.put(NS_MEMBERS, member.id, member.to_doc(), expect_rev=ABSENT)
                return
            except Conflict:
                found = await self.store.get(NS_MEMBERS, member.id)
                if found is not None and await self._live(found) is not None:
                    break
        raise RegistryConflict(
            f"member id {member.id!r} is already registered", what="id", value=member.id, owner=member.id
        )

    async def update(
        self, member_id: str, change: Callable[[Member], Member], *, actor: str, action: str = "update"
    ) -> Member:
        """Apply ``change`` to the current record and write it; keys the new record holds and the old one did not
        are claimed (every key, when an approval admits a pending member), keys it no longer holds released.
        Retries when another writer got in between; :class:`RegistryConflict` on a key another member holds."""
        for attempt in range(_UPDATE_RETRIES):
            if attempt:  # lost a race: back off a little, jittered, so contenders spread out
                await asyncio.sleep(random.uniform(0, 0.005 * min(attempt, 10)))
            found = await self.store.get(NS_MEMBERS, member_id)
            before = await self._live(found) if found is not None else None
            if found is None or before is None:
                raise MemberNotFound(member_id)
            after = change(before)
            if after == before:
                return before
            after = replace(after, id=before.id, created=before.created, updated=self.clock())
            held = set(_claimed(before))
            added = [k for k in _claimed(after) if k not in held]
            taken: list[_Claim] = []
            try:
                for kind, value in added:
                    taken.append(await self._claim(kind, value, member_id, creating=False))
                await self.store.put(NS_MEMBERS, member_id, after.to_doc(), expect_rev=found.rev)
            except Conflict as exc:
                await self._release(taken, keep=member_id)
                if exc.namespace != NS_MEMBERS:
                    raise
                continue  # someone else wrote the member: start over from their version
            except BaseException:
                await self._release(taken, keep=member_id)
                raise
            kept = set(_claimed(after))
            await self._release_owned([k for k in _claimed(before) if k not in kept], member_id, after)
            await self._changed(actor, action, member_id, before=before, after=after)
            return after
        raise RegistryConflict(f"member {member_id!r} is being changed concurrently; try again")

    async def set_status(self, member_id: str, status: Status, *, actor: str, allowed_from: set[Status]) -> Member:
        """Move to ``status`` from one of ``allowed_from`` (already there: unchanged, no audit entry). Leaving
        ``pending`` admits the member: it claims every key it asked for, or nothing (409 naming the holder)."""

        def change(member: Member) -> Member:
            if member.status == status:
                return member
            if member.status not in allowed_from:
                raise InvalidTransition(f"member {member_id!r} is {member.status.value}; cannot become {status.value}")
            return replace(member, status=status)

        return await self.update(member_id, change, actor=actor, action=status.value)

    async def approve(self, member_id: str, *, actor: str, accepted_forwarding: bool) -> Member:
        """Make the member active (from pending or suspended; already active: unchanged). A member that would be
        sent callers' credentials needs ``accepted_forwarding`` (:class:`AcknowledgementRequired` otherwise),
        decided on the very record that is written."""

        def change(member: Member) -> Member:
            if member.status == Status.active:
                return member
            if needs_acknowledgement(member) and not accepted_forwarding:
                raise AcknowledgementRequired(refusal_without_acknowledgement(member))
            return replace(member, status=Status.active)

        return await self.update(member_id, change, actor=actor, action=Status.active.value)

    async def remove(self, member_id: str, *, actor: str) -> Member:
        """Delete the member and free everything it owned."""
        for _ in range(_RETRIES):
            found = await self.store.get(NS_MEMBERS, member_id)
            if found is None:
                raise MemberNotFound(member_id)
            try:
                await self.store.delete(NS_MEMBERS, member_id, expect_rev=found.rev)
            except Conflict:
                continue
            before = Member.from_doc(found.doc)
            await self._release_owned(_keys(before), member_id, None)
            await self.store.delete(NS_HEALTH, member_id)
            await self._changed(actor, "remove", member_id, before=before, after=None)
            return before
        raise RegistryConflict(f"member {member_id!r} is being changed concurrently; try again")

    async def note(self, actor: str, action: str, fields: dict[str, Any]) -> None:
        """Append an audit entry about something other than a member (e.g. ``admin.add``); no version bump."""
        await self.store.append(AUDIT_LOG, {"at": self.clock(), "actor": actor, "action": action, **fields})

    # --- expiry -----------------------------------------------------------------------------------------

    async def _live(self, found: Stored) -> Member | None:
        """The member ``found`` holds, or ``None`` when it is a pending join past its time (then removed)."""
        member = Member.from_doc(found.doc)
        at = expires_at(member, self.pending_ttl)
        if at is None or self.now() < at:
            return member
        try:  # conditional on what we read: an approval or a change meanwhile wins, and one replica removes it
            await self.store.delete(NS_MEMBERS, found.key, expect_rev=found.rev)
        except Conflict:
            return None
        await self._changed(EXPIRY_ACTOR, "expired", member.id, before=member, after=None,
                            detail={"pending_ttl": self.pending_ttl})
        return None

    # --- claims ----------------------------------------------------------------------------------------

    async def _claim(self, kind: ClaimKind, value: str, member_id: str, *, creating: bool) -> _Claim:
        """Write the claim on ``value`` for ``member_id`` (always a write of ours, so a rival's release by
        revision can never remove it) or raise :class:`RegistryConflict` naming the owner."""
        ns = _CLAIM_NS[kind]
        doc = {"member_id": member_id, "at": time.time()}
        for _ in range(_RETRIES):
            try:
                return _Claim(kind, value, await self.store.put(ns, value, doc, expect_rev=ABSENT))
            except Conflict:
                pass
            current = await self.store.get(ns, value)
            if current is None:
                continue  # released meanwhile: try creating again
            owner = str(current.doc.get("member_id"))
            mine = owner == member_id and not creating
            if not mine and not await self._is_debris(kind, value, current):
                raise _owned_by(kind, value, owner)
            try:
                return _Claim(kind, value, await self.store.put(ns, value, doc, expect_rev=current.rev))
            except Conflict:
                continue
        raise RegistryConflict(f"{kind} {value} is being claimed concurrently; try again", what=kind, value=value)

    async def _is_debris(self, kind: ClaimKind, value: str, claim: Stored) -> bool:
        """A claim no admitted member stands behind (a writer crashed between claim and commit), and old enough."""
        if time.time() - float(claim.doc.get("at", 0)) < STALE_CLAIM_SECONDS:
            return False
        return not _holds(await self.get(str(claim.doc.get("member_id"))), kind, value)

    async def _release(self, claims: list[_Claim], *, keep: str | None) -> None:
        """Undo claims we wrote, unless someone rewrote them since or the committed member ``keep`` holds
        them (a concurrent update of the same member that won)."""
        current = await self.get(keep) if keep and claims else None
        for claim in claims:
            if _holds(current, claim.kind, claim.value):
                continue
            try:
                await self.store.delete(_CLAIM_NS[claim.kind], claim.value, expect_rev=claim.rev)
            except Conflict:
                pass  # taken over or re-claimed since: no longer ours to release
            except Exception:
                log.warning("could not release claim", extra={"kind": claim.kind, "value": claim.value})

    async def _release_owned(self, keys: list[tuple[ClaimKind, str]], member_id: str, now: Member | None) -> None:
        """Free claims ``member_id`` holds on ``keys`` that its committed record ``now`` does not hold."""
        for kind, value in keys:
            if _holds(now, kind, value):
                continue
            found = await self.store.get(_CLAIM_NS[kind], value)
            if found is None or found.doc.get("member_id") != member_id:
                continue
            with contextlib.suppress(Conflict):
                await self.store.delete(_CLAIM_NS[kind], value, expect_rev=found.rev)

    # --- bookkeeping -----------------------------------------------------------------------------------

    async def _changed(
        self, actor: str, action: str, member_id: str, *, before: Member | None, after: Member | None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """Bump the version and append the audit entry (public forms only: no secret ever reaches the log)."""
        at = self.clock()
        await self.store.put(NS_META, VERSION_KEY, {"at": at, "member_id": member_id})
        self.local_changes += 1
        entry: dict[str, Any] = {"at": at, "actor": actor, "action": action, "member_id": member_id}
        if before is not None:
            entry["before"] = before.public()
        if after is not None:
            entry["after"] = after.public()
        if detail:
            entry["detail"] = detail
        await self.store.append(AUDIT_LOG, entry)


def _owned_by(kind: ClaimKind, value: str, owner: str) -> RegistryConflict:
    return RegistryConflict(f"{kind} {value} is already owned by member {owner!r}", what=kind, value=value,
                            owner=owner)


__all__ = [
    "AUDIT_LOG", "EXPIRY_ACTOR", "NS_HEALTH", "NS_HOSTNAMES", "NS_MEMBERS", "NS_META", "NS_PREFIXES",
    "AcknowledgementRequired", "InvalidTransition", "MemberNotFound", "RegistryConflict", "RegistryError",
    "RegistryRepository", "created_epoch", "expires_at", "rfc3339", "same_record", "utc_now",
]
