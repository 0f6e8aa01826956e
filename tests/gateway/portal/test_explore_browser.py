"""The cohort explorer in a real browser: tick facet values and the counts change, always as the API answers the
same question; every hidden count reads "fewer than N" (only when that is true of it) or "hidden", and is never a
number (in the text, a chart or an attribute), after every click of a sequence; each member's status is listed;
an export runs as a job whose progress page ends with the file (PFB, or a manifest of the cohort's files)."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

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
    return WORDS if total["hidden"] else f"{total['count']:,}"


async def test_the_api_says_below_exactly_where_the_page_may_say_fewer_than(gateway):
    """``below`` in /search/v1/cohort: set on some hidden counts, never on a shown one, never on a bucket holding
    LIMIT or more records the caller may access (of which "fewer than LIMIT" would be false)."""
    doc = (await gateway.client.post("/search/v1/cohort", json={"index": "subject", "facets": FACETS})).json()
    accessible = await accessible_counts(gateway, {})
    buckets = [(f, b) for f in FACETS for b in doc["facets"][f]]
    assert any(b["below"] for _, b in buckets), buckets
    for facet, b in buckets:
        assert b["hidden"] or not b["below"]
        if b["below"]:
            assert b["count"] is None and accessible.get((facet, b["key"]), 0) < LIMIT
    assert all(s["hidden"] or not s["below"] for s in doc["sources"])


WORDS = "words"
HIDDEN_WORDS = (f"fewer than {LIMIT}", "hidden")


async def accessible_counts(gateway: Server, selected: dict[str, list[str]]) -> dict[tuple[str, str], int]:
    """What the caller may access of every bucket the page shows, as the API answers it (never hidden): a bucket
    with at least LIMIT of those holds at least LIMIT records, so "fewer than LIMIT" would be false of it."""
    out: dict[tuple[str, str], int] = {}
    for facet in FACETS:
        own = {f: v for f, v in selected.items() if f != facet}  # a facet's panel ignores its own selection
        doc = (await gateway.client.post("/search/v1/cohort", json={
            "index": "subject", "filter": guppy_filter(own), "facets": [facet],
            "accessibility": "accessible"})).json()
        out.update(((facet, b["key"]), b["count"]) for b in doc["facets"].get(facet, []) if b["count"] is not None)
    return out


async def check_no_hidden_number(page, gateway: Server | None = None) -> list[str]:
    """Every count on the page is a number, "fewer than N" or "hidden"; hidden ones have no chart and no value
    anywhere; "fewer than N" is never said of a bucket with N or more records. The hidden counts' words."""
    texts = await page.locator("#cohort .count").all_inner_texts()
    assert texts
    for text in texts:
        assert NUMBER.match(text) or text in HIDDEN_WORDS, text
    known = await accessible_counts(gateway, await selected_now(page)) if gateway is not None else {}
    words = []
    for bucket in await page.locator("#cohort .bucket").all():
        if not await bucket.locator(".hidden-count").count():
            continue
        key = await bucket.locator("input").get_attribute("value")
        facet = (await bucket.locator("input").get_attribute("name")).removeprefix("f.")
        label = (await bucket.locator("label").inner_text()).strip()
        assert label in (f"{key}: {w}" for w in HIDDEN_WORDS), label
        said = label.removeprefix(f"{key}: ")
        words.append(said)
        if known.get((facet, key), 0) >= LIMIT:
            assert said == "hidden", f"{facet}={key} holds at least {LIMIT} records: 'fewer than' would be false"
        assert await bucket.locator("meter").count() == 0, "a hidden count has no bar"
        attributes = await bucket.evaluate("b => [...b.querySelectorAll('*')].flatMap(e => [...e.attributes])"
                                           ".map(a => a.name + '=' + a.value).join(' ')")
        assert "value=" + key in attributes and not re.search(r"(max|min|aria-valuenow)=\d", attributes)
    return words


