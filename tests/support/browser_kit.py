"""Real headless Chromium for the portal's tests: Debian's ``/usr/bin/chromium`` driven by playwright's Python
package (no browser download; ``.ci/browser`` installs the package when it is missing, ``make test`` calls it).

:func:`open_page` opens a page at a real gateway and watches it: every console error or warning, every page error
and every request to a host other than the gateway's is recorded in the :class:`Watched` page, which
:meth:`Watched.finish` asserts empty after saving a full-page screenshot under :data:`ARTIFACTS`
(``tests/artifacts/portal/<name>.png``, git-ignored; kept after the run for people to look at).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, async_playwright
from servers import Server, start_commons, start_gateway

CHROMIUM = os.environ.get("GATEWAY_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "portal"
"""Where each page's screenshot is kept (``tests/artifacts/``, git-ignored)."""
NARROW = {"width": 360, "height": 780}
"""The narrowest screen the pages must read well on."""


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs it (.ci/browser: apt-get install chromium)",
                    pytrace=False)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            await browser.close()


@dataclass
class Watched:
    page: Page
    base_url: str
    problems: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type in ("error", "warning"):
            self.problems.append(f"console {msg.type}: {msg.text}")

    def on_request(self, request: Request) -> None:
        self.requests.append(request.url)
        if urlsplit(request.url).netloc != self.host and not request.url.startswith(("data:", "about:")):
            self.problems.append(f"request to another host: {request.url}")

    async def finish(self, name: str) -> Path:
        """Save the screenshot ``<name>.png`` and assert nothing went wrong on the page."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{name}.png"
        await self.page.screenshot(path=str(shot), full_page=True)
        assert not self.problems, self.problems
        return shot

    async def fits(self) -> None:
        """Nothing wider than the viewport: no sideways scrolling."""
        width = await self.page.evaluate("document.documentElement.scrollWidth")
        viewport = await self.page.evaluate("window.innerWidth")
        assert width <= viewport, f"the page is {width}px wide in a {viewport}px window"


async def open_page(browser: Browser, base_url: str, path: str, *, narrow: bool = False) -> Watched:
    context = await browser.new_context(viewport=NARROW if narrow else {"width": 1200, "height": 900})
    page = await context.new_page()
    watched = Watched(page, base_url)
    page.on("console", watched.on_console)
    page.on("pageerror", lambda exc: watched.problems.append(f"page error: {exc}"))
    page.on("request", watched.on_request)
    response = await page.goto(base_url + path)
    assert response is not None
    return watched


@dataclass
class Federation:
    """A gateway and the standalone reference commons it federates, by member id."""

    gateway: Server
    members: dict[str, Server]


@asynccontextmanager
async def federation(members: Sequence[tuple[str, str, int]], subjects: int, **gateway: Any
                     ) -> AsyncIterator[Federation]:
    """One standalone reference commons per ``(member id, prefix, seed)`` with ``subjects`` subjects, declared as
    members (kind gen3) of a gateway on an in-memory store without its in-process commons; ``gateway``: more
    settings (``registry`` is merged with the declared members)."""
    async with AsyncExitStack() as stack:
        started: dict[str, Server] = {}
        for member_id, prefix, seed in members:
            started[member_id] = await start_commons(prefix, seed, subjects)
            stack.push_async_callback(started[member_id].stop)
        declared = [{"id": mid, "name": f"Commons {mid.title()}", "base_url": started[mid].base_url, "kind": "gen3",
                     "prefixes": [prefix]} for mid, prefix, _ in members]
        settings = {"store": {"url": "sqlite:///:memory:"}, "refcommons": {"enabled": False}, **gateway}
        settings["registry"] = {**settings.get("registry", {}), "members": declared}
        served = await start_gateway(**settings)
        stack.push_async_callback(served.stop)
        yield Federation(served, started)


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    """Until ``check()`` holds (AssertionError after ``seconds``)."""
    give_up = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < give_up, "gave up waiting"
        await asyncio.sleep(0.2)
