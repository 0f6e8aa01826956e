"""The durable registry: member records over the :class:`~gateway.store.base.Store`, shared by every replica.

Layout (namespaces of the store):

* ``registry.members/<id>``: the member (:meth:`Member.to_doc`, secrets included; never rendered);
* ``registry.prefixes/<prefix>`` and ``registry.hostnames/<host[:port]>``: ownership claims,
  ``{"member_id", "at"}``, each written create-only so two members can never own the same key;
* ``registry.meta/version``: a document rewritten on every change; its revision is the registry version,
  so replicas and caches notice a change with one cheap read;
* log ``registry.audit``: ``{at, actor, action, member_id, before?, after?, detail?}`` (public forms only).

Concurrency: a create claims every key it needs (sorted, so joins never wait on each other in a cycle),
then creates the member create-only (the commit point); if anything conflicts it releases exactly the
claims it wrote (by revision) and raises :class:`RegistryConflict` naming the owner. Updates re-claim the
keys they add, write the member with ``expect_rev`` and then release the keys they dropped. A claim left by
a crashed writer (its member missing or not listing it) is taken over after :data:`STALE_CLAIM_SECONDS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from gateway.core.member import Member, Status
from gateway.store.base import ABSENT, Conflict, LogEntry, Store, Stored

log = logging.getLogger("gateway.registry.repository")

NS_MEMBERS = "registry.members"
NS_PREFIXES = "registry.prefixes"
NS_HOSTNAMES = "registry.hostnames"
NS_META = "registry.meta"
NS_HEALTH = "gateway.registry.health"
VERSION_KEY = "version"
AUDIT_LOG = "registry.audit"
STALE_CLAIM_SECONDS = 30.0
"""A claim whose member does not list it is someone's in-flight write for this long, then debris."""
_RETRIES = 5
_UPDATE_RETRIES = 25
_PAGE = 500

ClaimKind = Literal["prefix", "hostname"]
_CLAIM_NS: dict[ClaimKind, str] = {"prefix": NS_PREFIXES, "hostname": NS_HOSTNAMES}


