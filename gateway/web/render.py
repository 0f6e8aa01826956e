"""Rendering JSON responses fast (orjson) and consistently."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

JSON = "application/json"


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response of plain data (dump pydantic models first, e.g. with :func:`gateway.wire.drs.dump`)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON, headers=headers)
