"""Real servers on 127.0.0.1 for tests in any folder: standalone reference commons and gateways.

Importable as ``servers`` from every test module (``tests/support/`` is on ``sys.path`` through ``tests/conftest.py``).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web

from gateway.app import create_app, serve_runner
from gateway.settings.gateway import Settings
from refcommons.app import build_app
from refcommons.commons import ReferenceCommons
from refcommons.settings import CommonsSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running aiohttp app: its base URL, a client, and how to stop (and restart) it."""

    base_url: str
    port: int
    client: httpx.AsyncClient
    runner: web.AppRunner
    app: web.Application
    commons: ReferenceCommons | None = None
    stopped: bool = False

    @property
    def hostname(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def stop(self) -> None:
        """Stop serving and release everything (idempotent)."""
        if self.stopped:
            return
        self.stopped = True
        await self.client.aclose()
        await self.runner.cleanup()


async def _serve(app: web.Application, port: int, runner: web.AppRunner | None = None
                 ) -> tuple[web.AppRunner, httpx.AsyncClient, str]:
    runner = runner or web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    return runner, httpx.AsyncClient(base_url=base, timeout=10), base


async def start_commons(prefix: str, seed: int, subjects: int = 15, *, port: int | None = None,
                        **settings: Any) -> Server:
    port = port or free_port()
    cs = CommonsSettings(prefix=prefix, seed=seed, subjects=subjects, base_url=f"http://127.0.0.1:{port}", **settings)
    commons = await ReferenceCommons.open(cs)
    app = build_app(commons)
    runner, client, base = await _serve(app, port)
    return Server(base, port, client, runner, app, commons)


async def restart_commons(server: Server) -> Server:
    """The same commons (same prefix, seed and data dir) on the same port again."""
    assert server.commons is not None
    s = server.commons.settings
    return await start_commons(s.prefix, s.seed, s.subjects, port=server.port, data_dir=s.data_dir)


async def start_gateway(**overrides: Any) -> Server:
    port = overrides.pop("port", None) or free_port()
    settings = Settings(port=port, **overrides)
    app = await create_app(settings)
    runner, client, base = await _serve(app, port, serve_runner(app, settings))  # served as `gateway serve` does
    return Server(base, port, client, runner, app)


@asynccontextmanager
async def running(server_coro: Any) -> AsyncIterator[Server]:
    server = await server_coro
    try:
        yield server
    finally:
        await server.stop()


__all__ = ["Server", "free_port", "restart_commons", "running", "start_commons", "start_gateway"]
