"""The server span of each request, when tracing is on (:mod:`gateway.core.otel`); not in the chain when it is off.

Runs inside :func:`gateway.web.requestid.request_id_middleware`, which set the request's trace: the span's parent is
the caller's ``traceparent`` (if valid; else the span starts a new trace), and the request's trace becomes the span's
own ids, so every call to a member is a child of this span. The span is named by the matched route's template
(``GET /ga4gh/drs/v1/objects/{object_id}``), never the raw path, and carries the method, route and status.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.core.otel import Spans
from gateway.core.propagation import RequestTrace, trace_var


def _route(request: web.Request) -> str:
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


def tracing_middleware(spans: Spans) -> Middleware:
    """The middleware making a server span per request through ``spans``."""

    @web.middleware
    async def server_span(request: web.Request, handler: Handler) -> web.StreamResponse:
        current = trace_var.get()
        route = _route(request)
        raised: web.HTTPException | None = None  # an answer raised (404, 405…), not a failure: re-raised after
        with spans.span(f"{request.method} {route}", current.parent if current else None, server=True,
                        **{"http.request.method": request.method, "http.route": route}) as call:
            token = trace_var.set(RequestTrace(call.trace, current.state if current else None,
                                               current.parent if current else None))
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                raised = exc
            finally:
                trace_var.reset(token)
            call.answered(raised.status if raised is not None else response.status)
        if raised is not None:
            raise raised
        return response

    return server_span
