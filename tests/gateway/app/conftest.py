"""The in-process member is checked against the Gen3 adapter over HTTP, on a standalone reference commons
(:func:`adapter_support.recorded_commons`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from adapter_support import Commons, recorded_commons

from gateway.settings.sections import UpstreamConfig


@pytest.fixture
def config() -> UpstreamConfig:
    """The Gen3 adapter's upstream settings, with quick retries."""
    return UpstreamConfig(connect_timeout=1.0, read_timeout=5.0, retries=2, backoff=0.05, bulk_concurrency=4)


@pytest.fixture
async def commons(tmp_path) -> AsyncIterator[Commons]:
    async with recorded_commons(tmp_path / "commons") as running:
        yield running
