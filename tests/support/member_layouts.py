"""Real servers that lay a reference commons' services out the way real deployments do, for the member-endpoint tests:

* :func:`start_bare_indexd`: indexd as shipped (uc-cdis/indexd under gunicorn), at its own root: ``/index?limit=``,
  ``/index/{guid}``, ``/bulk/documents``, ``/_status`` and ``/ga4gh/drs/v1/…`` — no fence, so the DRS access route
  answers 500 as indexd does without one — and Flask's HTML 404 page for every other path. ``broken = True`` turns
  every route but ``/_status`` into that HTML 404 (a layout that stopped answering).
* :func:`start_fence_apart`: fence alone on its own port (``/data/download/{guid}``, ``/user``, …).

Both relay to a real reference commons in Gen3's one-host layout (``<commons>/index/…``, ``<commons>/user/…``) and
count what they were asked (``seen``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from aiohttp import web
from registry_kit import serve

FLASK_404 = ("<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n<p>The requested URL "
             "was not found on the server.</p>\n")
INDEXD_ROUTES = ("/_status", "/_version", "/_stats", "/index", "/index/", "/bulk/documents")


@dataclass
class Relay:
    base_url: str
    runner: web.AppRunner
    seen: list[str] = field(default_factory=list)
    broken: bool = False

    @property
    def hostname(self) -> str:
        return self.base_url.removeprefix("http://")

    async def stop(self) -> None:
        await self.runner.cleanup()


def _html_404() -> web.Response:
    return web.Response(status=404, text=FLASK_404, content_type="text/html")


async def _start(commons_url: str, where: Callable[[Relay, str], str | web.Response]) -> Relay:
    client = httpx.AsyncClient(timeout=10)
    relay: Relay

    async def handle(request: web.Request) -> web.StreamResponse:
        relay.seen.append(f"{request.method} {request.raw_path}")
        target = where(relay, request.raw_path)
        if isinstance(target, web.Response):
            return target
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "authorization")}
        answer = await client.request(request.method, commons_url + target, content=await request.read(),
                                      headers=headers)
        return web.Response(status=answer.status_code, body=answer.content,
                            content_type=(answer.headers.get("content-type") or "application/json").split(";")[0])

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)

    async def close(_: web.Application) -> None:
        await client.aclose()

    app.on_cleanup.append(close)
    runner, base = await serve(app)
    relay = Relay(base, runner)
    return relay


def _as_indexd(relay: Relay, raw_path: str) -> str | web.Response:
    path = raw_path.partition("?")[0]
    if relay.broken and path != "/_status":
        return _html_404()
    if path.startswith("/ga4gh/drs/v1/objects/") and "/access/" in path:
        return web.json_response({"error": "fence is not configured"}, status=500)
    if path.startswith("/ga4gh/"):
        return raw_path
    if path in INDEXD_ROUTES or path.startswith("/index/"):
        return "/index" + raw_path
    return _html_404()


async def start_bare_indexd(commons_url: str) -> Relay:
    """indexd alone at its root, over the reference commons at ``commons_url``."""
    return await _start(commons_url, _as_indexd)


async def start_fence_apart(commons_url: str) -> Relay:
    """fence alone on its own port, over the reference commons at ``commons_url``."""
    return await _start(commons_url, lambda relay, raw: "/user" + raw)


__all__ = ["FLASK_404", "Relay", "start_bare_indexd", "start_fence_apart"]
