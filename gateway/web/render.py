"""Rendering JSON responses fast (orjson) and consistently."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

JSON = "application/json"


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response; pydantic models should be dumped by the caller (``model_dump(mode='json', exclude_none=True)``)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON, headers=headers)
