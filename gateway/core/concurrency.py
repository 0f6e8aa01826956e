"""Asking many members at once, bounded by a deadline.

:func:`first_hit`: the first member that has the object wins and the others are cancelled. Pure
orchestration over a ``lookup`` callable (no I/O of its own): at most ``concurrency`` lookups run at a time,
nothing runs past the deadline, and member failures are collected, not raised, so a dead member can never
hide a hit from a live one. :func:`run_until`: jobs that record their own results, cancelled at the deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from gateway.core.deadline import Deadline

T = TypeVar("T")
C = TypeVar("C")
R = TypeVar("R")


@dataclass
class FanoutResult(Generic[C, R]):
    hit: tuple[C, R] | None = None
    """The first candidate that answered with a value, and that value."""
    failures: list[tuple[C, BaseException]] = field(default_factory=list)
    """Candidates whose lookup raised (timeouts included)."""
    asked: int = 0
    timed_out: bool = False
    """The deadline passed before every candidate had answered."""


async def run_until(jobs: Sequence[Awaitable[object]], deadline: Deadline) -> None:
    """Run ``jobs`` concurrently; at the deadline cancel what is left (and wait for it to stop). Jobs record
    their own results: whatever they recorded before the deadline stands."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    if not tasks:
        return
    try:
        await asyncio.wait(tasks, timeout=deadline.remaining())
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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
    found = asyncio.Event()

    async def ask(candidate: C) -> None:
        async with gate:
            if found.is_set():
                return
            result.asked += 1
            try:
                value = await lookup(candidate)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a member's failure is data, not an error of the fan-out
                result.failures.append((candidate, exc))
                return
            if value is not None and result.hit is None:
                result.hit = (candidate, value)
                found.set()

    tasks = [asyncio.create_task(ask(c)) for c in candidates]
    waiter = asyncio.create_task(found.wait())
    try:
        pending: set[asyncio.Task] = set(tasks)
        while pending and not found.is_set():
            remaining = deadline.remaining()
            if remaining <= 0:
                result.timed_out = True
                break
            done, _ = await asyncio.wait(pending | {waiter}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            pending -= done
    finally:
        for task in [*tasks, waiter]:
            task.cancel()
        await asyncio.gather(*tasks, waiter, return_exceptions=True)
    return result


async def gather_bounded(calls: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run ``calls`` at most ``limit`` at a time; results in order. The first failure cancels the rest and
    is raised as is (not wrapped in an exception group)."""
    gate = asyncio.Semaphore(limit)

    async def run(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    tasks = [asyncio.ensure_future(run(call)) for call in calls]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def gather_chunked(
    ids: list[str], size: int, lookup: Callable[[list[str]], Awaitable[dict[str, R]]], limit: int
) -> dict[str, R]:
    """``lookup`` over ``ids`` in chunks of ``size``, at most ``limit`` chunks at a time, results merged."""
    chunks = [ids[i:i + size] for i in range(0, len(ids), size)]
    parts = await gather_bounded([lambda c=c: lookup(c) for c in chunks], limit)
    return {key: value for part in parts for key, value in part.items()}
