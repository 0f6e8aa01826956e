"""What a call to a member carries of the request it serves: ``X-Request-Id``, ``traceparent`` and ``tracestate``.

The web edge (:mod:`gateway.web.requestid`) sets, per request, :data:`gateway.core.logs.request_id_var` (the
request's id) and :data:`trace_var` (the span serving the request: a child of the caller's valid ``traceparent``,
else a new trace's first, :func:`gateway.core.traceparent.continue_or_start`; and the caller's ``tracestate``).
:func:`upstream_headers` turns them into the headers of one upstream call, so a member logs the same id and joins the
same trace:

* ``X-Request-Id``: the request's id. A call made outside any request (the health prober, the harvester, a job
  runner) gets a trace of its own (:func:`own_trace`, shared by its retries), and its trace id as its request id.
* ``traceparent``: the request's trace id with a **new parent id per call** (each call is its own span).
* ``tracestate``: the caller's, passed on unchanged, only with its ``traceparent``.

Headers the caller of :func:`upstream_headers` names win (an adapter may set its own ``X-Request-Id``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.core.logs import request_id_var
from gateway.core.traceparent import HEADER as TRACEPARENT
from gateway.core.traceparent import STATE_HEADER as TRACESTATE
from gateway.core.traceparent import TraceParent, clean_state, parse, start

REQUEST_ID = "X-Request-Id"


@dataclass(frozen=True, slots=True)
class RequestTrace:
    """The span serving the current request, and the ``tracestate`` its caller sent (if any)."""

    span: TraceParent
    state: str | None = None
    parent: TraceParent | None = None
    """The caller's span (its valid ``traceparent``), if any: the server span's parent (:mod:`gateway.core.otel`)."""


def request_trace(traceparent: str | None, tracestate: str | None) -> RequestTrace:
    """The trace of a request whose caller sent these headers: a child span of a valid ``traceparent`` (with the
    caller's ``tracestate``, when printable and short enough), else a new trace (any ``tracestate`` dropped)."""
    parent = parse(traceparent)
    if parent is None:
        return RequestTrace(start())
    return RequestTrace(parent.child(), clean_state(tracestate), parent)


trace_var: contextvars.ContextVar[RequestTrace | None] = contextvars.ContextVar("request_trace", default=None)


def own_trace() -> contextvars.Token[RequestTrace | None] | None:
    """Outside any request, start a trace for one upstream call (its attempts and redirects share it) and answer the
    token to reset :data:`trace_var` with when the call ends; inside a request, ``None`` (nothing to undo)."""
    if trace_var.get() is not None:
        return None
    return trace_var.set(RequestTrace(start()))


def upstream_headers(headers: Mapping[str, str] | None = None, call: TraceParent | None = None) -> dict[str, str]:
    """The headers of one upstream call: the request's id and a new span of its trace (``call``: that span, when a
    span pipeline made it), then ``headers``."""
    current = trace_var.get()
    if call is None:
        call = current.span.child() if current is not None else start()
    rid = request_id_var.get() or call.trace_id
    out = {REQUEST_ID: rid, TRACEPARENT: call.header()}
    if current is not None and current.state:
        out[TRACESTATE] = current.state
    if headers:
        out.update(headers)
    return out


__all__ = [
    "REQUEST_ID", "TRACEPARENT", "TRACESTATE", "RequestTrace", "own_trace", "request_trace", "trace_var",
    "upstream_headers",
]
