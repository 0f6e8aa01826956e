"""Reference commons under test: a real HTTP server on 127.0.0.1 (see ``tests/servers.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from servers import Server, start_commons


@pytest.fixture
async def commons_server(tmp_path) -> AsyncIterator[Server]:
    """A small standalone commons (prefix dg.TST1, seed 7, 40 subjects) with a data dir; ``.commons`` is the
    running :class:`~refcommons.commons.ReferenceCommons`, ``.client`` an httpx client bound to it."""
    server = await start_commons("dg.TST1", seed=7, subjects=40, data_dir=tmp_path / "commons")
    try:
        yield server
    finally:
        await server.stop()
