"""A real gateway on 127.0.0.1 for HTTP-level tests (embedded defaults, small in-process commons)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web

from gateway.app import create_app
from gateway.config import Settings


@dataclass
class RunningGateway:
    app: web.Application
    base_url: str
    client: httpx.AsyncClient


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def run_gateway(**overrides: Any) -> AsyncIterator[RunningGateway]:
    port = free_port()
    settings = Settings(port=port, **overrides)
    app = await create_app(settings)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = httpx.AsyncClient(base_url=settings.base_url, timeout=10)
    try:
        yield RunningGateway(app, settings.base_url, client)
    finally:
        await client.aclose()
        await runner.cleanup()


@pytest.fixture
def gateway_settings(tmp_path) -> dict[str, Any]:
    """Embedded defaults, but every file under this test's tmp dir and a small reference commons."""
    return {
        "store": {"url": f"sqlite:///{tmp_path / 'gateway.sqlite3'}"},
        "refcommons": {"subjects": 20, "data_dir": tmp_path / "refcommons"},
        "max_body_bytes": 4096,
    }


@pytest.fixture
async def gateway(gateway_settings) -> AsyncIterator[RunningGateway]:
    async with run_gateway(**gateway_settings) as running:
        yield running


@pytest.fixture
def gateway_factory() -> Callable[..., Any]:
    return run_gateway
