"""The federated indexd reads: one listing, stats and version over every active member, under one deadline.

* **Listing** (:meth:`IndexdReads.list`): every active member that offers an index listing
  (:class:`~gateway.members.protocols.IndexListing`) is asked for its records after ``start`` (one page each, at
  once), and again whenever the merge (:mod:`.merge`) has used up what one answered; the page is the smallest
  records across all of them. A member that cannot list (a DRS server) is not asked and is reported
  ``unsupported`` in ``sources``; records it holds are not listed. A listing member that fails (unreachable, an
  error status, a malformed or misordered page, the deadline) fails the whole request with its status (502, 503,
  504) naming it: a page silently missing one member's records would be wrong, and a client paging on would never
  see them.
* **Stats** (:meth:`IndexdReads.stats`): indexd's ``fileCount`` and ``totalFileSize`` summed over the listing
  members, with each one's own numbers (``members``); a failing member fails the request, as above.
* **Version** (:meth:`IndexdReads.version`): the gateway's own version (the software answering this API), with
  each listing member's indexd ``{version, commit}`` or the error it gave (informational: never fails).

Each of the three asks every listing member, so each request is one fan-out of the client's budget
(:mod:`gateway.resolver.budget`, shared with the resolutions of ids no route decides): past it, 429 before any
member is asked. A federation where no member can list asks nobody and spends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from gateway.cache import Cache
from gateway.core.concurrency import gather_bounded, gather_settled
from gateway.core.deadline import Deadline
from gateway.core.errors import ApiError, UpstreamError
from gateway.core.member import Member
from gateway.core.records import MemberRecord
from gateway.indexd.cursor import BadCursor, encode_cursor, read_start
from gateway.indexd.merge import Page, Stream, collect, cut
from gateway.indexd.request import ListRequest
from gateway.members.protocols import IndexListing, MemberAdapter
from gateway.registry.directory import Directory
from gateway.resolver.budget import spend
from gateway.wire.indexd_list import MAX_LIMIT

UNSUPPORTED = "unsupported"
NO_LISTING = "this member has no index listing (a DRS server cannot list its objects)"


@dataclass(frozen=True)
class Listed:
    """One federated page: the records, the cursor of the next page (``None`` at the end), and every member's part."""

    records: list[MemberRecord]
    next_start: str | None
    sources: list[dict[str, Any]]


def failed(exc: UpstreamError, what: str) -> ApiError:
    """A member's failure as the whole answer's: its status, the member named, nothing of its address."""
    status = exc.status if exc.status in (502, 503, 504) else 502
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return ApiError(status, f"member {exc.member_id}: {exc.message}; {what} is not answered without it",
                    headers=headers, extra={"member": exc.member_id})


def listing_members(members: list[tuple[Member, MemberAdapter]]) -> list[tuple[Member, IndexListing]]:
    """The members that offer an index listing (an adapter that can list, an indexd endpoint), in id order. A member
    whose indexd was found misconfigured stays: its adapter refuses (502), the listing is never silently short."""
    out: list[tuple[Member, IndexListing]] = []
    for member, adapter in members:
        if isinstance(adapter, IndexListing) and member.endpoints.indexd is not None:
            out.append((member, adapter))
    return out


def unsupported(member: Member) -> dict[str, Any]:
    return {"commons": member.id, "kind": member.kind, "status": UNSUPPORTED, "error": NO_LISTING}


