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

from gateway.core.logs import request_id_var
from gateway.core.traceparent import HEADER as TRACEPARENT
from gateway.core.traceparent import STATE_HEADER as TRACESTATE
from gateway.core.traceparent import TraceParent, clean_state, parse, start

REQUEST_ID = "X-Request-Id"


class RequestTrace:
    """The span serving the current request, and the ``tracestate`` its caller sent (if any).

    Built from a request's headers (:meth:`of_request`) it is *lazy*: the caller's headers are parsed on first use
    and the request's span made only when asked for (an upstream call), so a request that calls no member pays only
    for this holder, and the server span (:mod:`gateway.web.tracing`, which asks for the caller's span and state
    only) makes no ids of ours. Built from a span (``RequestTrace(span, state, parent)``) it is settled at once."""

    __slots__ = ("_parent", "_parsed", "_span", "_state", "_traceparent", "_tracestate")

    def __init__(self, span: TraceParent, state: str | None = None, parent: TraceParent | None = None) -> None:
        self._span: TraceParent | None = span
        self._state = state
        self._parent = parent
        self._parsed = True
        self._traceparent: str | None = None
        self._tracestate: str | None = None

    @classmethod
    def of_request(cls, traceparent: str | None, tracestate: str | None) -> RequestTrace:
        """The (lazy) trace of a request whose caller sent these headers."""
        trace = cls.__new__(cls)
        trace._span = None
        trace._parsed = False
        trace._traceparent = traceparent
        trace._tracestate = tracestate
        return trace

    def _parse(self) -> None:
        parent = self._parent = parse(self._traceparent)
        self._state = clean_state(self._tracestate) if parent is not None else None
        self._parsed = True

    @property
    def span(self) -> TraceParent:
        """The request's span: a child of the caller's valid ``traceparent``, else a new trace's first."""
        span = self._span
        if span is None:
            if not self._parsed:
                self._parse()
            span = self._span = self._parent.child() if self._parent is not None else start()
        return span

    @property
    def state(self) -> str | None:
        """The caller's ``tracestate`` (only with a valid ``traceparent``, when printable and short enough)."""
        if not self._parsed:
            self._parse()
        return self._state

    @property
    def parent(self) -> TraceParent | None:
        """The caller's span (its valid ``traceparent``), if any: the server span's parent
        (:mod:`gateway.core.otel`)."""
        if not self._parsed:
            self._parse()
        return self._parent

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestTrace):
            return NotImplemented
        return (self.span, self.state, self.parent) == (other.span, other.state, other.parent)

    def __hash__(self) -> int:
        return hash((self.span, self.state, self.parent))

    def __repr__(self) -> str:
        return f"RequestTrace(span={self.span!r}, state={self.state!r}, parent={self.parent!r})"


def request_trace(traceparent: str | None, tracestate: str | None) -> RequestTrace:
    """The trace of a request whose caller sent these headers: a child span of a valid ``traceparent`` (with the
    caller's ``tracestate``, when printable and short enough), else a new trace (any ``tracestate`` dropped). Lazy:
    settled on first use (:meth:`RequestTrace.of_request`)."""
    return RequestTrace.of_request(traceparent, tracestate)


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
