"""``fed``: the DRS federation of ``tests/support/drs_federation.py``, started once for each test module that asks
for it (those modules run on one event loop per module: ``pytestmark = pytest.mark.asyncio(loop_scope="module")``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from drs_federation import Fed, federation


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fed() -> AsyncIterator[Fed]:
    async with federation() as running:
        yield running
