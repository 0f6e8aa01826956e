"""JSON errors for every failure, in the shape the route's clients expect.

Routes under a ``/ga4gh/`` path segment answer with the GA4GH DRS ``Error`` shape
``{"msg": str, "status_code": int}``; the DRSHub-compatible routes under ``/api/v4/`` answer DRSHub's
``{"message": str, "statusCode": int}``; every other route answers ``{"error": str, "status_code": int}``
(a superset of indexd's ``{"error": str}``). aiohttp's own plain-text 404/405/413 never reach a client:
:func:`error_middleware` renders them as JSON too.

A store failure (:class:`~gateway.store.base.StoreError` reaching the edge: the store's backend did not answer, or
a write kept conflicting) is mapped here, in one place, to ``503`` with ``Retry-After`` (``store.retry_after``
seconds, kept under :data:`STORE_RETRY_AFTER`), in the route family's shape, never a 500 and never the backend's
address. Routes that need no store never meet it and keep answering.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.core.errors import ApiError
from gateway.store.base import StoreError

log = logging.getLogger("gateway.http")

STORE_RETRY_AFTER = web.AppKey("store_retry_after", int)
"""``Retry-After`` seconds of the 503 answered for a store failure (the app sets ``store.retry_after``)."""
DEFAULT_STORE_RETRY_AFTER = 5
STORE_UNAVAILABLE = "the gateway's store is unavailable; retry later"

DRS_SEGMENT = "/ga4gh/"
DRSHUB_PREFIX = "/api/v4/"

PARSER_LIMITS = {"max_line_size": 32 * 1024, "max_field_size": 16 * 1024}
"""``handler_args`` for ``web.Application``: aiohttp answers a request line or header past its parser limits
(8190 bytes by default) itself, in plain text, before any middleware runs. These limits let realistic long
ids (an 8 KB id, percent-encoded) and large bearer tokens reach the app, so they get a JSON error."""


@dataclass(eq=False)
class _Throttle:
    """Whether a repeated warning is due: at most once every ``every`` seconds (a dead store fails every request;
    the access log has each one)."""

    every: float = 60.0
    last: float = field(default=-math.inf)

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last < self.every:
            return False
        self.last = now
        return True


_store_warnings = _Throttle()


def is_drs_path(path: str) -> bool:
    return DRS_SEGMENT in path or path.startswith(DRS_SEGMENT.rstrip("/") + "/")


def error_body(path: str, status: int, message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON body of an error on ``path`` (pure: the shape depends only on the route family), plus ``extra``."""
    if is_drs_path(path):
        body: dict[str, Any] = {"msg": message, "status_code": status}
    elif path.startswith(DRSHUB_PREFIX):
        body = {"message": message, "statusCode": status}
    else:
        body = {"error": message, "status_code": status}
    return {**body, **extra} if extra else body


def error_response(
    path: str, status: int, message: str, headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(error_body(path, status, message, extra)),
        content_type="application/json",
        headers=headers,
    )


_REASONS = {
    404: "no such route",
    405: "method not allowed on this route",
    413: "request body too large",
}


def _http_exception_message(exc: web.HTTPException) -> str:
    text = exc.text or ""
    if text and not text.startswith(f"{exc.status}:"):
        return text
    return _REASONS.get(exc.status, exc.reason)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into JSON: :class:`ApiError`, aiohttp's HTTP exceptions and unexpected bugs."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(request.path, exc.status, exc.message, exc.headers, exc.extra)
    except StoreError as exc:
        if _store_warnings.due():
            log.warning("store unavailable: routes that need it answer 503 (logged at most once a minute)",
                        extra={"path": request.path, "error": str(exc)})
        retry_after = request.config_dict.get(STORE_RETRY_AFTER, DEFAULT_STORE_RETRY_AFTER)
        return error_response(request.path, 503, STORE_UNAVAILABLE, {"Retry-After": str(retry_after)})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and the like pass through untouched
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after", "www-authenticate")}
        if exc.status == 413:
            return error_response(request.path, 413, "request body too large", headers)
        return error_response(request.path, exc.status, _http_exception_message(exc), headers)
    except Exception:  # a bug: log it with the request id, answer JSON 500 without internals
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return error_response(request.path, 500, "internal server error")
