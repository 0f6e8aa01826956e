"""A member sees the request's ``X-Request-Id`` and a W3C ``traceparent`` of the request's trace on every call.

A real gateway in front of real member servers that record the headers they get (``faults.serve``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass

import faults
import pytest
import pytest_asyncio
from faults import Server as Member
from faults import plain_drs, serve
from multidict import CIMultiDict
from servers import Server, start_gateway

from gateway.core.deadline import Deadline
from gateway.core.egress import OPEN
from gateway.core.traceparent import TraceParent, parse
from gateway.members.http import MemberHttp
from gateway.settings.sections import UpstreamConfig

pytestmark = pytest.mark.asyncio(loop_scope="module")

DRS = "/ga4gh/drs/v1"
KNOWN = "dg.TRC1/known"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
DOC = {"id": KNOWN, "size": 1, "created_time": "2024-01-01T00:00:00Z",
       "checksums": [{"type": "md5", "checksum": "0" * 32}], "self_uri": "drs://x/known"}


@dataclass
class Env:
    gateway: Server
    members: list[Member]

    def calls_since(self, before: list[int]) -> list[CIMultiDict[str]]:
        """The headers of every object lookup the members received since :meth:`count` answered ``before``."""
        return [CIMultiDict(headers) for m, n in zip(self.members, before) for _, path, headers in m.hits[n:]
                if path.startswith(f"{DRS}/objects/")]

    def count(self) -> list[int]:
        return [len(m.hits) for m in self.members]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env() -> AsyncIterator[Env]:
    async with AsyncExitStack() as stack:
        one = await stack.enter_async_context(serve(plain_drs({KNOWN: DOC}, delay=0.0)))
        two = await stack.enter_async_context(serve(plain_drs({}, delay=0.0)))
        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
            registry={"members": [
                {"id": "trc1", "name": "trc1", "base_url": one.url, "kind": "drs", "prefixes": ["dg.TRC1"]},
                {"id": "trc2", "name": "trc2", "base_url": two.url, "kind": "drs", "prefixes": ["dg.TRC2"]},
            ]},
            resolver={"cache": False}, health={"interval": 3600.0}, aggregate={"harvest": {"enabled": False}},
        )
        stack.push_async_callback(gateway.stop)
        yield Env(gateway, [one, two])


def sent(headers: Mapping[str, str]) -> TraceParent:
    tp = parse(headers.get("traceparent"))
    assert tp is not None, headers
    return tp


async def test_a_member_gets_the_callers_request_id_and_a_child_of_its_traceparent(env):
    before = env.count()
    r = await env.gateway.client.get(f"{DRS}/objects/{KNOWN}", headers={
        "X-Request-Id": "trace-test-1", "traceparent": f"00-{TRACE}-{SPAN}-01", "tracestate": "congo=t61rcWkgMzE"})
    assert r.status_code == 200, r.text
    calls = env.calls_since(before)
    assert calls, "the member was not called"
    for headers in calls:
        assert headers["X-Request-Id"] == "trace-test-1"
        tp = sent(headers)
        assert (tp.trace_id, tp.span_id != SPAN, tp.sampled) == (TRACE, True, True)
        assert headers["tracestate"] == "congo=t61rcWkgMzE"


async def test_a_fan_out_sends_one_trace_and_a_new_span_per_call(env):
    before = env.count()
    r = await env.gateway.client.get(f"{DRS}/objects/{uuid.uuid4()}", headers={"traceparent": f"00-{TRACE}-{SPAN}-00"})
    assert r.status_code == 404, r.text
    calls = env.calls_since(before)
    assert len(calls) >= 2, calls  # a bare UUID: every member is asked
    spans = [sent(h) for h in calls]
    assert {(s.trace_id, s.flags) for s in spans} == {(TRACE, 0)}  # the caller's decision not to sample is kept
    assert len({s.span_id for s in spans} | {SPAN}) == len(spans) + 1
    assert {h["X-Request-Id"] for h in calls} == {r.headers["X-Request-Id"]}  # the id the gateway chose and echoed


async def test_without_a_valid_traceparent_the_gateway_starts_a_trace(env):
    for given in ({}, {"traceparent": f"00-{'0' * 32}-{SPAN}-01", "tracestate": "a=b"}):
        before = env.count()
        r = await env.gateway.client.get(f"{DRS}/objects/{KNOWN}", headers=given)
        assert r.status_code == 200, r.text
        calls = env.calls_since(before)
        assert calls, calls
        assert len({sent(h).trace_id for h in calls}) == 1 and sent(calls[0]).trace_id not in (TRACE, "0" * 32)
        assert all(h["X-Request-Id"] == r.headers["X-Request-Id"] and "tracestate" not in h for h in calls)


async def test_two_requests_are_two_traces(env):
    before = env.count()
    await env.gateway.client.get(f"{DRS}/objects/{KNOWN}")
    middle = env.count()
    await env.gateway.client.get(f"{DRS}/objects/{KNOWN}")
    first, second = env.calls_since(before)[0], env.calls_since(middle)[0]
    assert sent(first).trace_id != sent(second).trace_id and first["X-Request-Id"] != second["X-Request-Id"]


async def test_each_retry_is_a_new_span_of_the_same_trace():
    config = UpstreamConfig(retries=2, backoff=0.01)
    async with serve(faults.flaky(2)) as member:
        http = MemberHttp("m1", member.url, config, egress=OPEN)
        try:
            response = await http.request("GET", "/thing", Deadline.after(5.0), idempotent=True,
                                          headers={"Accept": "application/json"})
        finally:
            await http.close()
    assert response.status == 200 and len(member.hits) == 3
    hits = [CIMultiDict(headers) for _, _, headers in member.hits]
    spans = [sent(headers) for headers in hits]
    assert len({s.trace_id for s in spans}) == 1 and len({s.span_id for s in spans}) == 3
    assert {headers["X-Request-Id"] for headers in hits} == {spans[0].trace_id}  # no request: its trace
    assert all(headers["Accept"] == "application/json" for headers in hits)
