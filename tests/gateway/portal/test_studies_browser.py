"""Study discovery in a real browser over two standalone reference commons: every harvested study listed with its
member; full-text search and tag checkboxes narrow the list in place (htmx) and in the URL; the counts of studies the
caller may not read are shown as hidden, never as a number; a study page shows its metadata; a member that stops
answering leaves its studies listed from its last snapshot, marked stale with that snapshot's age."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from browser_kit import Federation, federation, open_page, until
from playwright.async_api import expect
from servers import Server

pytestmark = pytest.mark.asyncio(loop_scope="module")

MEMBERS = (("west", "dg.WE02", 32),)
"""Standalone members; the in-process reference commons (``refcommons``, whose studies carry counts) is the other."""


async def _status(gateway: Server) -> dict[str, str]:
    doc = (await gateway.client.get("/mds/aggregate/status")).json()
    return {s["commons"]: s["status"] for s in doc["sources"]}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fed() -> AsyncIterator[Federation]:
    async with federation(MEMBERS, 8, refcommons={"data_dir": None, "subjects": 12}, health={"interval": 3600.0},
                          upstream={"retries": 0}, aggregate={"harvest": {"interval": 0.5, "timeout": 2.0}}
                          ) as running:

        async def harvested() -> bool:
            return set((await _status(running.gateway)).values()) == {"ok"}

        await until(harvested, 20.0)
        yield running


async def _api_studies(gateway: Server, **params) -> list[dict]:
    params = {"flatten": "true", "limit": 1000, **params}
    doc = (await gateway.client.get("/mds/aggregate/search", params=params)).json()
    return [next(iter(item.values()))["gen3_discovery"] for item in doc]


async def test_studies_are_listed_searched_and_filtered(fed, browser):
    every = await _api_studies(fed.gateway)
    opened = await _api_studies(fed.gateway, tags="Access:Open")
    assert 0 < len(opened) < len(every)
    watched = await open_page(browser, fed.gateway.base_url, "/studies")
    page = watched.page
    rows = page.locator("#studies article.study")
    assert await rows.count() == min(len(every), 20)
    members = {(await rows.nth(i).locator(".study-member strong").inner_text()) for i in range(await rows.count())}
    assert members == {"refcommons", "west"}
    # hidden counts: words, never numbers
    for i in range(await rows.count()):
        counts = rows.nth(i).locator(".counts")
        if await counts.count() and await counts.locator(".hidden-count").count():
            assert not re.search(r"Subjects: \d", await counts.inner_text())
    assert await page.locator(".hidden-count").count() > 0, "controlled studies' counts are hidden from anyone"
    await watched.finish("studies")

    await page.check("input.tag-filter[value='Access:Open']")
    await expect(page.locator("#studies article.study")).to_have_count(len(opened))  # no eval: the CSP forbids it
    assert "tag=Access%3AOpen" in page.url, "the filter is in the URL (a link to share)"
    assert await page.locator("#studies .hidden-count").count() == 0, "open studies' counts are shown"
    await watched.finish("studies-open-tag")

    await page.uncheck("input.tag-filter[value='Access:Open']")
    await page.fill("#q", "sleep")
    await page.click(".studies-search button[type=submit]")
    sleepy = [s for s in every if "sleep" in repr(s).lower()]
    await expect(page.locator("#studies article.study")).to_have_count(len(sleepy))

    await page.locator("#studies article.study h3 a").first.click()
    await page.wait_for_selector("h1")
    assert "/studies/" in page.url and await page.locator("dt", has_text="GUID").count() == 1
    assert await page.locator("dd", has_text="Sleep").count() + await page.locator("h1", has_text="Sleep").count()
    await watched.finish("study")


async def test_a_member_that_stops_answering_is_marked_stale(fed, browser):
    await fed.members["west"].stop()

    async def stale() -> bool:
        return (await _status(fed.gateway)).get("west") == "stale"

    await until(stale, 20.0)
    watched = await open_page(browser, fed.gateway.base_url, "/studies", narrow=True)
    text = await watched.page.locator("#studies").inner_text()
    assert re.search(r"west \(stale: snapshot \d+ s old\)", text), text[:2000]
    assert "refcommons (stale" not in text
    await watched.fits()
    await watched.finish("studies-stale-360")
