"""Real servers on 127.0.0.1 for tests in any folder: standalone reference commons and gateways.

Importable as ``servers`` from every test module (``tests/support/`` is on ``sys.path`` through ``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from aiohttp import web
from ports import free_port

from gateway.app import create_app, serve_runner
from gateway.settings.gateway import Settings
from refcommons.app import build_app, build_apps
from refcommons.commons import ReferenceCommons
from refcommons.layout import GEN3, Layout, servers, service_urls
from refcommons.settings import CommonsSettings


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


@dataclass
class Deployment:
    """One reference commons served in a layout (:mod:`refcommons.layout`): a :class:`Server` per server of the
    layout, all over the one :attr:`commons` (one dataset, one key set).

    ``servers``: by server name (``gen3``: ``commons``; ``indexd``: ``indexd``; ``split``: ``indexd``, ``fence``,
    ``guppy``, ``mds``, ``arborist``, ``sheepdog``). ``urls``: each service the layout serves and its public URL
    (:func:`refcommons.layout.service_urls`): ``{indexd}/_status``, ``{indexd}/index/{guid}``,
    ``{drs}/ga4gh/drs/v1/…``, ``{fence}/data/download/{guid}``, ``{authz}/mapping``, ``{mds}/metadata``,
    ``{guppy}/graphql``, ``{sheepdog}/v0/submission/…``."""

    layout: Layout
    commons: ReferenceCommons
    servers: dict[str, Server]
    urls: dict[str, str]
    stopped: bool = False

    @property
    def base_url(self) -> str:
        """The commons' own URL: the server that serves indexd (``gen3``: the one host)."""
        return self.commons.settings.base_url

    def server(self, service: str) -> Server:
        """The server answering ``service`` (a key of :attr:`urls`)."""
        url = self.urls[service]
        return next(s for s in self.servers.values() if url == s.base_url or url.startswith(s.base_url + "/"))

    async def stop(self) -> None:
        """Stop every server, then close the commons (idempotent)."""
        if self.stopped:
            return
        self.stopped = True
        for server in self.servers.values():
            await server.stop()
        await self.commons.close()


async def start_layout(prefix: str, seed: int, subjects: int = 15, *, layout: Layout = GEN3,
                       ports: dict[str, int] | None = None, **settings: Any) -> Deployment:
    """A standalone commons in ``layout`` on free ports of 127.0.0.1 (or ``ports``, by server name), each server's
    public URL ``http://127.0.0.1:<port>``; ``settings``: more :class:`CommonsSettings` fields."""
    chosen = {name: (ports or {}).get(name) or free_port() for name in servers(layout)}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in chosen.items()}
    first = servers(layout)[0]
    cs = CommonsSettings(prefix=prefix, seed=seed, subjects=subjects, base_url=urls[first], layout=layout,
                         server_urls=urls, **settings)
    commons = await ReferenceCommons.open(cs)
    started: dict[str, Server] = {}
    try:
        for name, app in build_apps(commons).items():
            runner, client, base = await _serve(app, chosen[name])
            started[name] = Server(base, chosen[name], client, runner, app, commons)
    except BaseException:
        for server in started.values():
            await server.stop()
        await commons.close()
        raise
    return Deployment(layout, commons, started, service_urls(layout, cs.urls))


_Running = TypeVar("_Running", Server, Deployment)


async def start_gateway(**overrides: Any) -> Server:
    port = overrides.pop("port", None) or free_port()
    settings = Settings(port=port, **overrides)
    app = await create_app(settings)
    runner, client, base = await _serve(app, port, serve_runner(app, settings))  # served as `gateway serve` does
    return Server(base, port, client, runner, app)


@asynccontextmanager
async def running(server_coro: Awaitable[_Running]) -> AsyncIterator[_Running]:
    """``async with running(start_…(…)) as server``: a :class:`Server` or :class:`Deployment`, stopped on exit."""
    server = await server_coro
    try:
        yield server
    finally:
        await server.stop()


__all__ = ["Deployment", "Server", "free_port", "restart_commons", "running", "start_commons", "start_gateway",
           "start_layout"]
