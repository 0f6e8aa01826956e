"""Helpers of the registry tests (a uniquely named module: test directories are not packages)."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from ports import free_port

from refcommons.app import build_app
from refcommons.commons import ReferenceCommons
from refcommons.settings import CommonsSettings

ADMIN_TOKEN = "admin-s3cret-token"
TESTS = Path(__file__).resolve().parents[1]


def _sibling(relative: str, name: str) -> Any:
    """A module of the test tree by path (test dirs are not packages): reuse, do not copy."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TESTS / relative)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


run_gateway = _sibling("gateway/conftest.py", "_registry_tests_gateway_conftest").run_gateway


async def serve(app: web.Application, port: int | None = None) -> tuple[web.AppRunner, str]:
    port = port or free_port()
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5, handler_cancellation=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


@dataclass
class Candidate:
    """A standalone reference commons on loopback."""

    prefix: str
    base_url: str
    runner: web.AppRunner
    stopped: bool = False

    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    async def stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            await self.runner.cleanup()


async def start_candidate(prefix: str = "dg.TST1", port: int | None = None) -> Candidate:
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    commons = await ReferenceCommons.open(CommonsSettings(prefix=prefix, seed=7, subjects=5, base_url=base))
    runner, _ = await serve(build_app(commons), port)
    return Candidate(prefix, base, runner)


# --- the fault server ----------------------------------------------------------------------------------

HUGE = 200_000


async def _fault(request: web.Request) -> web.StreamResponse:
    mode, _, rest = request.match_info["tail"].partition("/")
    path = "/" + rest
    if mode == "hang":
        await asyncio.sleep(3600)
    if mode == "e500":
        return web.json_response({"error": "boom"}, status=500)
    if mode == "huge":
        return web.json_response({"pad": "x" * HUGE})
    if mode == "stream":  # chunked, no Content-Length: the cap must stop reading
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"pad": "')
        for _ in range(100):
            await response.write(b"x" * 10_000)
        await response.write(b'"}')
        return response
    if mode == "html":
        return web.Response(text="<html>hello</html>", content_type="text/html")
    if mode == "array":
        return web.json_response([1, 2, 3])
    if mode == "offhost":
        raise web.HTTPFound("http://elsewhere.invalid/_status")
    if mode == "loop":
        raise web.HTTPFound(request.path)
    if mode == "hop" and path == "/_status":
        raise web.HTTPFound("/ok/_status")
    if mode == "ok" and path == "/_status":
        return web.json_response({"status": "ok"})
    if mode == "indexonly" and path == "/index/_status":
        return web.Response(text="Healthy\n")
    if mode in ("ok", "hop", "indexonly") and path == "/index/index":  # indexd's listing: the records path answers
        return web.json_response({"records": []})
    return web.json_response({"error": "no"}, status=404)


def fault_app() -> web.Application:
    """One server, many misbehaviours: ``<base>/<mode>`` is a candidate base URL."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", _fault)
    return app


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BOTH_BACKENDS = ("sqlite", "redis")


def join_body(candidate_url: str, name: str, prefixes: list[str], **extra: Any) -> dict[str, Any]:
    return {"name": name, "base_url": candidate_url, "kind": "gen3", "prefixes": prefixes,
            "contact": "ops@example.org", **extra}


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0, step: float = 0.02) -> None:
    """Wait until ``check()`` holds (AssertionError after ``timeout``)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await check():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(step)
