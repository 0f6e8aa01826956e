"""One member's one-id lookups, sent together once its calls are busy (``resolver.coalesce_after``).

A workflow engine resolving many distinct GUIDs at once sends the gateway many one-id requests; each would cost one
upstream call, and an upstream call is most of the gateway's CPU on that path (bench/bench_upstream.py). So while
fewer than ``resolver.coalesce_after`` calls of a member are under way, a lookup is its own single-record call, at
once (a lone request waits for nothing); past that, lookups queue, and each time one of the member's calls ends, the
queue goes out as one call — the member's bulk call (chunked by its adapter) for two ids or more — and each lookup
gets its own record, ``None``, or the member's failure. The call itself is the caller's (``ask``: the one rule of
:func:`gateway.resolver.asking.records`, single-record call for one id, bulk call for more), made here for one id at
once or for the queue. The busier a member, the more each call carries; no timer,
no added wait at low load.

Each lookup keeps its own deadline: a queued call runs until the latest deadline among its lookups (those already
past theirs are not asked), and a lookup whose deadline passes stops waiting (its request answers 504) without
cutting the call short for the others. A shared call carries the request id and trace of its first queued lookup (a
member sees one request; the others' ids are logged with it at debug level), and every other lookup it carried logs
its failure, or its wait cut at the deadline, under its own request id with the member's address, as a call of its
own would have. Records are vetted as on every path: the adapter keeps only a record whose ``did`` is an id asked.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from gateway.core.deadline import Deadline
from gateway.core.errors import TIMED_OUT, MemberTimeout, UpstreamError
from gateway.core.logs import request_id_var
from gateway.core.metrics import current
from gateway.core.records import MemberRecord

log = logging.getLogger("gateway.resolver.coalescing")
MAX_BATCH = 200
"""Lookups one queued call carries at most."""

Ask = Callable[[list[str], Deadline], Awaitable[dict[str, MemberRecord]]]
"""One call to a member for ``ids``: the records it holds, keyed by the id asked."""


@dataclass(eq=False)
class _Waiting:
    future: asyncio.Future[MemberRecord | None]
    until: float
    """The latest deadline (loop clock) among the lookups of this id."""
    requests: list[str]
    context: contextvars.Context
    """The first lookup's context (its request id and trace): a call sent for this id runs in it."""
    sent_for: str | None = None
    """The request id the shared call went out with (its failure is logged under that id by the member's client)."""


@dataclass(eq=False)
class _Member:
    member_id: str
    ask: Ask
    busy: int = 0
    queue: dict[str, _Waiting] = field(default_factory=dict)


class Coalescer:
    """Each member's calls under way and queued lookups; one per resolver (so per process)."""

    def __init__(self, in_flight: int) -> None:
        self._in_flight = in_flight
        self._members: dict[str, _Member] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def record(
        self, member_id: str, ask: Ask, object_id: str, deadline: Deadline, *, where: str = ""
    ) -> MemberRecord | None:
        """``object_id``'s record at ``member_id`` (``None``: it holds none); the member's failure raises here as
        it would for a lone call. A lookup that shared another request's call logs its failure under its own
        request id too (``where``: the member's address, for that line), as a call of its own would have."""
        state = self._members.get(member_id)
        if state is None:
            state = self._members[member_id] = _Member(member_id, ask)
        state.ask = ask  # the registry may have replaced the member's adapter
        if state.busy < self._in_flight and not state.queue:
            state.busy += 1
            try:
                return (await ask([object_id], deadline)).get(object_id)
            finally:
                state.busy -= 1
                self._send(state)
        waiting = state.queue.get(object_id)
        if waiting is None:
            future = asyncio.get_running_loop().create_future()
            future.add_done_callback(_retrieve)  # a lookup that stopped waiting leaves no unretrieved error
            waiting = state.queue[object_id] = _Waiting(future, deadline.at, [], contextvars.copy_context())
        waiting.until = max(waiting.until, deadline.at)
        rid = request_id_var.get()
        if rid:
            waiting.requests.append(rid)
        try:
            return await asyncio.shield(waiting.future)
        except UpstreamError as exc:
            if rid != waiting.sent_for:
                log.warning("upstream call failed", extra={
                    "member": member_id, "answered": exc.message, "upstream_status": exc.upstream_status,
                    "detail": f"a call shared with request {waiting.sent_for}: {exc.detail}"})
            raise
        except asyncio.CancelledError:
            if deadline.expired:
                log.warning("upstream call cut at the deadline", extra={"member": member_id, "detail": (
                    f"{where}: {object_id} waited for the member's calls under way (shared with request "
                    f"{waiting.sent_for}); no answer before the deadline")})
            raise

    def _send(self, state: _Member) -> None:
        """Send what is queued, while the member has calls to spare."""
        loop = asyncio.get_running_loop()
        while state.queue and state.busy < self._in_flight:
            now = loop.time()
            batch: dict[str, _Waiting] = {}
            for object_id in list(state.queue):
                waiting = state.queue.pop(object_id)
                if waiting.until <= now:  # past the deadline of every lookup of this id: not asked
                    waiting.future.set_exception(MemberTimeout(
                        state.member_id, TIMED_OUT, detail=f"{object_id}: queued past its deadline, not asked"))
                    continue
                batch[object_id] = waiting
                if len(batch) >= MAX_BATCH:
                    break
            if not batch:
                return
            first = next(iter(batch.values()))
            sent_for = first.context.get(request_id_var, None)
            for waiting in batch.values():
                waiting.sent_for = sent_for
            state.busy += 1
            task = loop.create_task(self._call(state, batch), context=first.context)
            self._running.add(task)  # held until done: the loop keeps only weak references to tasks
            task.add_done_callback(self._running.discard)

    async def _call(self, state: _Member, batch: dict[str, _Waiting]) -> None:
        ids = list(batch)
        deadline = Deadline(max(w.until for w in batch.values()))
        current().coalesced(state.member_id, len(ids))  # in the first lookup's context: its app's metrics
        if len(ids) > 1 and log.isEnabledFor(logging.DEBUG):
            log.debug("lookups coalesced", extra={
                "ids": len(ids), "requests": [r for w in batch.values() for r in w.requests]})
        try:
            found = await state.ask(ids, deadline)
        except BaseException as exc:
            for waiting in batch.values():
                if not waiting.future.done():
                    if isinstance(exc, Exception):
                        waiting.future.set_exception(exc)
                    else:
                        waiting.future.cancel()
            if not isinstance(exc, Exception):
                raise
        else:
            for object_id, waiting in batch.items():
                if not waiting.future.done():
                    waiting.future.set_result(found.get(object_id))
        finally:
            state.busy -= 1
            self._send(state)


def _retrieve(future: asyncio.Future[MemberRecord | None]) -> None:
    if not future.cancelled():
        future.exception()
