"""The fan-out helpers: first hit wins, losers cancelled, bounded concurrency, failures collected or raised as
they are, deadline kept, and the caller's cancellation reaching every task."""

from __future__ import annotations

import asyncio
import gc
import time
from functools import partial

import pytest

from gateway.core.concurrency import first_hit, gather_bounded, gather_chunked, gather_settled, run_until
from gateway.core.deadline import Deadline


async def test_first_hit_wins_and_slower_lookups_are_cancelled():
    cancelled: list[str] = []

    async def lookup(name: str):
        delay, value = {"slow": (5.0, "s"), "fast": (0.01, "f"), "miss": (0.0, None)}[name]
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        return value

    started = time.monotonic()
    result = await first_hit(["slow", "miss", "fast"], lookup, concurrency=3, deadline=Deadline.after(10))
    assert result.hit == ("fast", "f")
    assert cancelled == ["slow"]
    assert time.monotonic() - started < 1.0


async def test_concurrency_is_bounded():
    running = 0
    peak = 0

    async def lookup(i: int):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return None

    result = await first_hit(list(range(20)), lookup, concurrency=4, deadline=Deadline.after(10))
    assert result.hit is None and result.asked == 20
    assert peak == 4


async def test_failures_are_collected_and_do_not_hide_a_hit():
    async def lookup(name: str):
        if name.startswith("broken"):
            raise ConnectionError(name)
        await asyncio.sleep(0.02)
        return "here" if name == "good" else None

    result = await first_hit(["broken1", "broken2", "good"], lookup, concurrency=8, deadline=Deadline.after(5))
    assert result.hit == ("good", "here")
    assert sorted(c for c, _ in result.failures) == ["broken1", "broken2"]


async def test_deadline_is_kept_when_a_member_hangs():
    async def lookup(name: str):
        await asyncio.sleep(60 if name == "hang" else 0)
        return None

    started = time.monotonic()
    result = await first_hit(["hang", "quick"], lookup, concurrency=2, deadline=Deadline.after(0.2))
    assert result.hit is None and result.timed_out
    assert time.monotonic() - started < 0.5


async def test_no_candidates():
    async def lookup(_):
        raise AssertionError("never called")

    result = await first_hit([], lookup, concurrency=2, deadline=Deadline.after(1))
    assert result.hit is None and result.asked == 0


async def test_a_hit_leaves_no_cancellation_behind():
    """Python 3.11's TaskGroup leaves its parent counted as cancelling when a child's error ends the group;
    the fan-out must not (a later ``asyncio.timeout`` or task group in the caller would misread it)."""
    async def lookup(name: str):
        await asyncio.sleep(0.01 if name == "fast" else 5)
        return name

    result = await first_hit(["slow", "fast"], lookup, concurrency=2, deadline=Deadline.after(5))
    assert result.hit == ("fast", "fast")
    assert asyncio.current_task().cancelling() == 0


async def test_cancelling_the_caller_cancels_every_lookup():
    cancelled: list[int] = []

    async def lookup(i: int):
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(i)
            raise

    task = asyncio.create_task(first_hit([1, 2, 3], lookup, concurrency=3, deadline=Deadline.after(60)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cancelled) == [1, 2, 3]


async def test_an_expired_deadline_runs_nothing_to_completion():
    finished: list[str] = []

    async def lookup(name: str):
        await asyncio.sleep(0)
        finished.append(name)
        return name

    result = await first_hit(["a", "b"], lookup, concurrency=2, deadline=Deadline.after(0))
    assert result.hit is None and result.timed_out and finished == []


# --- gather_bounded, gather_settled, gather_chunked ------------------------------------------------------------


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
