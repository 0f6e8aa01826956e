"""The federation page in a real browser: every member with its prefixes and health; a member that is stopped
turns unhealthy on the page once the gateway's prober has seen it fail (and its failures are listed with their
times); the page reads at 360 px."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from browser_kit import Federation, federation, open_page, until

pytestmark = pytest.mark.asyncio(loop_scope="module")

MEMBERS = (("north", "dg.NO01", 21), ("south", "dg.SO02", 22), ("west", "dg.WE03", 23))
PROBE_EVERY = 0.3


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fed() -> AsyncIterator[Federation]:
    async with federation(MEMBERS, 3, health={"interval": PROBE_EVERY, "timeout": 1.0, "failure_threshold": 2},
                          upstream={"retries": 0}, aggregate={"harvest": {"enabled": False}}) as running:
        yield running


async def _health_text(watched, member_id: str) -> str:
    return (await watched.page.locator(f"#member-{member_id} .health").inner_text()).strip()


async def test_a_stopped_member_turns_unhealthy(fed, browser):
    watched = await open_page(browser, fed.gateway.base_url, "/federation")
    page = watched.page

    async def all_healthy() -> bool:
        await page.reload()
        return all([await _health_text(watched, mid) == "healthy" for mid, _, _ in MEMBERS])

    await until(all_healthy)
    for mid, prefix, _ in MEMBERS:
        card = page.locator(f"#member-{mid}")
        assert f"Commons {mid.title()}" in await card.locator("h2").inner_text()
        assert prefix.lower() in (await card.inner_text()).lower()
        assert (await card.locator(".latency").inner_text()).endswith(" ms")
    await watched.finish("federation-healthy")

    await fed.members["south"].stop()

    async def south_unhealthy() -> bool:
        await page.reload()
        return await _health_text(watched, "south") == "unhealthy"

    await until(south_unhealthy)
    south = page.locator("#member-south")
    assert int(await south.locator(".consecutive").inner_text()) >= 2
    assert await south.locator(".failures li").count() >= 2
    assert await _health_text(watched, "north") == "healthy" and await _health_text(watched, "west") == "healthy"
    assert "1 unhealthy" in await page.locator(".summary").inner_text()
    await watched.finish("federation-one-unhealthy")


async def test_the_federation_page_reads_at_360_px(fed, browser):
    watched = await open_page(browser, fed.gateway.base_url, "/federation", narrow=True)
    await watched.fits()
    await watched.finish("federation-360")
