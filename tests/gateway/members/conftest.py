"""Adapters under test talk to real servers on 127.0.0.1: a standalone reference commons
(:func:`adapter_support.recorded_commons`) and the fault servers of ``faults.py``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from adapter_support import Commons, recorded_commons

from gateway.settings.gateway import UpstreamConfig


@pytest.fixture
def config() -> UpstreamConfig:
    """Quick retries so the fault tests stay fast."""
    return UpstreamConfig(connect_timeout=1.0, read_timeout=5.0, retries=2, backoff=0.05, bulk_concurrency=4)


@pytest.fixture
async def commons(tmp_path) -> AsyncIterator[Commons]:
    async with recorded_commons(tmp_path / "commons") as running:
        yield running
