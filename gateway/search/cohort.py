"""The federated cohort search: one question fanned out to every active member, merged, tiered, and paged rows.

:class:`CohortService` asks each active member's search (:class:`gateway.members.protocols.CohortSearch`) for its
counts under ONE shared deadline (``aggregate.deadline``, or less when the request asks) and turns each outcome into a
:class:`~gateway.search.counts.MemberAnswer`: ``ok``/``partial`` (counted), ``timeout`` (not done by the deadline),
``error`` (the member failed, answered garbage, or its circuit is open) and ``unsupported`` (the member has no faceted
search: its adapter is no ``CohortSearch``, or it says so). The answers are merged and rendered under the configured
:class:`TierPolicy` (:mod:`gateway.search.tiering`).

Circuit breaking (:mod:`gateway.search.breaker`) is per process: a member that failed ``breaker.failures`` times in
a row is skipped for ``breaker.cooldown`` seconds and reported ``error`` with ``circuit open``.

Credentials: every member call asks the request's :class:`~gateway.access.caller.SearchCaller` what to send
that member (:meth:`~gateway.access.caller.SearchCaller.authorization_for`).

Rows (accessible data only, :func:`~gateway.search.tiering.check_rows`) come from the members in registry order
(member id order), each tagged with its ``commons``; the opaque cursor (:mod:`gateway.search.cursors`) holds the
member and its offset and is refused (400) when tampered with or replayed against another question. A member that
fails or times out while paging is reported in ``rows_sources`` and skipped (paging goes on with the next member; a
member that hangs cannot stall paging forever); when the deadline passes, the page ends and the cursor resumes at the
next member.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.access.caller import ANONYMOUS, SearchCaller
from gateway.access.tiers import TierPolicy
from gateway.core.concurrency import run_until
from gateway.core.deadline import Deadline
from gateway.core.errors import MemberTimeout, UpstreamError
from gateway.core.member import Member
from gateway.core.metrics import current
from gateway.members.protocols import CohortSearch
from gateway.members.search import CohortQuery, MemberCounts, RowsPage, SearchUnsupported
from gateway.search.breaker import Breaker
from gateway.search.counts import MemberAnswer, Status, merge
from gateway.search.cursors import Cursor, decode_cursor, encode_cursor, question_digest
from gateway.search.mapping.member import check as check_mappings
from gateway.search.mapping.member import mapped
from gateway.search.mapping.model import compile_cohort_mappings
from gateway.search.tiering import Accessibility, Rendered, check_rows, render
from gateway.settings.aggregate import AggregateConfig

log = logging.getLogger("gateway.search.cohort")

CIRCUIT_OPEN = "circuit open"
NO_SEARCH = "the member offers no cohort search"
CURSOR_VERSION = 1


class MemberDirectory(Protocol):
    """What the service needs of :class:`gateway.registry.directory.Directory`."""

    async def routes(self, *, fresh: bool = False) -> Any: ...

    def adapter(self, member: Member) -> object: ...


# --- results -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowsSource:
    commons: str
    status: Status
    took_ms: int
    error: str | None = None


@dataclass(frozen=True)
class RowsResult:
    rows: tuple[dict[str, Any], ...]
    next_cursor: str | None
    sources: tuple[RowsSource, ...]


@dataclass(frozen=True)
class CohortResult:
    rendered: Rendered
    answers: tuple[MemberAnswer, ...]
    rows: RowsResult | None = None

    @property
    def answered(self) -> bool:
        return any(a.answered for a in self.answers)

    @property
    def only_timeouts(self) -> bool:
        """Nobody answered, and at least one member timed out while no other failed (504 rather than 503)."""
        failed = [a for a in self.answers if not a.answered and a.status is not Status.UNSUPPORTED]
        return bool(failed) and all(a.status is Status.TIMEOUT for a in failed)


def _ms(start: float) -> int:
    return max(0, int((time.monotonic() - start) * 1000))


def _describe(exc: BaseException) -> str:
    """What a source's ``error`` says (public: a member's error's public message, never an exception's text)."""
    if isinstance(exc, UpstreamError):
        return exc.message[:500]
    if isinstance(exc, TimeoutError):
        return "no answer before the deadline"
    return "unexpected answer"


def answer_of(member_id: str, counts: object, took_ms: int) -> MemberAnswer:
    """A member's :class:`MemberCounts` as an answer (``error`` if the adapter gave something else)."""
    if not isinstance(counts, MemberCounts):
        return MemberAnswer(member_id, Status.ERROR, took_ms, error="unexpected answer from the adapter")
    try:
        return MemberAnswer(
            member_id, Status.PARTIAL if counts.partial else Status.OK, took_ms, counts.total,
            counts.histograms, hidden=counts.hidden, hidden_accessible=counts.hidden_accessible,
        )
    except (TypeError, ValueError):
        log.warning("cohort counts: unusable answer", extra={"member": member_id}, exc_info=True)
        return MemberAnswer(member_id, Status.ERROR, took_ms, error="unexpected answer")