class IndexdReads:
    def __init__(self, directory: Directory, deadline_seconds: float, cache: Cache, fanout_budget: int) -> None:
        self.directory = directory
        self.deadline_seconds = deadline_seconds
        self.cache = cache
        self.fanout_budget = fanout_budget

    async def _members(self) -> list[tuple[Member, MemberAdapter]]:
        """Every active member (healthy or not: a listing without one would be incomplete) and its adapter."""
        routes = await self.directory.routes()
        return [(m, self.directory.adapter(m)) for _, m in sorted(routes.members.items())]

    async def _listing(self, client: str | None) -> tuple[list[tuple[Member, MemberAdapter]],
                                                          list[tuple[Member, IndexListing]]]:
        """Every active member, and those that can list; the fan-out spent from ``client``'s budget first when
        any member will be asked (:class:`~gateway.resolver.budget.FanoutRefused` past it)."""
        members = await self._members()
        listing = listing_members(members)
        if listing:
            await spend(self.cache, client, self.fanout_budget)
        return members, listing

    async def list(self, request: ListRequest, client: str | None = None) -> Listed:
        digest = request.filters.digest()
        try:
            after = read_start(request.start, digest)
        except BadCursor as exc:
            raise ApiError(400, str(exc)) from None
        members, listing = await self._listing(client)
        positional = request.page is not None
        skip = (request.page or 0) * request.limit
        want = skip + request.limit
        streams = {m.id: Stream(m.id, after) for m, _ in listing}
        taken: list[MemberRecord] = []
        more = False
        if request.limit > 0:
            deadline = Deadline.after(self.deadline_seconds)
            asked_for = min(want + 1, MAX_LIMIT)
            adapters = {m.id: a for m, a in listing}

            async def fill_one(stream: Stream) -> None:
                records = await adapters[stream.member_id].list_records(
                    request.filters, stream.after, asked_for, deadline)
                stream.take(records, asked_for)

            async def fill(dry: list[Stream]) -> None:
                await gather_bounded([partial(fill_one, s) for s in dry], len(dry))

            try:
                taken, more = await collect(list(streams.values()), want, positional=positional, fill=fill)
            except UpstreamError as exc:
                raise failed(exc, "the listing") from None
        page: Page = cut(taken, skip, request.limit, positional=positional, more=more)
        # with page= the page is positional (it may end inside a did group): continue with page=N+1, not a cursor
        more_after = page.more and page.records and not positional
        next_start = encode_cursor(page.records[-1].id, digest) if more_after else None
        counts: dict[str, int] = {}
        for record in page.records:
            counts[record.member_id] = counts.get(record.member_id, 0) + 1
        sources = [
            {"commons": m.id, "kind": m.kind, "status": "ok", "count": counts.get(m.id, 0)}
            if m.id in streams else unsupported(m)
            for m, _ in members
        ]
        return Listed(page.records, next_start, sources)

    async def stats(self, client: str | None = None) -> dict[str, Any]:
        members, listing = await self._listing(client)
        deadline = Deadline.after(self.deadline_seconds)
        try:
            numbers = await gather_bounded([partial(a.index_stats, deadline) for _, a in listing],
                                           max(1, len(listing)))
        except UpstreamError as exc:
            raise failed(exc, "the federation's stats") from None
        own = {m.id: n for (m, _), n in zip(listing, numbers, strict=True)}
        breakdown = []
        for m, _ in members:
            if m.id in own:
                count, size = own[m.id]
                breakdown.append({"commons": m.id, "kind": m.kind, "status": "ok", "fileCount": count,
                                  "totalFileSize": size})
            else:
                breakdown.append(unsupported(m))
        return {"fileCount": sum(c for c, _ in own.values()), "totalFileSize": sum(s for _, s in own.values()),
                "members": breakdown}

    async def version(self, own_version: str, client: str | None = None) -> dict[str, Any]:
        members, listing = await self._listing(client)
        deadline = Deadline.after(min(self.deadline_seconds, 5.0))
        answers = await gather_settled([partial(a.index_version, deadline) for _, a in listing],
                                       max(1, len(listing)), UpstreamError)
        got = {m.id: answer for (m, _), answer in zip(listing, answers, strict=True)}
        breakdown = []
        for m, _ in members:
            answer = got.get(m.id)
            if answer is None:
                breakdown.append(unsupported(m))
            elif isinstance(answer, UpstreamError):
                breakdown.append({"commons": m.id, "kind": m.kind, "status": "error", "error": answer.message})
            else:
                breakdown.append({"commons": m.id, "kind": m.kind, "status": "ok", **answer})
        return {"version": own_version, "commit": "", "members": breakdown}
