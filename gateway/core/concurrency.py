"""Asking many things at once: the gateway's fan-out helpers, all on ``asyncio.TaskGroup`` and ``asyncio.timeout``.

Pure orchestration over the callables handed in (no I/O of their own). What they share: every task they start
has ended when they return or raise (finished, or cancelled and waited for), and cancelling the caller cancels
them all.

* :func:`gather_bounded`: every call, at most ``limit`` at a time, results in order; the first failure cancels
  the rest and is raised as is (not wrapped in an exception group). :func:`gather_chunked` runs a bulk lookup
  over chunks of ids that way; :func:`gather_settled` keeps a chosen kind of failure as that call's result
  instead.
* :func:`run_until`: jobs that record their own results, cancelled at the deadline.
* :func:`every_slot`: a background duty run once per wall-clock slot of ``interval`` seconds (slots aligned on
  the clock, so replicas agree on what "this interval" is); a failed round is logged and the next slot comes.
* :func:`while_running`: an aiohttp ``cleanup_ctx`` running a plain action every ``interval`` seconds while the app
  runs, and once more when it stops (the batched log lines and metric values are written that way).

There is deliberately no "first answer wins" helper: which member answers first must never decide an answer
(docs/security.md).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from gateway.core.deadline import Deadline

log = logging.getLogger("gateway.core.concurrency")

T = TypeVar("T")
R = TypeVar("R")
E = TypeVar("E", bound=BaseException)


async def _run_group(
    awaitables: Sequence[Awaitable[object]], deadline: Deadline | None = None, *, isolate: bool = False
) -> bool:
    """Run ``awaitables`` in one task group until all end or ``deadline`` passes;
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


async def every_slot(
    interval: float, run_once: Callable[[int], Awaitable[object]], *, clock: Callable[[], float], what: str
) -> None:
    """Forever: sleep to the start of the next wall-clock slot of ``interval`` seconds, then ``run_once(slot)``.
    A round that fails is logged (``what``) and the loop goes on; cancelling the caller ends it."""
    while True:
        now = clock()
        slot = int(now // interval) + 1
        await asyncio.sleep(max(0.0, slot * interval - now))
        try:
            await run_once(slot)
        except asyncio.CancelledError:
            raise
        except Exception:  # e.g. the store could not be read or written: try again next slot
            log.warning("%s failed", what, exc_info=True)


def while_running(interval: float, action: Callable[[], object]) -> Callable[[Any], AsyncIterator[None]]:
    """An aiohttp ``cleanup_ctx`` that calls ``action`` every ``interval`` seconds while the app runs, and once more
    when it stops (after the loop has been cancelled)."""
    async def context(_: Any) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(interval)
                action()

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        action()

    return context
