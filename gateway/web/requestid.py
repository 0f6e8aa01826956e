"""Request ids and access logging.

A client's ``X-Request-Id`` is kept when it is a sane token (printable, at most 128 characters);
otherwise a new one is generated. It is echoed in the response's ``X-Request-Id`` header and set in
:data:`gateway.core.logs.request_id_var` so every log line of the request carries it. One access-log line
per request records method, path (query scrubbed), status and duration, never headers or bodies.

The request's trace is set here too (:data:`gateway.core.propagation.trace_var`): the caller's valid W3C
``traceparent`` is continued (and its ``tracestate`` kept), an absent or invalid one starts a new trace; every call
to a member then carries the request's id and trace (:func:`gateway.core.propagation.upstream_headers`). The trace is
lazy: its ids are made on first use, so a request answered without calling a member (a cache hit) makes none.
"""

from __future__ import annotations

import logging
import re
import time

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.core.logs import log_access, request_id_var
from gateway.core.prng import seeded
from gateway.core.propagation import TRACEPARENT, TRACESTATE, RequestTrace, trace_var

HEADER = "X-Request-Id"
_SANE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
access_log = logging.getLogger("gateway.access")
_ids = seeded(32)
"""Request ids need to be unique, not secret: a seeded PRNG avoids a system call per request."""


def choose_request_id(supplied: str | None) -> str:
    """The client's id when it is sane, else a fresh random one (pure apart from randomness)."""
    if supplied and _SANE.match(supplied):
        return supplied
    return f"{_ids.getrandbits(128):032x}"


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = choose_request_id(request.headers.get(HEADER))
    token = request_id_var.set(rid)
    trace_token = trace_var.set(RequestTrace.of_request(request.headers.get(TRACEPARENT),
                                                          request.headers.get(TRACESTATE)))
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers[HEADER] = rid
        return response
    except web.HTTPException as exc:
        status = exc.status
        exc.headers[HEADER] = rid
        raise
    finally:
        if not access_log.disabled:  # the path is redacted by the formatter, like every other field
            log_access(access_log, request.method, request.raw_path, status,
                       round((time.perf_counter() - started) * 1000, 2), request.remote)
        request_id_var.reset(token)
        trace_var.reset(trace_token)
