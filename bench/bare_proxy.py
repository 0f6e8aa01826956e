"""The floor of a proxy: a bare aiohttp app (no middleware) that forwards ``GET /<path>`` to a member's ``/<path>``
through the members' own HTTP/1.1 client (:class:`gateway.core.http1.Http1Session`, under the gateway's default
egress policy) and answers the member's bytes. No policy above the client (no deadline but a flat timeout, no retries,
no lookups, no rendering, no metrics, no logs): what any Python gateway on aiohttp pays to be in the path at all.

``python bench/bare_proxy.py PORT MEMBER_URL``
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from aiohttp import web
from yarl import URL

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gateway.app import egress_policy
from gateway.core.http1 import Http1Session
from gateway.settings.gateway import Settings

LIMIT = 1_048_576


def make_app(member: str) -> web.Application:
    session = Http1Session(egress_policy(Settings()))
    base = member.rstrip("/")

    async def forward(request: web.Request) -> web.Response:
        async with asyncio.timeout(10.0):
            answer = await session.request("GET", URL(base + request.raw_path, encoded=True), headers={}, body=None,
                                           connect_timeout=3.0, limit=LIMIT)
        return web.Response(body=answer.body, status=answer.status, content_type="application/json")

    async def close(_: web.Application) -> None:
        await session.close()

    app = web.Application()
    app.router.add_get("/{tail:.*}", forward)
    app.on_cleanup.append(close)
    return app


if __name__ == "__main__":
    web.run_app(make_app(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
