"""What the export job tests share: a gateway started for exports, a member whose row pages can be held back (a
real proxy in front of a real reference commons), and polling helpers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
from aiohttp import web
from faults import STATE, recording_app, serve
from servers import Server, _serve, free_port, start_commons

from gateway.app import create_app
from gateway.settings.gateway import Settings
from gateway.web.routes.export import PATH
from gateway.web.routes.search import PATH as COHORT_PATH

OPEN_PROJECTS = ("AAA1-OPEN", "BBB2-OPEN", "CCC3-OPEN")
OPEN = {"in": {"project_id": list(OPEN_PROJECTS)}}
"""Open data only (what an anonymous caller may access); a filter keeps the members' totals unhidden."""
NOTHING = {"=": {"subject_id": "no-such-subject"}}
SESSION = web.AppKey("session", aiohttp.ClientSession)


def gated(upstream: str) -> web.Application:
    """A member that forwards everything to ``upstream`` (a reference commons), except that a Guppy page of rows
    waits until ``app[STATE]["gate"]`` is set, and then fails (500) while ``app[STATE]["fail"]`` is true.
    ``app[STATE]["rows"]`` counts the row pages asked for."""
    async def handler(request: web.Request) -> web.Response:
        state = request.app[STATE]
        body = await request.read()
        if b"rows:" in body:
            state["rows"] += 1
            await state["gate"].wait()
            if state["fail"]:
                return web.json_response({"error": "rows failed"}, status=500)
        headers = {k: v for k in ("Content-Type", "Authorization") if (v := request.headers.get(k))}
        async with request.app[SESSION].request(request.method, upstream + request.path_qs, data=body or None,
                                                headers=headers) as answer:
            return web.Response(body=await answer.read(), status=answer.status,
                                content_type=answer.content_type)

    gate = asyncio.Event()
    gate.set()
    app = recording_app([web.route("*", "/{tail:.*}", handler)], gate=gate, fail=False, rows=0)

    async def session(app: web.Application):  # type: ignore[no-untyped-def]
        app[SESSION] = aiohttp.ClientSession()
        yield
        await app[SESSION].close()

    app.cleanup_ctx.append(session)
    return app


async def members_behind_gate(stack: AsyncExitStack, seeds: tuple[int, int, int],
                              subjects: int) -> tuple[list[dict[str, Any]], Any]:
    """Three reference commons (``dg.AAA1``, ``dg.BBB2``, ``dg.CCC3`` with ``seeds``), the third behind
    :func:`gated`, all stopped with ``stack``: the members' settings and the proxy (``proxy.app[STATE]``)."""
    commons = []
    for prefix, seed in zip(("dg.AAA1", "dg.BBB2", "dg.CCC3"), seeds, strict=True):
        server = await start_commons(prefix, seed, subjects)
        stack.push_async_callback(server.stop)
        commons.append(server)
    proxy = await stack.enter_async_context(serve(gated(commons[2].base_url)))
    return [member("aaa1", commons[0].base_url), member("bbb2", commons[1].base_url), member("ccc3", proxy.url)], proxy


def member(mid: str, url: str) -> dict[str, Any]:
    return {"id": mid, "name": mid, "base_url": url, "kind": "gen3", "prefixes": [f"dg.{mid}"]}


def settings(members: list[dict[str, Any]], *, store: dict[str, Any], cache: dict[str, Any] | None = None,
             port: int = 0, **export: Any) -> dict[str, Any]:
    """The gateway's settings as plain data (a long deadline and read timeout: a held-back page must not time out,
    however loaded the machine)."""
    return {
        "port": port, "store": store, "cache": cache or {"url": "memory://"}, "refcommons": {"enabled": False},
        "registry": {"members": members}, "health": {"interval": 3600.0},
        "upstream": {"retries": 0, "read_timeout": 60.0},
        "aggregate": {"deadline": 30.0, "harvest": {"enabled": False}, "max_page": 10,
                      "export": {"heartbeat": 0.1, "lost_after": 1.0, **export}},
    }


async def start_export_gateway(members: list[dict[str, Any]], **kw: Any) -> Server:
    port = free_port()
    app = await create_app(Settings(**settings(members, port=port, **kw)))
    runner, client, base = await _serve(app, port)
    return Server(base, port, client, runner, app)


async def eventually(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 15.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if value := await check():
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def job_in(server: Server, url: str, *statuses: str) -> dict[str, Any]:
    """The job document once its status is one of ``statuses``."""
    async def check() -> dict[str, Any] | None:
        r = await server.client.get(url)
        assert r.status_code == 200, r.text
        doc = r.json()
        return doc if doc["status"] in statuses else None

    return await eventually(check, f"job status in {statuses}")


async def start_job(server: Server, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    r = await server.client.post(PATH, json={"delivery": "job", **body})
    assert r.status_code == 202, r.text
    assert r.headers["location"] == r.json()["status_url"]
    return r.headers["location"], r.json()


async def accessible_total(server: Server, index: str, flt: Any) -> int:
    r = await server.client.post(COHORT_PATH, json={"index": index, "filter": flt, "accessibility": "accessible"})
    assert r.status_code == 200, r.text
    return r.json()["total"]["count"]
