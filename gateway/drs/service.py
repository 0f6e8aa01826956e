"""The federated DRS operations: resolve through the resolver, fetch through the member's adapter,
answer in the gateway's own DRS shape. No HTTP here: handlers in :mod:`gateway.web.routes.drs` parse and render.

Every failure is a :class:`~gateway.resolver.outcomes.ResolutionError` carrying the status to answer (a
member's 401/403/404 or 202 passed on; 409 for an id several members hold; 502 for a member that failed or sent
something unusable; 504 at the deadline). Nothing keeps running after its request's deadline: bulk work is cancelled
there, and what was answered by then is kept.

**Where a caller's credentials go.** A caller's ``Authorization`` (under the passthrough rules of
:mod:`gateway.members.passthrough`) and what its Passports yield (the Passports themselves, a gateway token signed
for the member) go only to the member that owns the id: by its prefix or DRS hostname, or established as its only
holder by a fan-out in which every member answered (:attr:`~gateway.resolver.outcomes.Resolution.owner_known`). A
member that merely answered first, or alone while others failed, is asked without them (logged): its own 401/403
then passes on as usual, and asking again once every member answers establishes the holder. A rendered object
whose member is not established is cached no longer than a miss.

**Fresh metadata for access decisions.** Where the gateway itself decides access from a record's ``authz`` (a
Passport gate in front of a ``gateway_token``/``passport`` member: :meth:`DrsService.access`,
:meth:`DrsService.accesses`, and the ``passport_auth_issuers`` of :meth:`DrsService.authorizations`), the record is
resolved with ``max_age=drs.authz_max_age``: a cached record fetched longer ago is fetched again from its member
first, so an ``authz`` changed at the member is decided on within that bound. Without a Passport gate the member
decides access itself, on its own current record.

``client`` (the caller's address, from the web edge) is handed to the resolver for the fan-out budget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gateway.cache import Cache, Write
from gateway.core.concurrency import run_until
from gateway.core.deadline import Deadline
from gateway.core.errors import TIMED_OUT, UpstreamError
from gateway.core.member import Member
from gateway.core.metrics import current
from gateway.core.records import AccessURL
from gateway.drs.federate import InvalidRecord, access_ids, drs_object, drs_object_bytes, embedded_access
from gateway.members.passthrough import ISSUING_KINDS, forwarded_authorization, issuer_of
from gateway.passports.gate import AccessRefused, Caller, MemberCall, PassportGate
from gateway.registry.directory import Routes
from gateway.resolver.identifiers import InvalidIdentifier
from gateway.resolver.outcomes import Resolution, ResolutionError
from gateway.resolver.service import Resolver
from gateway.settings.sections import DrsConfig
from gateway.wire.drs import Authorizations, AuthorizationType

T = TypeVar("T")
log = logging.getLogger("gateway.drs.service")


@dataclass
class BulkObjects:
    objects: list[bytes] = field(default_factory=list)
    """Each object found, in request order, as the bytes ``GET /objects/{id}`` answers for it."""
    failures: list[tuple[int, str]] = field(default_factory=list)
    timed_out: bool = False


@dataclass
class BulkAccess:
    urls: list[tuple[str, str, AccessURL]] = field(default_factory=list)
    """``(object id as asked, access id, URL)``."""
    failures: list[tuple[int, str]] = field(default_factory=list)
    requested: int = 0
    timed_out: bool = False


@dataclass
class DrsService:
    resolver: Resolver
    cache: Cache
    config: DrsConfig
    profile: str
    hostname: str
    """``host[:port]`` of every ``self_uri``."""
    gate: PassportGate | None = None
    """GA4GH Passports, when enabled."""

    def deadline(self) -> Deadline:
        return Deadline.after(self.config.deadline)

    def resolution_deadline(self, deadline: Deadline) -> Deadline:
        """The deadline of the resolution step of a request under ``deadline``: the resolver's own
        (``resolver.deadline``, as on the resolver routes), never past the request's; the access step keeps the rest
        of the request's."""
        return deadline.within(self.resolver.config.deadline)

    # -- single objects -------------------------------------------------------------------------------

    async def object_bytes(self, raw: str, deadline: Deadline | None = None, *, client: str | None = None) -> bytes:
        """The object's JSON (cached per registry version, so a registry change retires every entry; not
        cached when ``resolver.cache`` is off; a holder not established cached no longer than a miss). The request's
        deadline starts now unless given."""
        if not self.resolver.config.cache:
            return self.rendered(await self._resolve(raw, deadline or self.deadline(), client))
        key = self.object_key(raw, *await self.resolver.scope())
        body = await self.cache.get(key)
        current().cache_lookup("drs_objects", body is not None)
        if body is None:
            resolution = await self._resolve(raw, deadline or self.deadline(), client)
            body = self.rendered(resolution)
            await self.cache.set(key, body, ttl=self.object_ttl(resolution))
        return body

    def rendered(self, resolution: Resolution, *, signs: bool | None = None) -> bytes:
        """The one rendering of a resolved object as the gateway serves it (``GET /objects/{id}`` and each object of
        a bulk answer): the member's record mapped to DRS, re-homed on the gateway's hostname, shaped for the profile
        (502 for a record that makes no valid DRS object). ``signs``: whether its member offers signed URLs, when
        the caller knows (a bulk asks once per member), else looked up."""
        signed_urls = _signs(resolution) if signs is None else signs
        try:
            return drs_object_bytes(resolution.record, self.hostname, self.profile, signed_urls=signed_urls)
        except InvalidRecord as exc:
            raise _invalid(resolution, exc) from None

    def object_ttl(self, resolution: Resolution) -> float:
        """How long the rendered object is cached: ``drs.object_ttl``, no longer than a miss when its member is not
        established as the id's owner."""
        if resolution.owner_known:
            return self.config.object_ttl
        return min(self.config.object_ttl, self.resolver.config.negative_ttl)

    def object_key(self, raw: str, routes: Routes, generation: int) -> str:
        """The cache key of the rendered object for ``raw`` (per registry version and cache generation)."""
        return f"drs:{self.profile}:v{routes.version}.{generation}:{raw}"

    async def forget(self, raws: Sequence[str], routes: Routes, generation: int) -> None:
        """Delete the rendered objects cached for ``raws`` (an admin purge: see :mod:`gateway.resolver.purge`)."""
        await asyncio.gather(*(self.cache.delete(self.object_key(raw, routes, generation)) for raw in raws))

    def max_age(self) -> float | None:
        """How old a record may be for the access decision at hand: ``drs.authz_max_age`` when the gateway decides
        access itself (a Passport gate); any age otherwise (the member decides)."""
        return self.config.authz_max_age if self.gate is not None else None

    async def first_access_id(self, raw: str, deadline: Deadline, *, client: str | None = None) -> str:
        """The access id a fence-style download without ``protocol`` signs: the object's first. 501 when its member
        offers no signed URLs (as :meth:`access`), 404 when the object lists no access id."""
        resolution = await self._resolve(raw, deadline, client, max_age=self.max_age())
        if not _signs(resolution):
            raise no_signed_urls(resolution.member, raw)
        ids = access_ids(_render(lambda: drs_object(resolution.record, self.hostname, "1.5"), resolution))
        if not ids:
            raise ResolutionError(404, f"{raw} has no storage location to sign")
        return ids[0]

    async def access(
        self, raw: str, access_id: str, deadline: Deadline, *, authorization: str | None, expires_in: int | None,
        caller: Caller | None = None, client: str | None = None,
    ) -> AccessURL:
        resolution = await self._resolve(raw, deadline, client, max_age=self.max_age())
        if not _signs(resolution):
            raise no_signed_urls(resolution.member, raw)
        obj = _render(lambda: drs_object(resolution.record, self.hostname, "1.5"), resolution)
        if access_id not in access_ids(obj):
            raise ResolutionError(404, f"DRS object {raw} has no access method {access_id!r}")
        embedded = embedded_access(resolution.record, access_id)
        if embedded is not None:
            return embedded
        member = resolution.member
        authorization, caller = _credentials(resolution, authorization, caller)
        call = await self._plan(caller, resolution)
        adapter = self.resolver.directory.adapter(member)
        try:
            return await _within(deadline, adapter.access_url(
                resolution.record.id, access_id, deadline, **self._call_options(member, authorization, expires_in, call)
            ), member.id)
        except UpstreamError as exc:
            raise _member_refusal(member.id, exc, call, resolution.record.id) from None

    async def authorizations(self, raw: str, deadline: Deadline, *, client: str | None = None) -> Authorizations:
        resolution = await self._resolve(raw, deadline, client, max_age=self.max_age())
        return self.authorizations_of(resolution)

    def authorizations_of(self, resolution: Resolution) -> Authorizations:
        """How to authorise ``/access`` through the gateway: a bearer token of the member's own fence when
        the member takes the caller's token; nothing otherwise (the gateway brings its own credentials, and no
        caller credentials go to a member not established as the id's owner)."""
        member = resolution.member
        if not resolution.owner_known:
            return Authorizations(drs_object_id=resolution.record.id, supported_types=[AuthorizationType.none])
        issuers = self.gate.issuers_for(member, resolution.record) if self.gate is not None else []
        if issuers:
            return Authorizations(drs_object_id=resolution.record.id,
                                  supported_types=[AuthorizationType.passport, AuthorizationType.none],
                                  passport_auth_issuers=issuers)
        if member.auth.type != "passthrough":
            return Authorizations(drs_object_id=resolution.record.id, supported_types=[AuthorizationType.none])
        bearer_issuers = [issuer_of(member)] if member.kind in ISSUING_KINDS else None
        return Authorizations(drs_object_id=resolution.record.id, supported_types=[AuthorizationType.bearer],
                              bearer_auth_issuers=bearer_issuers)

    # -- bulk -------------------------------------------------------------------------------------------

    async def objects(self, raws: Sequence[str], deadline: Deadline, *, client: str | None = None) -> BulkObjects:
        """Each id's object, or ``(status, id)``, in request order. The objects are those ``GET /objects/{id}``
        answers, byte for byte: the ones cached for it read in one lookup and used as they are; the rest resolved
        in one batch (each member asked once per chunk), rendered by :meth:`rendered` and cached as ``GET`` caches
        them, in one write."""
        distinct = list(dict.fromkeys(raws))
        found: dict[str, bytes | ResolutionError] = {}
        keys: dict[str, str] = {}
        if self.resolver.config.cache:
            routes, generation = await self.resolver.scope()
            keys = {raw: self.object_key(raw, routes, generation) for raw in distinct}
            cached = await self.cache.get_many(list(keys.values()))
            current().cache_lookups_many("drs_objects", len(cached), len(keys) - len(cached))
            found = {raw: cached[key] for raw, key in keys.items() if key in cached}
        rest = [raw for raw in distinct if raw not in found]
        resolving = self.resolution_deadline(deadline)
        out = BulkObjects()
        if rest:
            outcomes = await self.resolver.resolve_many(rest, resolving, client=client)
            out.timed_out = resolving.expired
            writes: list[Write] = []
            signing: dict[str, bool] = {}  # member id → does it offer signed URLs (asked once per member)
            for raw in rest:
                outcome = outcomes[raw]
                if isinstance(outcome, ResolutionError):
                    found[raw] = outcome
                    continue
                signs = signing.get(outcome.member.id)
                if signs is None:
                    signs = signing[outcome.member.id] = _signs(outcome)
                try:
                    found[raw] = body = self.rendered(outcome, signs=signs)
                except ResolutionError as exc:  # a record that makes no DRS object: failed, and never cached
                    found[raw] = exc
                    continue
                if keys:
                    writes.append((keys[raw], body, self.object_ttl(outcome)))
            await self.cache.set_many(writes)
        for raw in raws:
            item = found[raw]
            if isinstance(item, ResolutionError):
                out.failures.append((item.status, raw))
            else:
                out.objects.append(item)
        return out

    async def authorizations_many(
        self, raws: Sequence[str], deadline: Deadline, *, client: str | None = None
    ) -> tuple[list[Authorizations], list[tuple[int, str]]]:
        """Each id's :class:`Authorizations`, or ``(status, id)``, in request order."""
        outcomes = await self.resolver.resolve_many(raws, self.resolution_deadline(deadline), client=client,
                                                    max_age=self.max_age())
        found: list[Authorizations] = []
        failures: list[tuple[int, str]] = []
        for raw in raws:
            outcome = outcomes[raw]
            if isinstance(outcome, ResolutionError):
                failures.append((outcome.status, raw))
            else:
                found.append(self.authorizations_of(outcome))
        return found, failures

    async def accesses(
        self, items: Sequence[tuple[str, Sequence[str]]], deadline: Deadline, *, authorization: str | None,
        expires_in: int | None, caller: Caller | None = None, client: str | None = None,
    ) -> BulkAccess:
        """Signed URLs for ``(object id, access ids)`` items: objects resolved in bulk, then each member
        asked once for all of its pairs (its bulk access call where it has one), members concurrently.
        URLs and failures are listed in request order, whichever member answered first."""
        pairs = [(raw, aid) for raw, wanted in items for aid in wanted]
        answers: list[AccessURL | int | None] = [None] * len(pairs)
        """Per pair, in request order: its URL, or the status it failed with; ``None`` until answered."""
        outcomes = await self.resolver.resolve_many([raw for raw, _ in items], self.resolution_deadline(deadline),
                                                    client=client, max_age=self.max_age())
        groups: dict[tuple[str, MemberCall | None, str | None], tuple[Member, list[tuple[int, str, str]]]] = {}
        """Pairs asked of a member together: same member, same way of asking (a gateway token is per object; a
        caller's ``Authorization`` only where the member owns the id)."""
        forwarded: dict[str, str | None] = {}
        plans: dict[str, MemberCall | int | None] = {}
        for n, (raw, access_id) in enumerate(pairs):
            outcome = outcomes[raw]
            obj = self._render_outcome(outcome)
            if isinstance(obj, ResolutionError):
                answers[n] = obj.status
            elif isinstance(outcome, Resolution) and not _signs(outcome):
                answers[n] = NO_SIGNED_URLS
            elif access_id not in access_ids(obj):
                answers[n] = 404
            else:
                assert isinstance(outcome, Resolution)
                embedded = embedded_access(outcome.record, access_id)
                if embedded is not None:
                    answers[n] = embedded
                    continue
                if raw not in plans:
                    mine, theirs = _credentials(outcome, authorization, caller)
                    forwarded[raw] = mine
                    try:
                        plans[raw] = await self._plan(theirs, outcome)
                    except ResolutionError as exc:
                        plans[raw] = exc.status
                plan = plans[raw]
                if isinstance(plan, int):
                    answers[n] = plan
                else:
                    entry = groups.setdefault((outcome.member.id, plan, forwarded[raw]), (outcome.member, []))
                    entry[1].append((n, outcome.record.id, access_id))
        gates: dict[str, asyncio.Semaphore] = {}

        async def ask(member: Member, call: MemberCall | None, authorization: str | None,
                      wanted: list[tuple[int, str, str]]) -> None:
            adapter = self.resolver.directory.adapter(member)
            gate = gates.setdefault(member.id, asyncio.Semaphore(self.config.access_concurrency))
            try:
                async with gate:
                    got = await adapter.access_urls([(oid, aid) for _, oid, aid in wanted], deadline,
                                                    **self._call_options(member, authorization, expires_in, call))
            except UpstreamError as exc:
                for n, _, _ in wanted:
                    answers[n] = _member_refusal(member.id, exc, call, "").status
                return
            except ResolutionError as exc:
                for n, _, _ in wanted:
                    answers[n] = exc.status
                return
            for n, oid, aid in wanted:
                answer = got.get((oid, aid))
                if isinstance(answer, UpstreamError):
                    answers[n] = _member_refusal(member.id, answer, call, oid).status
                else:
                    answers[n] = answer if answer is not None else 502

        await run_until([ask(m, call, auth, wanted) for (_, call, auth), (m, wanted) in groups.items()], deadline)
        out = BulkAccess(requested=len(pairs), timed_out=deadline.expired or None in answers)
        for (raw, access_id), answer in zip(pairs, answers):
            if isinstance(answer, AccessURL):
                out.urls.append((raw, access_id, answer))
            else:
                out.failures.append((answer if answer is not None else 504, raw))
        return out

    # -- shared -----------------------------------------------------------------------------------------

    def authorization_for(self, member: Member, authorization: str | None) -> str | None:
        """The caller's ``Authorization`` for ``member`` (see :mod:`gateway.members.passthrough`); ``None`` lets
        the adapter use the gateway's own credentials for the member (or none)."""
        return forwarded_authorization(member, authorization)

    def lifetime(self, expires_in: int | None, not_after: int | None = None) -> int:
        """The signed-URL lifetime to ask for: the caller's, clamped to the configured maximum and, for a
        Passport decision, to the seconds the decision has left (403 when none)."""
        ceiling = self.config.max_signed_url_ttl
        if not_after is not None:
            left = not_after - int(self.gate.now() if self.gate is not None else 0)
            if left < 1:
                raise ResolutionError(403, "the access decision has expired")
            ceiling = min(ceiling, left)
        return ceiling if expires_in is None else max(1, min(expires_in, ceiling))

    async def _plan(self, caller: Caller | None, resolution: Resolution) -> MemberCall | None:
        """How Passports shape the call to the member (``None``: they play no part); 403 when refused."""
        if caller is None or self.gate is None:
            return None
        try:
            return await self.gate.plan(caller, resolution.member, resolution.record)
        except AccessRefused as exc:
            raise ResolutionError(403, str(exc)) from None

    def _call_options(self, member: Member, authorization: str | None, expires_in: int | None,
                      call: MemberCall | None) -> dict[str, Any]:
        """The adapter's keywords: the member's usual credentials, or those of a Passport decision."""
        if call is None:
            return {"authorization": self.authorization_for(member, authorization),
                    "expires_in": self.lifetime(expires_in)}
        return {"authorization": call.authorization, "passports": call.passports,
                "expires_in": self.lifetime(expires_in, call.not_after)}

    async def _resolve(
        self, raw: str, deadline: Deadline, client: str | None = None, *, max_age: float | None = None
    ) -> Resolution:
        """The resolution step, under :meth:`resolution_deadline`."""
        resolving = self.resolution_deadline(deadline)
        try:
            return await _within(resolving, self.resolver.resolve(raw, resolving, client=client, max_age=max_age))
        except InvalidIdentifier as exc:
            raise ResolutionError.not_an_id(exc) from None

    def _render_outcome(self, outcome: Resolution | ResolutionError) -> dict[str, Any] | ResolutionError:
        if isinstance(outcome, ResolutionError):
            return outcome
        try:
            return _render(lambda: drs_object(outcome.record, self.hostname, self.profile,
                                              signed_urls=_signs(outcome)), outcome)
        except ResolutionError as exc:
            return exc


