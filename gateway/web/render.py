"""Rendering JSON responses fast (orjson) and consistently."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web

JSON = "application/json"


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response of plain data (dump pydantic models first, e.g. with :func:`gateway.wire.drs.dump`)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type=JSON, headers=headers)


def json_spliced(
    fields: dict[str, Any], key: str, items: Sequence[bytes], after: dict[str, Any] | None = None
) -> bytes:
    """The JSON of ``{**fields, key: [items…], **after}`` where each item is already JSON bytes, spliced in as they
    are (neither parsed nor rendered again): what ``orjson.dumps`` would write for the same data, byte for byte."""
    head = orjson.dumps(fields)[:-1]
    out = [head, b"," if len(head) > 1 else b"", orjson.dumps(key), b":[", b",".join(items), b"]"]
    if after:
        out += [b",", orjson.dumps(after)[1:-1]]
    out.append(b"}")
    return b"".join(out)
