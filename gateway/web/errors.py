"""JSON errors for every failure, in the shape the route's clients expect.

Routes under a ``/ga4gh/`` path segment answer with the GA4GH DRS ``Error`` shape
``{"msg": str, "status_code": int}``; the DRSHub-compatible routes under ``/api/v4/`` answer DRSHub's
``{"message": str, "statusCode": int}``; every other route answers ``{"error": str, "status_code": int}``
(a superset of indexd's ``{"error": str}``). aiohttp's own plain-text 404/405/413 never reach a client:
:func:`error_middleware` renders them as JSON too.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.core.errors import ApiError

log = logging.getLogger("gateway.http")

DRS_SEGMENT = "/ga4gh/"
DRSHUB_PREFIX = "/api/v4/"

PARSER_LIMITS = {"max_line_size": 32 * 1024, "max_field_size": 16 * 1024}
"""``handler_args`` for ``web.Application``: aiohttp answers a request line or header past its parser limits
(8190 bytes by default) itself, in plain text, before any middleware runs. These limits let realistic long
ids (an 8 KB id, percent-encoded) and large bearer tokens reach the app, so they get a JSON error."""


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
