"""A busy member's one-id lookups go out together (``resolver.coalesce_after``, :mod:`gateway.resolver.coalescing`),
against real members on loopback with every request they receive counted: lookups past the member's calls under way
queue and share its bulk call, a lone id keeps its single-record call, each lookup keeps its own deadline and gets its
own record or 404, and a member's failure is every lookup's failure, as it would have been alone."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiohttp import web
from faults import recording_app
from prometheus_client.parser import text_string_to_metric_families
from resolver_federation import resolver_federation

from gateway.core.deadline import Deadline
from gateway.resolver.outcomes import Resolution, ResolutionError


def uncached(coalesce_after: int | None = None) -> dict[str, Any]:
    """Every lookup reaches its member (the cache would answer repeats)."""
    extra = {} if coalesce_after is None else {"coalesce_after": coalesce_after}
    return {"resolver": {"cache": False, **extra}}


def grown(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


def coalesced(exposition: str, member: str) -> dict[str, float]:
    """``gateway_coalesced_lookups``' count and sum for ``member`` in a /metrics text (zeros when absent)."""
    out = {"count": 0.0, "sum": 0.0}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name.startswith("gateway_coalesced_lookups_") and sample.labels.get("member") == member:
                out[sample.name.rsplit("_", 1)[1]] = sample.value
    return out


BUSY_FOR = 0.5
"""Seconds the member takes per call where a test needs every lookup to reach the resolver while the first calls are
under way (a lookup arriving once the member is idle again rightly goes out on its own: a loaded clean clone once
stalled the lookups past a 0.1 s call, and the third went out alone)."""


async def test_lookups_past_the_calls_under_way_share_the_members_bulk_call():
    async with resolver_federation(subjects=12, x_delay=BUSY_FOR, **uncached(coalesce_after=2)) as fed:
        xs, ys = fed.guids(fed.x, 20), fed.guids(fed.y, 3)
        before = fed.calls()
        done = await asyncio.gather(*(fed.resolver.resolve(g) for g in [*xs, *ys]))
        assert [r.record.id for r in done] == [*xs, *ys]
        assert [r.member.id for r in done] == ["x"] * len(xs) + ["y"] * len(ys)
        calls = grown(before, fed.calls())
        assert calls["x_get"] <= 2 and calls["x_bulk"] >= 1 and calls["x_get"] + calls["x_bulk"] <= len(xs) / 4, calls
        assert calls.get("y_get", 0) + calls.get("y_bulk", 0) <= len(ys)  # each member's own calls


async def test_concurrent_requests_over_http_each_get_their_own_answer_in_fewer_calls():
    async with resolver_federation(subjects=12, x_delay=BUSY_FOR, **uncached(coalesce_after=1)) as fed:
        xs = fed.guids(fed.x, 16)
        before = fed.calls()
        answers = await asyncio.gather(*(fed.gateway.client.get("/resolver/v1/resolve", params={"id": g})
                                         for g in xs))
        assert [(a.status_code, a.json()["id"], a.json()["record"]["did"]) for a in answers] == [
            (200, g, g) for g in xs]
        calls = grown(before, fed.calls())
        assert calls.get("x_bulk", 0) >= 1 and calls.get("x_get", 0) + calls["x_bulk"] <= len(xs) / 4, calls
        # /metrics tells an operator how much was coalesced: one observation per queued batch, each at most the ids
        # asked, at least one batch of two or more (the member's bulk calls)
        batches = coalesced((await fed.gateway.client.get("/metrics")).text, "x")
        assert batches["count"] >= calls["x_bulk"] and batches["count"] <= calls["x_bulk"] + calls.get("x_get", 0)
        assert 2 * calls["x_bulk"] <= batches["sum"] <= len(xs), (batches, calls)


async def test_a_lone_lookup_keeps_the_single_record_call():
    async with resolver_federation(**uncached()) as fed:
        guid = fed.guids(fed.x, 1)[0]
        before = fed.calls()
        assert (await fed.resolver.resolve(guid)).record.id == guid
        assert grown(before, fed.calls()) == {"x_get": 1}


