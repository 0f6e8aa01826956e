"""The fan-out: first hit wins, losers cancelled, bounded concurrency, failures collected, deadline kept."""

from __future__ import annotations

import asyncio
import time

from gateway.core.concurrency import first_hit
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