async def same_total(page, gateway: Server, selected: dict[str, list[str]]) -> bool:
    text = await page.locator("#total").inner_text()
    expected = await api_total(gateway, selected)
    return text in HIDDEN_WORDS if expected == WORDS else text == expected


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
    assert await same_total(page, gateway, {})
    statuses = await page.locator(".source-status").all_inner_texts()
    assert sorted(statuses) == ["ok", "ok"]
    said = await check_no_hidden_number(page, gateway)
    assert await page.locator("#cohort .hidden-count").count() > 0, "small protected counts are hidden"
    await watched.finish("explore")

    seen = {tuple(await page.locator("#cohort .count").all_inner_texts())}
    for facet, nth in [("sex", 0), ("race", 0), ("race", 1), ("sex", 0), ("project_id", 0), ("ethnicity", 0),
                       ("project_id", 0)]:
        await click(page, facet, nth)
        said += await check_no_hidden_number(page, gateway)
        selected = await selected_now(page)
        assert await same_total(page, gateway, selected), selected
        seen.add(tuple(await page.locator("#cohort .count").all_inner_texts()))
        assert "f." in page.url or not selected
    assert len(seen) > 3, "the counts changed with the clicks"
    assert set(said) == set(HIDDEN_WORDS), "both kinds of hidden count were met, each in its own words"
    await watched.finish("explore-after-clicks")


async def test_the_explorer_reads_at_360_px(gateway, browser):
    watched = await open_page(browser, gateway.base_url, "/explore?f.sex=female", narrow=True)
    await watched.fits()
    await watched.finish("explore-360")


async def export_job(page, kind: str) -> str:
    """Click the explorer's ``kind`` export, follow its job page until the job is done (queued or running before,
    nothing else; at most 30 s) and return the file's link."""
    await page.click(f".export button[value={kind}]")
    await page.wait_for_url(re.compile(r"/explore/jobs/"))
    give_up = time.monotonic() + 30
    while (status := await page.locator(".job-status").inner_text()) != "done":  # read once: it may turn done
        assert time.monotonic() < give_up and status in ("queued", "running"), status
        await asyncio.sleep(0.5)
    return await page.locator("#job a.button").get_attribute("href")


async def test_an_export_runs_as_a_job_with_progress(gateway, browser):
    watched = await open_page(browser, gateway.base_url, "/explore")
    page = watched.page
    link = await export_job(page, "pfb")
    assert link.startswith("/search/v1/export/jobs/") and link.endswith("/file")
    await watched.finish("export-job")
    async with httpx.AsyncClient(base_url=gateway.base_url) as client:
        pfb = await client.get(link)
    assert pfb.status_code == 200 and pfb.content.startswith(b"Obj\x01")


async def test_a_manifest_export_of_the_cohorts_files_downloads(gateway, browser):
    """The manifest lists the files of the cohort's accessible subjects (the file index filtered to their ids,
    as Gen3's explorer builds it), from every member."""
    selected = {"sex": ["female"]}
    watched = await open_page(browser, gateway.base_url, "/explore?f.sex=female")
    page = watched.page
    link = await export_job(page, "manifest")
    await watched.finish("export-manifest-job")
    async with page.expect_download() as downloading:
        await page.evaluate("href => { const a = document.createElement('a'); a.href = href; a.download = ''; "
                            "document.body.appendChild(a); a.click(); }", link)
    manifest = json.loads(Path(await (await downloading.value).path()).read_bytes())
    assert manifest and all(e["object_id"] and "file_name" in e for e in manifest)

    subjects = set()
    cursor = None
    while True:  # the cohort's accessible subjects, as the API lists them
        doc = (await gateway.client.post("/search/v1/cohort", json={
            "index": "subject", "filter": guppy_filter(selected), "facets": [], "accessibility": "accessible",
            "rows": {"limit": 1000, "fields": ["subject_id"], "cursor": cursor}})).json()
        subjects |= {r["subject_id"] for r in doc["rows"]}
        cursor = doc["next_cursor"]
        if cursor is None:
            break
    files = (await gateway.client.post("/search/v1/cohort", json={
        "index": "file", "filter": {"IN": {"subject_id": sorted(subjects)}}, "facets": [],
        "accessibility": "accessible"})).json()["total"]["count"]
    assert len(manifest) == files > 0