NO_SIGNED_URLS = 501
"""The status of an access call for an object of a member that offers no signed URLs: the gateway cannot serve it
through that member (not the caller's fault, not a missing object, and asking again will not help)."""


def _signs(resolution: Resolution) -> bool:
    """Does the member holding the object offer signed URLs (its capabilities, from the registry)?"""
    return resolution.member.offers("signed_urls")


def no_signed_urls(member: Member, raw: str) -> ResolutionError:
    """The error of an access call that ``member`` cannot serve: it offers no signed URLs."""
    return ResolutionError(NO_SIGNED_URLS, f"member commons {member.id} offers no signed URLs "
                                           f"({member.why_not('signed_urls')}): DRS object {raw} has no access "
                                           "method the gateway can serve; use its access_url, where it lists one")


def _credentials(
    resolution: Resolution, authorization: str | None, caller: Caller | None
) -> tuple[str | None, Caller | None]:
    """The caller's ``Authorization`` and Passports, as they may reach ``resolution``'s member: unchanged when it owns
    the id (by prefix or hostname, or established as its only holder); otherwise neither (logged)."""
    if resolution.owner_known or (authorization is None and caller is None):
        return authorization, caller
    log.info("access asked without the caller's credentials: the member was not established as the id's only "
             "holder (not every member answered)",
             extra={"member_id": resolution.member.id, "object_id": resolution.record.id})
    return None, None


