"""The cohort explorer in a real browser: tick facet values and the counts change, always as the API answers the
same question; every hidden count reads "fewer than N" and is never a number (in the text, a chart or an
attribute), after every click of a sequence; each member's status is listed; an export runs as a job whose progress
page ends with the file."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from browser_kit import open_page
from servers import Server, start_commons, start_gateway

from gateway.portal.explore import guppy_filter

pytestmark = pytest.mark.asyncio(loop_scope="module")

LIMIT = 5
FACETS = ["project_id", "sex", "race", "ethnicity"]
NUMBER = re.compile(r"^\d[\d,]*$")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway() -> AsyncIterator[Server]:
    member = await start_commons("dg.EX01", 41, 30)
    gw = await start_gateway(
        store={"url": "sqlite:///:memory:"}, refcommons={"data_dir": None, "subjects": 40},
        registry={"members": [{"id": "extra", "name": "Extra commons", "base_url": member.base_url, "kind": "gen3",
                               "prefixes": ["dg.EX01"]}]},
        health={"interval": 3600.0}, aggregate={"harvest": {"enabled": False}, "tier": {"limit": LIMIT}})
    try:
        yield gw
    finally:
        await gw.stop()
        await member.stop()


async def api_total(gateway: Server, selected: dict[str, list[str]]) -> str:
    doc = (await gateway.client.post("/search/v1/cohort", json={
        "index": "subject", "filter": guppy_filter(selected), "facets": []})).json()
    total = doc["total"]
    return f"fewer than {LIMIT}" if total["hidden"] else f"{total['count']:,}"


async def check_no_hidden_number(page) -> None:
    """Every count on the page is a number or "fewer than N"; hidden ones have no chart and no value anywhere."""
    texts = await page.locator("#cohort .count").all_inner_texts()
    assert texts
    for text in texts:
        assert NUMBER.match(text) or text == f"fewer than {LIMIT}", text
    for bucket in await page.locator("#cohort .bucket").all():
        if not await bucket.locator(".hidden-count").count():
            continue
        key = await bucket.locator("input").get_attribute("value")
        assert (await bucket.locator("label").inner_text()).strip() == f"{key}: fewer than {LIMIT}"
        assert await bucket.locator("meter").count() == 0, "a hidden count has no bar"
        attributes = await bucket.evaluate("b => [...b.querySelectorAll('*')].flatMap(e => [...e.attributes])"
                                           ".map(a => a.name + '=' + a.value).join(' ')")
        assert "value=" + key in attributes and not re.search(r"(max|min|aria-valuenow)=\d", attributes)


async def selected_now(page) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for box in await page.locator("#cohort input[type=checkbox]:checked").all():
        name = (await box.get_attribute("name")).removeprefix("f.")
        out.setdefault(name, []).append(await box.get_attribute("value"))
    return out


async def click(page, facet: str, nth: int = 0) -> None:
    box = page.locator(f"#facet-{facet} input[type=checkbox]").nth(nth)
    async with page.expect_response(lambda r: "/explore" in r.url):
        await box.click()
    await page.wait_for_timeout(150)  # htmx settles


async def test_counts_change_with_clicks_and_hidden_ones_stay_words(gateway, browser):
    watched = await open_page(browser, gateway.base_url, "/explore")
    page = watched.page
    assert await page.locator("#total").inner_text() == await api_total(gateway, {})
    statuses = await page.locator(".source-status").all_inner_texts()
    assert sorted(statuses) == ["ok", "ok"]
    await check_no_hidden_number(page)
    assert await page.locator("#cohort .hidden-count").count() > 0, "small protected counts are hidden"
    await watched.finish("explore")

    seen = {tuple(await page.locator("#cohort .count").all_inner_texts())}
    for facet, nth in [("sex", 0), ("race", 0), ("race", 1), ("sex", 0), ("project_id", 0), ("ethnicity", 0),
                       ("project_id", 0)]:
        await click(page, facet, nth)
        await check_no_hidden_number(page)
        selected = await selected_now(page)
        total = await page.locator("#total").inner_text()
        assert total == await api_total(gateway, selected), selected
        seen.add(tuple(await page.locator("#cohort .count").all_inner_texts()))
        assert "f." in page.url or not selected
    assert len(seen) > 3, "the counts changed with the clicks"
    await watched.finish("explore-after-clicks")


async def test_the_explorer_reads_at_360_px(gateway, browser):
    watched = await open_page(browser, gateway.base_url, "/explore?f.sex=female", narrow=True)
    await watched.fits()
    await watched.finish("explore-360")


async def test_an_export_runs_as_a_job_with_progress(gateway, browser):
    watched = await open_page(browser, gateway.base_url, "/explore")
    page = watched.page
    await page.click(".export button[type=submit]")
    await page.wait_for_url(re.compile(r"/explore/jobs/"))
    give_up = time.monotonic() + 30
    while await page.locator(".job-status").inner_text() != "done":
        assert time.monotonic() < give_up and await page.locator(".job-status").inner_text() in ("queued", "running")
        await asyncio.sleep(0.5)
    link = await page.locator("#job a.button").get_attribute("href")
    assert link.startswith("/search/v1/export/jobs/") and link.endswith("/file")
    await watched.finish("export-job")
    async with httpx.AsyncClient(base_url=gateway.base_url) as client:
        pfb = await client.get(link)
    assert pfb.status_code == 200 and pfb.content.startswith(b"Obj\x01")
