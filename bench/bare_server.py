"""The baseline: a bare aiohttp app answering fixed bytes at fixed paths (no middleware, no lookups).

``python bench/bare_server.py PORT BODIES.json [--reuse-port]`` where BODIES.json maps a path to a JSON body text;
``--reuse-port``: listen with ``SO_REUSEPORT``, so several copies share the port (the multi-process baseline).
"""

from __future__ import annotations

import json
import sys

from aiohttp import web


def make_app(bodies: dict[str, str]) -> web.Application:
    app = web.Application()
    for path, text in bodies.items():
        payload = text.encode()

        async def handler(_: web.Request, payload: bytes = payload) -> web.Response:
            return web.Response(body=payload, content_type="application/json")

        app.router.add_get(path, handler)
    return app


if __name__ == "__main__":
    port, bodies_file = int(sys.argv[1]), sys.argv[2]
    with open(bodies_file) as f:
        bodies = json.load(f)
    web.run_app(make_app(bodies), host="127.0.0.1", port=port, access_log=None, print=None,
                reuse_port="--reuse-port" in sys.argv[3:])
