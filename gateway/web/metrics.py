"""The metrics middleware: every request counted and timed by its route template, method and status.

The route label is the matched aiohttp resource's canonical path (``/ga4gh/drs/v1/objects/{object_id}``), never
the raw path, so the series stay bounded whatever clients send; a request no route matched is ``unmatched``. The
middleware also binds the app's :class:`gateway.core.metrics.Metrics` to the request's context, where members,
caches, the store and the features record through :func:`gateway.core.metrics.current`.
"""

from __future__ import annotations

from time import perf_counter

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from gateway.core.metrics import UNMATCHED, Metrics, bind_token, unbind


def route_template(request: web.Request) -> str:
    """The request's route template (bounded), ``unmatched`` when no route matched."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


def metrics_middleware(metrics: Metrics) -> Middleware:
    """The middleware recording into ``metrics`` (outermost, so it sees the status the client got)."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = perf_counter()
        status = 500
        token = bind_token(metrics)  # not ``with bound(...)``: a generator context manager per request was 5 %
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.request(route_template(request), request.method, status, perf_counter() - started)
            unbind(token)

    return record