class CohortService:
    def __init__(self, directory: MemberDirectory, config: AggregateConfig, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self.config = config
        self.policy = TierPolicy.from_settings(config.tier)
        self.breaker = Breaker(config.breaker.failures, config.breaker.cooldown, clock)
        self.mappings = compile_cohort_mappings(config.mappings.cohort)
        """Member id → its cohort mapping (compiled here, so a bad one stops the gateway as it starts)."""

    def adapter(self, member: Member) -> CohortSearch | None:
        """The member's search, through its cohort mapping if it has one (:mod:`gateway.search.mapping.member`);
        ``None`` when its adapter has none."""
        adapter = self.directory.adapter(member)
        if not isinstance(adapter, CohortSearch):
            return None
        return mapped(adapter, self.mappings.get(member.id))

    def deadline(self, requested: float | None = None) -> Deadline:
        seconds = self.config.deadline if requested is None else min(self.config.deadline, requested)
        return Deadline.after(seconds)

    async def members(self) -> list[Member]:
        routes = await self.directory.routes()
        return [m for _, m in sorted(routes.members.items())]

    # --- counts --------------------------------------------------------------------------------------------

    async def counts(self, query: CohortQuery, members: Sequence[Member], deadline: Deadline, *,
                     caller: SearchCaller = ANONYMOUS) -> tuple[MemberAnswer, ...]:
        """Every member's answer, in ``members`` order; nothing runs past ``deadline``."""
        results: dict[str, MemberAnswer] = {}
        started: dict[str, float] = {}

        async def ask(member: Member) -> None:
            started[member.id] = time.monotonic()
            results[member.id] = await self._ask_counts(member, query, deadline, caller)

        jobs = []
        for m in members:
            if not self.breaker.allows(m.id):
                results[m.id] = MemberAnswer(m.id, Status.ERROR, 0, error=CIRCUIT_OPEN)
            else:
                jobs.append(ask(m))
        current().fanout("cohort_counts", len(jobs))
        await run_until(jobs, deadline)
        out = []
        for m in members:
            answer = results.get(m.id)
            if answer is None:
                took = _ms(started[m.id]) if m.id in started else 0
                answer = MemberAnswer(m.id, Status.TIMEOUT, took, error="no answer before the deadline")
                self.breaker.record(m.id, ok=False)
            out.append(answer)
        return tuple(out)

    async def _ask_counts(self, member: Member, query: CohortQuery, deadline: Deadline,
                          caller: SearchCaller) -> MemberAnswer:
        start = time.monotonic()
        adapter = self.adapter(member)
        if adapter is None:
            return MemberAnswer(member.id, Status.UNSUPPORTED, 0, error=NO_SEARCH)
        try:
            counts = await adapter.cohort_counts(query, deadline, authorization=await caller.authorization_for(member))
        except asyncio.CancelledError:
            raise
        except SearchUnsupported as exc:
            self.breaker.record(member.id, ok=True)
            return MemberAnswer(member.id, Status.UNSUPPORTED, _ms(start), error=_describe(exc))
        except (MemberTimeout, TimeoutError) as exc:
            self.breaker.record(member.id, ok=False)
            return MemberAnswer(member.id, Status.TIMEOUT, _ms(start), error=_describe(exc))
        except Exception as exc:
            if not isinstance(exc, UpstreamError):
                log.warning("cohort counts: unexpected failure", extra={"member": member.id}, exc_info=True)
            self.breaker.record(member.id, ok=False)
            return MemberAnswer(member.id, Status.ERROR, _ms(start), error=_describe(exc))
        answer = answer_of(member.id, counts, _ms(start))
        self.breaker.record(member.id, ok=answer.status is not Status.ERROR)
        return answer

    # --- rows ----------------------------------------------------------------------------------------------

    async def rows(self, query: CohortQuery, members: Sequence[Member], fields: Sequence[str], limit: int,
                   cursor: str | None, accessibility: str, deadline: Deadline, *,
                   caller: SearchCaller = ANONYMOUS) -> RowsResult:
        """One page of accessible rows, from the cursor's member and offset onwards (``check_rows`` first)."""
        digest = question_digest(query, fields, accessibility)
        position = Cursor(0, members[0].id if members else "", 0) if cursor is None else decode_cursor(cursor, digest)
        index, offset = position.member, position.offset
        if index < len(members) and members[index].id != position.member_id:
            # the member list changed since the cursor was issued: find the member again, else start its slot afresh
            moved = next((i for i, m in enumerate(members) if m.id == position.member_id), None)
            index, offset = (moved, offset) if moved is not None else (index, 0)
        size = max(1, min(limit, self.config.max_page))
        rows: list[dict[str, Any]] = []
        sources: list[RowsSource] = []
        while index < len(members) and len(rows) < size:
            member = members[index]
            start = time.monotonic()
            page, problem = await self._ask_rows(member, query, fields, offset, size - len(rows), deadline, caller)
            if problem is not None:
                sources.append(RowsSource(member.id, problem[0], _ms(start), problem[1]))
                index, offset = index + 1, 0  # skipped (and reported), so that paging always moves on
                if deadline.expired:
                    break  # out of time: the cursor resumes at the next member
                continue
            assert page is not None
            sources.append(RowsSource(member.id, Status.OK, _ms(start)))
            taken = list(page.rows[: size - len(rows)])
            rows.extend({**dict(r), "commons": member.id} for r in taken)
            if len(taken) < len(page.rows):  # more than asked for: resume right after what was kept
                offset += len(taken)
            elif page.next_offset is None:
                index, offset = index + 1, 0
            else:
                offset = page.next_offset
        next_cursor = None
        if index < len(members):
            next_cursor = encode_cursor(Cursor(index, members[index].id, offset), digest)
        return RowsResult(tuple(rows), next_cursor, tuple(sources))

    async def _ask_rows(self, member: Member, query: CohortQuery, fields: Sequence[str], offset: int, limit: int,
                        deadline: Deadline, caller: SearchCaller) -> tuple[RowsPage | None, tuple[Status, str] | None]:
        if not self.breaker.allows(member.id):
            return None, (Status.ERROR, CIRCUIT_OPEN)
        adapter = self.adapter(member)
        if adapter is None:
            return None, (Status.UNSUPPORTED, NO_SEARCH)
        try:
            async with asyncio.timeout(deadline.remaining()):  # not wait_for: on 3.11 it can swallow a cancel
                authorization = await caller.authorization_for(member)
                page = await adapter.cohort_rows(query, fields, offset, limit, deadline, authorization=authorization)
        except asyncio.CancelledError:
            raise
        except SearchUnsupported as exc:
            return None, (Status.UNSUPPORTED, _describe(exc))
        except (MemberTimeout, TimeoutError) as exc:
            self.breaker.record(member.id, ok=False)
            return None, (Status.TIMEOUT, _describe(exc) if str(exc) else "no answer before the deadline")
        except Exception as exc:
            if not isinstance(exc, UpstreamError):
                log.warning("cohort rows: unexpected failure", extra={"member": member.id}, exc_info=True)
            self.breaker.record(member.id, ok=False)
            return None, (Status.ERROR, _describe(exc))
        if not isinstance(page, RowsPage):
            return None, (Status.ERROR, "unexpected answer from the adapter")
        if page.next_offset is not None and (type(page.next_offset) is not int or page.next_offset <= offset):
            return None, (Status.ERROR, f"the member's paging did not advance (offset {offset})")
        self.breaker.record(member.id, ok=True)
        return page, None

    # --- the whole search ----------------------------------------------------------------------------------

    async def search(self, query: CohortQuery, accessibility: Accessibility | str, *,
                     caller: SearchCaller = ANONYMOUS, deadline_seconds: float | None = None,
                     rows: RowsRequest | None = None, non_partitioning: Sequence[str] = ()) -> CohortResult:
        """Counts (always) and, when asked, a page of rows, both under the one deadline. Raises
        :class:`~gateway.search.tiering.RowsForbidden` and
        :class:`~gateway.search.mapping.translate.UntranslatableQuery` (before asking anyone) and
        :class:`BadCursor`."""
        mode = Accessibility(accessibility)
        members = await self.members()
        deadline = self.deadline(deadline_seconds)
        check_mappings(self.mappings, [m.id for m in members], query, rows.fields if rows is not None else ())
        if rows is not None:
            check_rows(mode, self.policy, [m.id for m in members])
            if rows.cursor is not None:
                decode_cursor(rows.cursor, question_digest(query, rows.fields, mode))  # 400 before any work
        counting = self.counts(query, members, deadline, caller=caller)
        if rows is None:
            answers = await counting
            page = None
        else:
            answers, page = await asyncio.gather(counting, self.rows(
                query, members, rows.fields, rows.limit, rows.cursor, mode, deadline, caller=caller))
        rendered = render(merge(answers), self.policy, mode, non_partitioning=non_partitioning)
        return CohortResult(rendered, answers, page)


@dataclass(frozen=True)
class RowsRequest:
    fields: tuple[str, ...]
    limit: int
    cursor: str | None = None


def sources_doc(result: CohortResult) -> list[Mapping[str, Any]]:
    return [{"commons": s.commons, "status": s.status.value, "took_ms": s.took_ms, "count": s.count,
             "hidden": s.hidden, "below": s.below, "error": s.error} for s in result.rendered.sources]
