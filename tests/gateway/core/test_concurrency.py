"""The fan-out helpers: bounded concurrency, failures collected or raised as they are, deadline kept, the
caller's cancellation reaching every task; and the wall-clock slot loop of background duties."""

from __future__ import annotations

import asyncio
import gc
import time
from functools import partial

import pytest

from gateway.core.concurrency import every_slot, gather_bounded, gather_chunked, gather_settled, run_until
from gateway.core.deadline import Deadline


async def test_gather_bounded_keeps_order_and_the_bound():
    running = peak = 0

    async def call(i: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01 * (5 - i % 5))
        running -= 1
        return i * i

    assert await gather_bounded([partial(call, i) for i in range(12)], 3) == [i * i for i in range(12)]
    assert peak == 3
    assert await gather_bounded([], 3) == []


async def test_gather_bounded_raises_the_first_failure_as_is_and_cancels_the_rest():
    cancelled: list[int] = []

    class Boom(Exception):
        pass

    async def call(i: int) -> int:
        try:
            if i == 1:
                await asyncio.sleep(0.02)
                try:
                    raise KeyError("cause")
                except KeyError as exc:
                    raise Boom("first") from exc
            if i == 2:
                await asyncio.sleep(0.05)
                raise Boom("second")
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return i

    started = time.monotonic()
    with pytest.raises(Boom) as err:
        await gather_bounded([partial(call, i) for i in range(4)], 4)
    assert time.monotonic() - started < 1.0
    assert str(err.value) == "first" and isinstance(err.value.__cause__, KeyError), "raised as is, cause kept"
    assert sorted(cancelled) == [0, 2, 3]
    assert asyncio.current_task().cancelling() == 0


async def test_gather_settled_keeps_the_chosen_failures_as_results():
    async def call(i: int) -> int:
        if i % 2:
            raise LookupError(i)
        return i

    results = await gather_settled([partial(call, i) for i in range(4)], 2, LookupError)
    assert results[0] == 0 and results[2] == 2
    assert [type(r) for r in results[1::2]] == [LookupError, LookupError]

    async def bad() -> int:
        raise ValueError("not kept")

    with pytest.raises(ValueError, match="not kept"):
        await gather_settled([partial(call, 0), bad], 2, LookupError)


async def test_gather_chunked_merges_the_chunks():
    seen: list[list[str]] = []

    async def lookup(ids: list[str]) -> dict[str, int]:
        seen.append(ids)
        return {i: len(i) for i in ids}

    ids = [f"id{'x' * n}" for n in range(7)]
    assert await gather_chunked(ids, 3, lookup, 2) == {i: len(i) for i in ids}
    assert sorted(map(len, seen)) == [1, 3, 3]


# --- run_until -------------------------------------------------------------------------------------------------


async def test_run_until_cancels_at_the_deadline_and_keeps_what_was_recorded(caplog):
    recorded: list[str] = []
    cancelled: list[str] = []

    async def job(name: str, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        recorded.append(name)

    async def broken() -> None:
        raise RuntimeError("job bug")

    started = time.monotonic()
    await run_until([job("quick", 0.01), job("slow", 60), broken()], Deadline.after(0.2))
    assert 0.15 < time.monotonic() - started < 0.6
    assert recorded == ["quick"] and cancelled == ["slow"]
    assert "a fan-out job failed" in caplog.text and "job bug" in caplog.text, "a failing job is logged, not raised"
    await run_until([], Deadline.after(0))


async def test_run_until_cancelled_by_its_caller_cancels_the_jobs():
    cancelled: list[int] = []

    async def job(i: int) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(i)
            raise

    task = asyncio.create_task(run_until([job(1), job(2)], Deadline.after(60)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == [1, 2]


async def test_tasks_that_never_started_leave_no_unawaited_coroutine(recwarn):
    """A failure on the first step cancels siblings before they ever run; their coroutines are closed as a
    cancelled task would close its own."""
    async def fails_at_once() -> int:
        raise LookupError("at once")

    async def never_runs() -> int:
        raise AssertionError("cancelled before it started")

    with pytest.raises(LookupError):
        await gather_bounded([fails_at_once, never_runs, never_runs], 3)
    gc.collect()
    assert not [w for w in recwarn if "was never awaited" in str(w.message)]


async def test_every_slot_runs_once_per_slot_and_survives_a_failed_round(caplog):
    slots: list[int] = []

    async def run_once(slot: int) -> None:
        slots.append(slot)
        if len(slots) == 2:
            raise RuntimeError("the store could not be read")

    task = asyncio.create_task(every_slot(0.05, run_once, clock=time.time, what="test round"))
    await asyncio.sleep(0.28)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(slots) >= 4, slots
    assert slots == list(range(slots[0], slots[0] + len(slots))), "one round per slot, none skipped or repeated"
    assert "test round failed" in caplog.text
