"""Asking many things at once: the gateway's fan-out helpers, all on ``asyncio.TaskGroup`` and ``asyncio.timeout``.

Pure orchestration over the callables handed in (no I/O of their own). What they share: every task they start
has ended when they return or raise (finished, or cancelled and waited for), and cancelling the caller cancels
them all.

* :func:`gather_bounded`: every call, at most ``limit`` at a time, results in order; the first failure cancels
  the rest and is raised as is (not wrapped in an exception group). :func:`gather_chunked` runs a bulk lookup
  over chunks of ids that way; :func:`gather_settled` keeps a chosen kind of failure as that call's result
  instead.
* :func:`run_until`: jobs that record their own results, cancelled at the deadline.
* :func:`first_hit`: the first candidate that has the answer wins and the others are cancelled; at most
  ``concurrency`` lookups at a time, nothing past the deadline, and failures collected, not raised, so a dead
  member can never hide a hit from a live one.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Generic, TypeVar

from gateway.core.deadline import Deadline

log = logging.getLogger("gateway.core.concurrency")

T = TypeVar("T")
C = TypeVar("C")
R = TypeVar("R")
E = TypeVar("E", bound=BaseException)


class _Done(Exception):
    """Raised by a task to end its group early (the others are cancelled)."""


async def _run_group(
    awaitables: Sequence[Awaitable[object]], deadline: Deadline | None = None, *, isolate: bool = False
) -> bool:
    """Run ``awaitables`` in one task group until all end, one raises :class:`_Done`, or ``deadline`` passes;
    ``True`` when the deadline cut the run short. Another failure cancels the rest and the first one is raised
    as is; with ``isolate`` a failure is logged and ends only its own task.

    Children never raise into the ``TaskGroup``: they stop their siblings themselves. (A child's error makes a
    ``TaskGroup`` cancel its parent task, and Python 3.11 can leave that cancellation counted on the parent, or
    let it hide a cancellation from outside.) Coroutines that never got to run are closed, as a cancelled task
    would have closed them."""
    tasks: list[asyncio.Task[None]] = []
    failures: list[Exception] = []

    def stop() -> None:
        me = asyncio.current_task()
        for task in tasks:
            if task is not me:
                task.cancel()

    async def child(awaitable: Awaitable[object]) -> None:
        try:
            await awaitable
        except _Done:
            stop()
        except Exception as exc:
            if isolate:
                log.warning("a fan-out job failed", exc_info=True)
                return
            failures.append(exc)
            stop()

    timed_out = False
    try:
        async with asyncio.timeout(None if deadline is None else deadline.remaining()), asyncio.TaskGroup() as group:
            tasks.extend(group.create_task(child(a)) for a in awaitables)
    except TimeoutError:
        timed_out = True
    finally:
        for awaitable in awaitables:
            if inspect.iscoroutine(awaitable):
                awaitable.close()
    if failures:
        raise failures[0]  # outside any handler, so it keeps its own cause and context
    return timed_out


async def gather_bounded(calls: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run ``calls`` at most ``limit`` at a time; results in order. The first failure cancels the rest and
    is raised as is (not wrapped in an exception group)."""
    gate = asyncio.Semaphore(limit)
    results: dict[int, T] = {}

    async def run(n: int, call: Callable[[], Awaitable[T]]) -> None:
        async with gate:
            results[n] = await call()

    await _run_group([run(n, call) for n, call in enumerate(calls)])
    return [results[n] for n in range(len(calls))]


async def gather_settled(
    calls: Sequence[Callable[[], Awaitable[T]]], limit: int, keep: type[E] | tuple[type[E], ...]
) -> list[T | E]:
    """:func:`gather_bounded`, but a call that raises one of ``keep`` has that exception as its result (and the
    other calls go on)."""

    async def settle(call: Callable[[], Awaitable[T]]) -> T | E:
        try:
            return await call()
        except keep as exc:
            return exc

    return await gather_bounded([partial(settle, call) for call in calls], limit)


async def gather_chunked(
    ids: list[str], size: int, lookup: Callable[[list[str]], Awaitable[dict[str, R]]], limit: int
) -> dict[str, R]:
    """``lookup`` over ``ids`` in chunks of ``size``, at most ``limit`` chunks at a time, results merged."""
    chunks = [ids[i:i + size] for i in range(0, len(ids), size)]
    parts = await gather_bounded([partial(lookup, chunk) for chunk in chunks], limit)
    return {key: value for part in parts for key, value in part.items()}


async def run_until(jobs: Sequence[Awaitable[object]], deadline: Deadline) -> None:
    """Run ``jobs`` concurrently; at the deadline cancel what is left (and wait for it to stop). Jobs record
    their own results: whatever they recorded before the deadline stands. A job that fails is logged and
    ends alone (the others go on)."""
    if jobs:
        await _run_group(jobs, deadline, isolate=True)


@dataclass
class FanoutResult(Generic[C, R]):
    hit: tuple[C, R] | None = None
    """The first candidate that answered with a value, and that value."""
    failures: list[tuple[C, BaseException]] = field(default_factory=list)
    """Candidates whose lookup raised (timeouts included)."""
    asked: int = 0
    timed_out: bool = False
    """The deadline passed before every candidate had answered."""


async def first_hit(
    candidates: Sequence[C],
    lookup: Callable[[C], Awaitable[R | None]],
    *,
    concurrency: int,
    deadline: Deadline,
) -> FanoutResult[C, R]:
    """Run ``lookup`` over ``candidates`` (``None`` means "not here") and return the first value found."""
    result: FanoutResult[C, R] = FanoutResult()
    if not candidates:
        return result
    gate = asyncio.Semaphore(concurrency)

    async def ask(candidate: C) -> None:
        async with gate:
            if result.hit is not None:
                return  # a hit came in while this one waited for the gate
            result.asked += 1
            try:
                value = await lookup(candidate)
            except Exception as exc:  # a member's failure is data, not an error of the fan-out
                result.failures.append((candidate, exc))
                return
        if value is not None and result.hit is None:
            result.hit = (candidate, value)
            raise _Done

    result.timed_out = await _run_group([ask(c) for c in candidates], deadline)
    return result
