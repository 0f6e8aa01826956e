"""Resolution: identifiers in any form → the member commons that holds each, and its record. One pipeline
for one id and for many (one id is a batch of one):

1. **parse** each distinct id (garbage → 400; :meth:`Resolver.resolve` raises the parse error itself);
2. **cache**: look every id up in the resolution cache (:mod:`.cache_entries`), in one read (a plain get for
   one id, ``get_many`` for more);
3. **route** the rest without I/O (:mod:`.routing`: prefix, DRS hostname, the gateway's own hostname; an
   upstream dist list only for prefixes no member owns) and group them per member; ids with no route (bare
   UUIDs, opaque ids) form one group that every active, healthy member is asked for, under the ownership rule of
   :mod:`.holders` (every answer waited for; a record must name the id asked; several holders: 409) and within the
   client's fan-out budget (:mod:`.budget`: past it the whole request is refused with 429 before any member is
   asked);
4. **ask** the members concurrently (:mod:`.asking`), each at most once per chunk of ids with its bulk call (its
   single-record call for a batch of one id); a member known to be unhealthy is not asked (503 for its ids),
   and a member's failure fails only its own ids;
5. at the **deadline** whatever is still running is cancelled and its ids answer 504; everything already
   answered is kept;
6. **remember** the answers in the cache, under the registry's version and the cache generation
   (:mod:`.generations`, bumped by an admin purge, :mod:`.purge`), each hit with the time its record was fetched: a
   hit whose member owns the id (by route, or established as its only holder) for ``positive_ttl``; a fan-out hit
   not established, a miss (any 404) and an ambiguous id (409) for ``negative_ttl``.

**Metadata age.** ``max_age`` (seconds) asks for a record fetched no longer ago than that: a cached hit older than
it is not used; the id is resolved afresh from its member (a revalidation) and the fresh answer remembered. Access
decisions the gateway makes from a record's ``authz`` ask for it (``drs.authz_max_age``, :mod:`gateway.drs.service`).

``client`` (the caller's address, from the web edge) is what the fan-out budget counts against; ``None`` (calls
from inside the gateway) is not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field

from gateway.cache import Cache, Write
from gateway.core.concurrency import run_until
from gateway.core.deadline import Deadline
from gateway.core.errors import TIMED_OUT
from gateway.core.member import Member
from gateway.core.metrics import current
from gateway.registry.directory import Directory, Routes
from gateway.resolver import answers
from gateway.resolver.answers import finished, spliced
from gateway.resolver.asking import ask_everyone, ask_owner, unhealthy_retry_after
from gateway.resolver.budget import spend
from gateway.resolver.cache_entries import (
    cache_key,
    finished_answer,
    hit_entry,
    miss_entry,
    read_entry,
    recalled,
)
from gateway.resolver.coalescing import Coalescer
from gateway.resolver.generations import Generation
from gateway.resolver.identifiers import Identifier, InvalidIdentifier, parse_identifier
from gateway.resolver.outcomes import Outcome, Resolution, ResolutionError
from gateway.resolver.routing import Routed, route_locally, route_upstream
from gateway.resolver.upstream import UpstreamDist
from gateway.settings.sections import ResolverConfig


@dataclass
class Resolver:
    directory: Directory
    cache: Cache
    config: ResolverConfig
    upstream: UpstreamDist | None = None
    own_hostnames: frozenset[str] = frozenset()
    """The gateway's own ``host[:port]``: ``drs://<gateway>/<id>`` resolves ``<id>`` itself."""
    generation: Generation = field(init=False)
    coalescer: Coalescer | None = field(init=False)
    """A busy member's one-id lookups sent together (``resolver.coalesce_after``)."""

    def __post_init__(self) -> None:
        self.generation = Generation(self.directory.repository.store, self.directory.recheck)
        self.coalescer = Coalescer(self.config.coalesce_after) if self.config.coalesce_after else None

    async def scope(self) -> tuple[Routes, int]:
        """The registry snapshot and the cache generation every cache key is made under."""
        return await self.directory.routes(), await self.generation.current()

    async def resolve(
        self, raw: str, deadline: Deadline | None = None, *, client: str | None = None, max_age: float | None = None,
    ) -> Resolution:
        """Resolve one id, a batch of one (``InvalidIdentifier`` for garbage, :class:`ResolutionError` otherwise;
        :class:`~gateway.resolver.budget.FanoutRefused` past ``client``'s fan-out budget). Its cache lookup is one
        plain read: the hot path of a cached hit does nothing else. ``max_age``: a cached record fetched longer ago
        is fetched again."""
        deadline = deadline or Deadline.after(self.config.deadline)
        looked_up = await self._look_up(raw)
        return await self._resolved(looked_up, deadline, client, max_age)

    async def answer(self, raw: str, *, client: str | None = None) -> bytes:
        """The answer of ``GET /resolver/v1/resolve`` for ``raw`` (:mod:`.answers`), raising as :meth:`resolve`
        does. A cached hit is answered from the finished bytes its entry holds: no record read back, nothing
        rendered; anything else is resolved as by :meth:`resolve` and rendered."""
        deadline = Deadline.after(self.config.deadline)
        looked_up = await self._look_up(raw)
        if looked_up.entry is not None and (rest := finished_answer(looked_up.entry)) is not None:
            return spliced(looked_up.ident.raw, rest)
        return answers.answer(await self._resolved(looked_up, deadline, client, None))

    async def _look_up(self, raw: str) -> _LookedUp:
        """One id's cache lookup: one plain read, the hot path of a cached hit."""
        ident = parse_identifier(raw)
        routes, generation = await self.scope()
        if not self.config.cache:
            return _LookedUp(raw, ident, routes, None, None)
        key = cache_key(routes.version, ident, generation)
        entry = await self.cache.get(key)
        current().cache_lookup("resolver", entry is not None)
        return _LookedUp(raw, ident, routes, key, entry)

    async def _resolved(
        self, looked_up: _LookedUp, deadline: Deadline, client: str | None, max_age: float | None
    ) -> Resolution:
        raw, ident, routes, entry = looked_up.raw, looked_up.ident, looked_up.routes, looked_up.entry
        outcome = read_entry(ident, entry, routes.members) if entry is not None else None
        if max_age is not None and isinstance(outcome, Resolution) and outcome.age(time.time()) > max_age:
            outcome = None  # too old for the decision it is wanted for: revalidated with its member
        if outcome is None:
            keys = {raw: looked_up.key} if looked_up.key is not None else {}
            outcome = (await self._fresh({raw: ident}, keys, deadline, routes, client))[raw]
        if isinstance(outcome, ResolutionError):
            raise outcome.invalid or outcome
        return outcome

    async def resolve_many(
        self, raws: Sequence[str], deadline: Deadline | None = None, *, client: str | None = None,
        max_age: float | None = None,
    ) -> dict[str, Outcome]:
        """Every distinct id in ``raws`` → its :class:`Resolution` or :class:`ResolutionError`; the whole batch is
        :class:`~gateway.resolver.budget.FanoutRefused` when it must fan out past ``client``'s budget. ``max_age``:
        cached records fetched longer ago are fetched again."""
        deadline = deadline or Deadline.after(self.config.deadline)
        current().bulk("resolve", len(raws))
        out: dict[str, Outcome] = {}
        batch: dict[str, Identifier] = {}
        for raw in dict.fromkeys(raws):
            try:
                batch[raw] = parse_identifier(raw)
            except InvalidIdentifier as exc:
                out[raw] = ResolutionError.not_an_id(exc)
        routes, generation = await self.scope()
        keys = ({raw: cache_key(routes.version, ident, generation) for raw, ident in batch.items()}
                if self.config.cache else {})
        if keys:
            wanted = list(dict.fromkeys(keys.values()))
            entries = await self.cache.get_many(wanted)
            current().cache_lookups_many("resolver", len(entries), len(wanted) - len(entries))
            now = time.time()
            out.update((raw, outcome) for raw, outcome in recalled(batch, keys, entries, routes.members).items()
                       if max_age is None or not isinstance(outcome, Resolution) or outcome.age(now) <= max_age)
        rest = {raw: ident for raw, ident in batch.items() if raw not in out}
        if rest:
            out.update(await self._fresh(rest, keys, deadline, routes, client))
        return out

    async def _fresh(
        self, batch: dict[str, Identifier], keys: dict[str, str], deadline: Deadline, routes: Routes,
        client: str | None,
    ) -> dict[str, Outcome]:
        """The ids the cache did not answer: routed, asked, and their answers remembered (under ``keys``)."""
        found = await self._find(batch, deadline, routes, client)
        if keys:
            await self._remember(found, keys, batch, routes)
        return found

    async def _find(
        self, batch: dict[str, Identifier], deadline: Deadline, routes: Routes, client: str | None
    ) -> dict[str, Outcome]:
        """Route each id and ask the members, until the deadline (nobody is asked when the batch must fan out past
        ``client``'s budget)."""
        out: dict[str, Outcome] = {}
        groups: dict[str, tuple[Member, list[tuple[str, Routed]]]] = {}
        unrouted: list[tuple[str, Identifier]] = []
        for raw, ident in batch.items():
            try:
                routed = route_locally(ident, routes, own_hostnames=self.own_hostnames)
                if isinstance(routed, Identifier):
                    routed = await route_upstream(routed, deadline, self.upstream)
            except InvalidIdentifier as exc:  # drs://<gateway>/<not an id>
                out[raw] = ResolutionError.not_an_id(exc)
                continue
            except ResolutionError as exc:
                out[raw] = exc
                continue
            if routed is None:
                unrouted.append((raw, ident))
            else:
                groups.setdefault(routed.member.id, (routed.member, []))[1].append((raw, routed))
        if unrouted:
            await spend(self.cache, client, self.config.fanout_budget)
        single = len(batch) == 1
        jobs: list[Awaitable[None]] = []
        if groups:
            unhealthy = await self.directory.unhealthy()  # upstream pseudo-members are never probed: never in it
            for member, items in groups.values():
                if member.id in unhealthy:
                    error = ResolutionError(503, f"member commons {member.id} is unhealthy; try again later",
                                            retry_after=unhealthy_retry_after(self.directory))
                    out.update((raw, error) for raw, _ in items)
                else:
                    jobs.append(ask_owner(self.directory, member, items, deadline, single=single, out=out,
                                          coalescer=self.coalescer))
        if unrouted:
            jobs.append(ask_everyone(self.directory, unrouted, deadline, single=single,
                                     concurrency=self.config.fanout_concurrency, out=out))
        await _until(jobs, deadline)
        waited = {raw: member.id for member, items in groups.values() for raw, _ in items}
        for raw in batch:
            if raw not in out:
                out[raw] = ResolutionError(504, f"member commons {waited[raw]}: {TIMED_OUT}" if raw in waited else
                                           f"{raw}: no answer from its member commons before the deadline")
        return out

    async def _remember(
        self, fresh: dict[str, Outcome], keys: dict[str, str], batch: dict[str, Identifier], routes: Routes
    ) -> None:
        """Every answer worth remembering, in one cache write; a hit with its finished answer
        (:mod:`.cache_entries`), rendered as reading the entry back under ``batch``'s identifier would give it."""
        writes: list[Write] = []
        now = time.time()
        for raw, outcome in fresh.items():
            if isinstance(outcome, Resolution):
                ttl = self.config.positive_ttl
                if not outcome.owner_known:  # found while some member did not answer: soon asked again
                    ttl = min(ttl, self.config.negative_ttl)
                member = routes.members.get(outcome.member.id)  # None: an upstream pseudo-member, never read back
                rest = None if member is None else finished(Resolution(
                    batch[raw], member, outcome.record, outcome.route, cached=True, established=outcome.established))
                writes.append((keys[raw], hit_entry(outcome, now, rest), ttl))
            elif outcome.status in (404, 409):
                writes.append((keys[raw], miss_entry(outcome), self.config.negative_ttl))
        await self.cache.set_many(writes)


@dataclass(frozen=True, slots=True)
class _LookedUp:
    """One id parsed and looked up in the cache (``key`` and ``entry`` ``None`` when caching is off)."""

    raw: str
    ident: Identifier
    routes: Routes
    key: str | None
    entry: bytes | None


async def _until(jobs: list[Awaitable[None]], deadline: Deadline) -> None:
    """:func:`~gateway.core.concurrency.run_until`, but a lone job (one member asked, as for one id) is awaited
    under a timeout rather than in a task of its own: the same cancellation at the deadline, without the ~20 µs a
    task and a wait add to every uncached single resolution."""
    if len(jobs) != 1:
        await run_until(jobs, deadline)
        return
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(deadline.remaining()):
            await jobs[0]
