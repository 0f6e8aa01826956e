"""A real gateway on 127.0.0.1 for HTTP-level tests (embedded defaults, small in-process commons)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from servers import Server, start_gateway


@asynccontextmanager
async def run_gateway(**overrides: Any) -> AsyncIterator[Server]:
    """A gateway with these settings overrides, stopped on exit (``.app``, ``.base_url``, ``.client``)."""
    server = await start_gateway(**overrides)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def gateway_settings(tmp_path) -> dict[str, Any]:
    """Embedded defaults, but every file under this test's tmp dir and a small reference commons."""
    return {
        "store": {"url": f"sqlite:///{tmp_path / 'gateway.sqlite3'}"},
        "refcommons": {"subjects": 20, "data_dir": tmp_path / "refcommons"},
        "max_body_bytes": 4096,
    }


@pytest.fixture
async def gateway(gateway_settings) -> AsyncIterator[Server]:
    async with run_gateway(**gateway_settings) as running:
        yield running


@pytest.fixture
def gateway_factory() -> Callable[..., Any]:
    return run_gateway