def utc_now() -> str:
    """Now, RFC 3339 UTC with milliseconds."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


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


@dataclass(frozen=True, slots=True)
class _Claim:
    kind: ClaimKind
    value: str
    rev: int


def _owned(member: Member, kind: ClaimKind) -> tuple[str, ...]:
    return member.prefixes if kind == "prefix" else member.hostnames


def _keys(member: Member) -> list[tuple[ClaimKind, str]]:
    """Every key ``member`` owns, in the global claim order (prefixes, then hostnames, each sorted)."""
    return [("prefix", p) for p in sorted(set(member.prefixes))] + [
        ("hostname", h) for h in sorted(set(member.hostnames))
    ]


def same_record(a: Member, b: Member) -> bool:
    """Equal but for lifecycle and bookkeeping fields (status, source, times)."""
    keep = {"status": Status.pending, "source": "api", "created": "", "updated": ""}
    return replace(a, **keep) == replace(b, **keep)  # type: ignore[arg-type]


class RegistryRepository:
    """Members, their ownership claims, the version counter and the audit log, over one store."""

    def __init__(self, store: Store, *, clock: Callable[[], str] = utc_now) -> None:
        self.store = store
        self.clock = clock
        self.local_changes = 0
        """Changes written through this process: a reader here may skip its recheck interval when it moved (other
        replicas' changes are seen within that interval)."""

    # --- reading ------------------------------------------------------------------------------------

    async def get(self, member_id: str) -> Member | None:
        found = await self.store.get(NS_MEMBERS, member_id)
        return Member.from_doc(found.doc) if found else None

    async def require(self, member_id: str) -> Member:
        member = await self.get(member_id)
        if member is None:
            raise MemberNotFound(member_id)
        return member

    async def members(self, status: Status | None = None) -> list[Member]:
        """Every member (in id order), optionally only those with ``status``."""
        out: list[Member] = []
        after = ""
        while True:
            page = await self.store.scan(NS_MEMBERS, after=after, limit=_PAGE)
            for stored in page:
                member = Member.from_doc(stored.doc)
                if status is None or member.status == status:
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

    async def precheck(self, candidate: Member) -> None:
        """Raise :class:`RegistryConflict` if the id or any key is visibly taken (not atomic: a fast refusal
        before probing a candidate; :meth:`create` decides for real)."""
        if await self.store.get(NS_MEMBERS, candidate.id) is not None:
            raise RegistryConflict(
                f"member id {candidate.id!r} is already registered", what="id", value=candidate.id,
                owner=candidate.id,
            )
        for kind, value in _keys(candidate):
            owner = await self.owner(kind, value)
            if owner is not None:
                raise _owned_by(kind, value, owner)

    # --- writing ------------------------------------------------------------------------------------

    async def create(self, member: Member, *, actor: str, detail: dict[str, Any] | None = None) -> Member:
        """Register ``member`` (its ``created``/``updated`` set now) or raise :class:`RegistryConflict`."""
        now = self.clock()
        member = replace(member, created=now, updated=now)
        taken: list[_Claim] = []
        try:
            for kind, value in _keys(member):
                taken.append(await self._claim(kind, value, member.id, creating=True))
            try:
                await self.store.put(NS_MEMBERS, member.id, member.to_doc(), expect_rev=ABSENT)
            except Conflict:
                raise RegistryConflict(
                    f"member id {member.id!r} is already registered", what="id", value=member.id, owner=member.id
                ) from None
        except BaseException:
            await self._release(taken, keep=None)
            raise
        await self._changed(actor, "create", member.id, before=None, after=member, detail=detail)
        return member

    async def update(
        self, member_id: str, change: Callable[[Member], Member], *, actor: str, action: str = "update"
    ) -> Member:
        """Apply ``change`` to the current record and write it; keys it adds are claimed, keys it drops
        released. Retries when another writer got in between; :class:`RegistryConflict` on an owned key."""
        for attempt in range(_UPDATE_RETRIES):
            if attempt:  # lost a race: back off a little, jittered, so contenders spread out
                await asyncio.sleep(random.uniform(0, 0.005 * min(attempt, 10)))
            found = await self.store.get(NS_MEMBERS, member_id)
            if found is None:
                raise MemberNotFound(member_id)
            before = Member.from_doc(found.doc)
            after = change(before)
            if after == before:
                return before
            after = replace(after, id=before.id, created=before.created, updated=self.clock())
            added = [k for k in _keys(after) if k[1] not in _owned(before, k[0])]
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
            dropped = [k for k in _keys(before) if k[1] not in _owned(after, k[0])]
            await self._release_owned(dropped, member_id, after)
            await self._changed(actor, action, member_id, before=before, after=after)
            return after
        raise RegistryConflict(f"member {member_id!r} is being changed concurrently; try again")

    async def set_status(self, member_id: str, status: Status, *, actor: str, allowed_from: set[Status]) -> Member:
        """Move to ``status`` from one of ``allowed_from`` (already there: unchanged, no audit entry)."""

        def change(member: Member) -> Member:
            if member.status == status:
                return member
            if member.status not in allowed_from:
                raise InvalidTransition(f"member {member_id!r} is {member.status.value}; cannot become {status.value}")
            return replace(member, status=status)

        return await self.update(member_id, change, actor=actor, action=status.value)

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

    async def note(self, actor: str, action: str, member_id: str, detail: dict[str, Any]) -> None:
        """Append an audit entry for something that changed no member (e.g. a refused join): no version bump."""
        await self.store.append(AUDIT_LOG, {"at": self.clock(), "actor": actor, "action": action,
                                            "member_id": member_id, "detail": detail})

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
        """A claim no member stands behind (a writer crashed between claim and commit), and old enough."""
        if time.time() - float(claim.doc.get("at", 0)) < STALE_CLAIM_SECONDS:
            return False
        owner = await self.get(str(claim.doc.get("member_id")))
        return owner is None or value not in _owned(owner, kind)

    async def _release(self, claims: list[_Claim], *, keep: str | None) -> None:
        """Undo claims we wrote, unless someone rewrote them since or the committed member ``keep`` lists
        them (a concurrent update of the same member that won)."""
        current = await self.get(keep) if keep and claims else None
        for claim in claims:
            if current is not None and claim.value in _owned(current, claim.kind):
                continue
            try:
                await self.store.delete(_CLAIM_NS[claim.kind], claim.value, expect_rev=claim.rev)
            except Conflict:
                pass  # taken over or re-claimed since: no longer ours to release
            except Exception:
                log.warning("could not release claim", extra={"kind": claim.kind, "value": claim.value})

    async def _release_owned(self, keys: list[tuple[ClaimKind, str]], member_id: str, now: Member | None) -> None:
        """Free claims ``member_id`` holds on ``keys`` that its committed record ``now`` does not list."""
        for kind, value in keys:
            if now is not None and value in _owned(now, kind):
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
    "AUDIT_LOG", "NS_HEALTH", "NS_HOSTNAMES", "NS_MEMBERS", "NS_META", "NS_PREFIXES", "InvalidTransition",
    "MemberNotFound", "RegistryConflict", "RegistryError", "RegistryRepository", "same_record", "utc_now",
]
