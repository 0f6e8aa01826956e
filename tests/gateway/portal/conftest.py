"""A real headless Chromium shared by a test module (tests/support/browser_kit.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from browser_kit import chromium
from playwright.async_api import Browser


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b
