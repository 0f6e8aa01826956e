"""GUID lookup in a real browser over a three-member federation: three standalone reference commons on loopback
are the gateway's members. A person pastes a GUID of each member (in three forms), clicks *Look up* and sees for
each the member that holds it and its size, as the API says; unknown and invalid ids are said plainly; the
permalink shows one id; *Download* fetches the signed URL only when clicked (no page holds one)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from browser_kit import Federation, federation, open_page
from servers import Server

pytestmark = pytest.mark.asyncio(loop_scope="module")

MEMBERS = (("alpha", "dg.AL01", 11), ("beta", "dg.BE02", 12), ("gamma", "dg.GA03", 13))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fed() -> AsyncIterator[Federation]:
    async with federation(MEMBERS, 5, health={"interval": 3600.0},
                          aggregate={"harvest": {"enabled": False}}) as running:
        yield running


async def _a_file(member: Server) -> dict:
    return (await member.client.get("/index/index", params={"limit": 1})).json()["records"][0]


async def test_a_guid_of_each_member_shows_its_member_and_size(fed, browser):
    files = {mid: await _a_file(fed.members[mid]) for mid, _, _ in MEMBERS}
    alpha, beta, gamma = files["alpha"]["did"], files["beta"]["did"], files["gamma"]["did"]
    uuid = gamma.split("/", 1)[1]
    asked = [alpha, f"drs://{beta.replace('/', ':', 1)}", uuid, "dg.AL01/00000000-0000-4000-8000-000000000000",
             "drs://"]
    watched = await open_page(browser, fed.gateway.base_url, "/")
    page = watched.page
    await page.fill("#ids", "\n".join(asked))
    await page.click("button[type=submit]")
    await page.wait_for_selector("#results article")
    articles = page.locator("#results article")
    assert await articles.count() == len(asked)
    found = page.locator("#results article.found")
    assert await found.count() == 3
    for i, mid in enumerate(("alpha", "beta", "gamma")):
        card = found.nth(i)
        assert f"Commons {mid.title()}" in await card.locator(".member").inner_text()
        size = files[mid]["size"]
        assert f"{size:,} bytes" in await card.locator(".size").inner_text()
        assert files[mid]["file_name"] in await card.locator("h3").inner_text()
    text = await page.locator("#results").inner_text()
    assert "Not found in any member commons" in text and "Not an identifier" in text
    assert "Download" in text and "s3" in text
    html = await page.content()
    assert "signature" not in html.lower() and "expires=" not in html.lower(), "no signed URL in the page"
    assert page.url.endswith("/"), "htmx swapped the results in place"
    await watched.finish("lookup-three-members")


async def test_the_permalink_shows_one_id_in_any_form(fed, browser):
    beta = (await _a_file(fed.members["beta"]))["did"]
    watched = await open_page(browser, fed.gateway.base_url, f"/guid/drs://{beta.replace('/', ':', 1)}", narrow=True)
    card = watched.page.locator("#results article.found")
    assert await card.count() == 1
    assert "Commons Beta" in await card.locator(".member").inner_text()
    assert beta in await card.inner_text()
    await watched.fits()
    await watched.finish("guid-permalink-360")


async def _an_open_file(member: Server) -> dict:
    records = (await member.client.get("/index/index", params={"limit": 100})).json()["records"]
    return next(r for r in records if r["acl"] == ["*"])  # the reference commons' open data


async def test_download_fetches_the_signed_url_only_on_click(fed):
    record = await _an_open_file(fed.members["alpha"])
    page = await fed.gateway.client.get(f"/guid/{record['did']}")
    links = re.findall(r'href="(/portal/download\?[^"]+)"', page.text)
    assert links, page.text
    r = await fed.gateway.client.get(links[0].replace("&amp;", "&"))
    assert r.status_code == 303 and r.headers["cache-control"] == "no-store"
    location = r.headers["location"]
    assert location.startswith(fed.members["alpha"].base_url) and location not in page.text
    body = await fed.members["alpha"].client.get(location)
    assert body.status_code == 200 and len(body.content) == record["size"]


async def test_controlled_data_offers_no_download(fed):
    records = (await fed.members["gamma"].client.get("/index/index", params={"limit": 100})).json()["records"]
    controlled = next(r for r in records if r["acl"] != ["*"])
    page = await fed.gateway.client.get(f"/guid/{controlled['did']}")
    assert "Controlled access" in page.text and "/portal/download" not in page.text
    r = await fed.gateway.client.get("/portal/download", params={"id": controlled["did"], "access_id": "s3"})
    assert r.status_code in (401, 403) and "not open data" in r.text
