"""The W3C traceparent grammar (pure) and what one upstream call's headers carry of the request."""

from __future__ import annotations

import re

import pytest

from gateway.core import traceparent
from gateway.core.logs import request_id_var
from gateway.core.propagation import RequestTrace, request_trace, trace_var, upstream_headers
from gateway.core.traceparent import TraceParent, clean_state, parse

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
VALID = f"00-{TRACE}-{SPAN}-01"
V00 = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$")


def test_the_spec_example_parses():
    assert parse(VALID) == TraceParent(TRACE, SPAN, 1)
    assert parse(f"00-{TRACE}-{SPAN}-00") == TraceParent(TRACE, SPAN, 0)
    assert parse(f"  {VALID}\t") == TraceParent(TRACE, SPAN, 1)  # optional whitespace around a header value


@pytest.mark.parametrize("value", [
    None, "", "00", VALID.upper(), f"00-{TRACE.upper()}-{SPAN}-01",
    f"00-{'0' * 32}-{SPAN}-01", f"00-{TRACE}-{'0' * 16}-01",           # all-zero ids
    f"ff-{TRACE}-{SPAN}-01",                                           # the forbidden version
    f"00-{TRACE}-{SPAN}-01-extra", f"00-{TRACE}-{SPAN}-1", f"00-{TRACE}-{SPAN}",  # version 00 is exact
    f"0-{TRACE}-{SPAN}-01", f"00-{TRACE[:-1]}-{SPAN}-01", f"00-{TRACE}-{SPAN[:-1]}-01",
    f"00-{TRACE}-{SPAN}-0g", f"00_{TRACE}_{SPAN}_01", f"zz-{TRACE}-{SPAN}-01",
    f"01-{TRACE}-{SPAN}-01x",                                          # a longer future version needs a '-'
])
def test_an_invalid_traceparent_is_refused(value):
    assert parse(value) is None


def test_a_future_version_is_read_by_its_first_four_fields():
    assert parse(f"cc-{TRACE}-{SPAN}-01") == TraceParent(TRACE, SPAN, 1)
    assert parse(f"cc-{TRACE}-{SPAN}-03-what-the-future-holds") == TraceParent(TRACE, SPAN, 1)  # unknown flags off


def test_what_is_sent_is_version_00_with_known_flags_only():
    assert TraceParent(TRACE, SPAN, 0xFF).header() == f"00-{TRACE}-{SPAN}-01"
    assert TraceParent(TRACE, SPAN, 0).header() == f"00-{TRACE}-{SPAN}-00"


def test_a_child_keeps_the_trace_and_flags_and_takes_a_new_span():
    parent = TraceParent(TRACE, SPAN, 0)
    kids = {parent.child() for _ in range(100)}
    assert {(k.trace_id, k.flags) for k in kids} == {(TRACE, 0)}
    assert len({k.span_id for k in kids}) == 100 and SPAN not in {k.span_id for k in kids}


def test_a_new_trace_is_sampled_and_valid():
    started = traceparent.start()
    assert started.sampled and V00.match(started.header()) and parse(started.header()) == started
    assert traceparent.start().trace_id != started.trace_id


def test_a_request_continues_a_valid_traceparent_and_keeps_its_tracestate():
    trace = request_trace(VALID, "congo=t61rcWkgMzE")
    assert trace.span.trace_id == TRACE and trace.span.span_id != SPAN and trace.state == "congo=t61rcWkgMzE"


def test_a_request_with_an_invalid_traceparent_starts_a_trace_and_drops_tracestate():
    trace = request_trace(f"00-{'0' * 32}-{SPAN}-01", "congo=t61rcWkgMzE")
    assert trace.span.trace_id not in (TRACE, "0" * 32) and trace.state is None and trace.span.sampled


def test_tracestate_is_passed_only_when_short_and_printable():
    assert clean_state("a=1,b=2") == "a=1,b=2"
    assert clean_state("a=" + "x" * 600) is None and clean_state("a=\x00") is None and clean_state("a=é") is None


def test_upstream_headers_carry_the_request_and_a_new_span_per_call():
    rid, trace = request_id_var.set("req-1"), trace_var.set(RequestTrace(TraceParent(TRACE, SPAN, 1), "k=v"))
    try:
        one, two = upstream_headers(), upstream_headers({"Authorization": "Bearer x"})
    finally:
        request_id_var.reset(rid)
        trace_var.reset(trace)
    assert one["X-Request-Id"] == two["X-Request-Id"] == "req-1" and one["tracestate"] == "k=v"
    first, second = parse(one["traceparent"]), parse(two["traceparent"])
    assert first and second and first.trace_id == second.trace_id == TRACE
    assert len({first.span_id, second.span_id, SPAN}) == 3 and two["Authorization"] == "Bearer x"


def test_a_call_outside_any_request_starts_its_own_trace():
    headers = upstream_headers()
    sent = parse(headers["traceparent"])
    assert sent and sent.sampled and headers["X-Request-Id"] == sent.trace_id and "tracestate" not in headers
    assert upstream_headers({"X-Request-Id": "mine"})["X-Request-Id"] == "mine"  # a named header wins


def test_a_request_trace_is_settled_once_on_first_use():
    for sent, state in ((VALID, "congo=t61rcWkgMzE"), (None, "congo=t61rcWkgMzE"), ("garbage", None)):
        trace = request_trace(sent, state)
        span, parent = trace.span, trace.parent
        assert trace.span is span and trace.parent is parent and trace.state == trace.state
        assert (parent is None) == (sent != VALID) and (trace.state is None) == (sent != VALID)
    late = request_trace(VALID, "k=v")  # state asked first: the same settled span after
    assert late.state == "k=v" and late.parent == parse(VALID) and late.span is late.span
    assert RequestTrace(TraceParent(TRACE, SPAN, 1), "k=v") == RequestTrace(TraceParent(TRACE, SPAN, 1), "k=v")
