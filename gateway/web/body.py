"""Reading JSON request bodies: 415 for a wrong content type, 413 when too large, 400 when malformed
or invalid against the pydantic model, never 500."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, TypeAdapter, ValidationError

from gateway.core.errors import ApiError
from gateway.web.errors import error_response

M = TypeVar("M")


def _is_json_type(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


async def read_json(request: web.Request, *, allow_empty: bool = False) -> Any:
    """The decoded JSON body. ``allow_empty`` returns ``None`` for an absent body instead of a 400."""
    if not request.body_exists:
        if allow_empty:
            return None
        raise ApiError(400, "a JSON request body is required")
    if not _is_json_type(request.content_type):
        raise ApiError(415, f"expected Content-Type application/json, got {request.content_type or 'none'}")
    try:
        raw = await request.read()  # aiohttp raises 413 past client_max_size
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "request body too large") from None
    if not raw.strip():
        if allow_empty:
            return None
        raise ApiError(400, "a JSON request body is required")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"malformed JSON body: {exc}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each invalid field and why (``bulk_object_ids: field required; ...``)."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "invalid request body: " + "; ".join(parts)


def parse_as(model: type[M], data: Any) -> M:
    """Validate already-decoded JSON against a pydantic model or any type (400 on failure)."""
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model.model_validate(data)
        return TypeAdapter(model).validate_python(data)
    except ValidationError as exc:
        raise ApiError(400, describe_validation_error(exc)) from None


async def read_model(request: web.Request, model: type[M]) -> M:
    """Read the JSON body and validate it against ``model``."""
    return parse_as(model, await read_json(request))


def body_guard(max_body_bytes: int, body_timeout: float) -> Any:
    """A middleware bounding what a client may make the gateway wait for and hold in a request body.

    - ``Content-Length`` above ``max_body_bytes``: 413 at once, before a byte of the body is read (aiohttp would
      otherwise only refuse once a handler reads it, and a handler that never reads would hold the connection).
    - Any body (``Content-Length`` or chunked) is read whole within ``body_timeout`` seconds of the head, before the
      handler runs, or the client gets 408. The read keeps aiohttp's ``client_max_size`` (413 past it, chunked
      too); handlers then read the body already held (``request.read()`` returns it).

    Both answers (the 413 worded as aiohttp's, rendered by the error middleware) close the connection: the rest
    of the body is not waited for (aiohttp discards what arrives for a short lingering time, so the client reads
    the answer first).
    """

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            refused: tuple[int, str] | None = None
            length = request.content_length
            if length is not None and length > max_body_bytes:
                refused = (413, "request body too large")
            else:
                try:
                    async with asyncio.timeout(body_timeout):
                        await request.read()
                except TimeoutError:
                    refused = (408, f"request body not received within {body_timeout:g} s")
                except web.HTTPRequestEntityTooLarge:
                    refused = (413, "request body too large")
            if refused is not None:
                response = error_response(request.path, *refused)
                response.force_close()
                return response
        return await handler(request)

    return guard