async def test_an_id_the_member_lacks_is_a_404_for_that_lookup_only():
    async with resolver_federation(x_delay=0.2, **uncached(coalesce_after=1)) as fed:
        first, *held = fed.guids(fed.x, 3)
        missing = f"dg.RX01/{uuid.uuid4()}"
        busy = asyncio.ensure_future(fed.resolver.resolve(first))  # the call under way: the rest queue
        await asyncio.sleep(0.05)
        before = fed.calls()
        done = await asyncio.gather(*(fed.resolver.resolve(g) for g in [held[0], missing, held[1]]),
                                    return_exceptions=True)
        assert (await busy).record.id == first
        assert isinstance(done[0], Resolution) and done[0].record.id == held[0]
        assert isinstance(done[2], Resolution) and done[2].record.id == held[1]
        assert isinstance(done[1], ResolutionError) and done[1].status == 404
        assert grown(before, fed.calls()) == {"x_bulk": 1}  # the three queued ids in one call


async def test_each_lookup_keeps_its_own_deadline():
    async with resolver_federation(x_delay=0.6, **uncached(coalesce_after=1)) as fed:
        first, hurried, patient = fed.guids(fed.x, 3)
        loop = asyncio.get_running_loop()
        busy = asyncio.ensure_future(fed.resolver.resolve(first, Deadline.after(5.0)))  # answered at ~0.6 s
        await asyncio.sleep(0.05)
        before = fed.calls()
        started = loop.time()

        async def timed(guid: str, seconds: float) -> tuple[Resolution | BaseException, float]:
            try:
                outcome: Resolution | BaseException = await fed.resolver.resolve(guid, Deadline.after(seconds))
            except ResolutionError as exc:
                outcome = exc
            return outcome, loop.time() - started

        (short, short_took), (long, long_took) = await asyncio.gather(timed(hurried, 0.9), timed(patient, 5.0))
        assert (await busy).record.id == first
        assert isinstance(short, ResolutionError) and short.status == 504, short
        assert short_took < 1.5, short_took  # its own deadline, not the shared call's (5 s)
        assert isinstance(long, Resolution) and long.record.id == patient  # not cut short by the other's deadline
        assert long_took >= 1.0  # queued behind the first call (0.6 s), then its own (0.6 s)
        assert grown(before, fed.calls()) == {"x_bulk": 1}  # the two queued lookups went out together


async def test_a_lookup_queued_past_its_deadline_is_not_asked():
    async with resolver_federation(x_delay=0.6, **uncached(coalesce_after=1)) as fed:
        first, late = fed.guids(fed.x, 2)
        busy = asyncio.ensure_future(fed.resolver.resolve(first, Deadline.after(5.0)))
        await asyncio.sleep(0.05)
        before = fed.calls()
        try:
            await fed.resolver.resolve(late, Deadline.after(0.2))
        except ResolutionError as exc:
            assert exc.status == 504
        else:
            raise AssertionError("answered past its deadline")
        await busy
        await asyncio.sleep(0.1)  # the first call's end sends the queue: nothing is left in it to ask
        assert grown(before, fed.calls()) == {}


def slow_failure() -> web.Application:
    """A member answering 500 to everything, 0.2 s late."""
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(0.2)
        return web.json_response({"error": "internal error"}, status=500)

    return recording_app([web.route("*", "/{tail:.*}", handler)])


async def test_a_members_failure_is_the_failure_of_every_lookup_it_carried():
    async with resolver_federation(extra_members={"uw01": slow_failure()}, **uncached(coalesce_after=1)) as fed:
        sick = fed.extra["uw01"]
        ids = [f"dg.uw01/{uuid.uuid4()}" for _ in range(4)]
        done = await asyncio.gather(*(fed.resolver.resolve(i) for i in ids), return_exceptions=True)
        assert all(isinstance(e, ResolutionError) and e.status == 502 and "uw01" in e.message for e in done), done
        assert (sick.count("/index/index/", method="GET"), sick.count("/index/bulk/documents", method="POST")) == (1, 1)


async def test_with_coalescing_off_each_lookup_is_its_own_call():
    async with resolver_federation(**uncached(coalesce_after=0)) as fed:
        xs = fed.guids(fed.x, 6)
        before = fed.calls()
        done = await asyncio.gather(*(fed.resolver.resolve(g) for g in xs))
        assert [r.record.id for r in done] == xs
        assert grown(before, fed.calls()) == {"x_get": len(xs)}