def _member_refusal(member_id: str, exc: UpstreamError, call: MemberCall | None, object_id: str) -> ResolutionError:
    """The member's error as the gateway's; a member refusing an anonymous call made after the gateway itself
    denied the Passports is that denial (403), not the member's 401."""
    if call is not None and call.denied is not None and exc.status in (401, 403):
        return ResolutionError(403, str(AccessRefused(call.denied, object_id)))
    return ResolutionError.upstream(member_id, exc)


def _render(make: Callable[[], T], resolution: Resolution) -> T:
    try:
        return make()
    except InvalidRecord as exc:
        raise _invalid(resolution, exc) from None


def _invalid(resolution: Resolution, exc: InvalidRecord) -> ResolutionError:
    return ResolutionError(502, f"member commons {resolution.member.id} sent a record that is not a valid DRS object "
                                f"({exc})")


async def _within(deadline: Deadline, work: Awaitable[T], member_id: str | None = None) -> T:
    """``work``, cancelled at the deadline (→ 504, naming the member asked, if one was): the adapters honour
    deadlines too; this is the backstop."""
    try:
        async with asyncio.timeout(deadline.backstop()):
            return await work
    except TimeoutError:
        raise ResolutionError(504, f"member commons {member_id}: {TIMED_OUT}" if member_id else
                                   "no answer before the request's deadline") from None
