"""Reference commons under test: real HTTP servers on 127.0.0.1 with their own prefix and seed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from aiohttp import web

from refcommons.app import build_app
from refcommons.commons import ReferenceCommons
from refcommons.settings import CommonsSettings


@dataclass
class RunningCommons:
    commons: ReferenceCommons
    base_url: str
    client: httpx.AsyncClient


async def start_commons(settings: CommonsSettings) -> tuple[web.AppRunner, RunningCommons]:
    """Start a commons on a free loopback port; its base_url is the real address it listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    settings = CommonsSettings(**{**settings.__dict__, "base_url": base})
    commons = await ReferenceCommons.open(settings)
    runner = web.AppRunner(build_app(commons), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = httpx.AsyncClient(base_url=base, timeout=10)
    return runner, RunningCommons(commons, base, client)


@pytest.fixture
async def commons_server(tmp_path) -> AsyncIterator[RunningCommons]:
    """A small standalone commons (prefix dg.TST1, seed 7, 40 subjects) with a data dir."""
    runner, running = await start_commons(
        CommonsSettings(prefix="dg.TST1", seed=7, subjects=40, data_dir=tmp_path / "commons")
    )
    try:
        yield running
    finally:
        await running.client.aclose()
        await runner.cleanup()
