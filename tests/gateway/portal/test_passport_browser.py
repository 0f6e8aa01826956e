"""The Passport page in a real browser: a pasted Passport is posted (never in a URL), and the page shows each Visa's
outcome and what the accepted ones grant, without the token itself; it is written to no log, no cookie and no
browser storage but this tab's session, where the explorer takes it from until it is forgotten. A refused Passport
says why; without Passports the page says they are off."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from browser_kit import open_page
from passport_kit import Broker, dev_broker, now, passports_config
from servers import Server, running, start_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Env:
    gateway: Server
    broker: Broker


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory) -> AsyncIterator[Env]:
    async with dev_broker(Path(tmp_path_factory.mktemp("broker"))) as broker:
        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"data_dir": None, "subjects": 5},
            health={"interval": 3600.0}, aggregate={"harvest": {"enabled": False}},
            passports=passports_config(broker.url).model_dump(mode="json"))
        try:
            yield Env(gateway, broker)
        finally:
            await gateway.stop()


async def test_a_passport_shows_its_visas_and_grants_and_is_kept_nowhere(env, browser, caplog):
    good = env.broker.visa("phs000123", "c1")
    expired = env.broker.visa("phs000999", "c2", exp=now() - 3600)
    passport = env.broker.passport([good, expired])
    caplog.set_level(logging.DEBUG)
    watched = await open_page(browser, env.gateway.base_url, "/passport")
    page = watched.page
    await page.fill("#passport", passport)
    async with page.expect_navigation():
        await page.click("form[action='/passport'] button[type=submit]")
    assert page.url == env.gateway.base_url + "/passport"
    visas = page.locator("table.visas tbody tr")
    assert await visas.count() == 2
    outcomes = sorted(await page.locator("table.visas tbody tr td:nth-child(2)").all_inner_texts())
    assert outcomes == ["accepted", "ignored"]
    grants = await page.locator("table.grants tbody").inner_text()
    assert "phs000123" in grants and "c1" in grants and "phs000999" not in grants
    html = await page.content()
    assert passport not in html and good not in html and passport.split(".")[1] not in html
    assert await page.input_value("#passport") == ""
    assert await page.evaluate("JSON.stringify({...localStorage})") == "{}"
    session = await page.evaluate("({...sessionStorage})")  # the tab's session only (see the test below)
    assert session.pop("gw-portal-passport") == passport and "eyJ" not in str(session), session
    cookies = await page.context.cookies()
    assert all(passport not in c["value"] for c in cookies)
    for request_url in watched.requests:
        assert passport.split(".")[1] not in request_url
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert passport.split(".")[2] not in logged and good.split(".")[2] not in logged
    await watched.finish("passport")


async def test_a_refused_passport_says_why(env):
    async with running(start_gateway(store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
                                     aggregate={"harvest": {"enabled": False}})) as off:
        r = await off.client.get("/passport")
        assert r.status_code == 200 and "does not take GA4GH Passports" in r.text
    client = env.gateway.client
    page = await client.get("/passport")
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    r = await client.post("/passport", data={"csrf_token": token, "passport": "not.a.jwt"},
                          headers={"Origin": env.gateway.base_url})
    assert 400 <= r.status_code < 500 and "Refused" in r.text and "not.a.jwt" not in r.text
    r = await client.get("/passport", params={"passport": "x"})
    assert "x" not in r.text.split("<textarea", 1)[1].split("</textarea>")[0]


async def test_the_tab_keeps_the_passport_for_the_explorer_until_forgotten(env, browser):
    """With JavaScript, the Passport pasted on /passport stays in this tab's sessionStorage only and goes, as a bearer
    Passport, on the explorer's own requests to the gateway: its counts are the API's for that Passport. Forget
    removes it; another tab never had it."""
    passport = env.broker.passport([env.broker.visa("phs000123", "c1")])
    watched = await open_page(browser, env.gateway.base_url, "/passport")
    page = watched.page
    await page.fill("#passport", passport)
    async with page.expect_navigation():
        await page.click("form[action='/passport'] button[type=submit]")
    assert await page.locator(".with-passport").is_visible()

    sent: list[str | None] = []
    page.on("request", lambda r: sent.append(r.headers.get("authorization")) if "/explore" in r.url else None)
    async with page.expect_response(lambda r: "/explore" in r.url and r.request.headers.get("hx-request") == "true"):
        await page.goto(env.gateway.base_url + "/explore")
    await page.wait_for_timeout(150)
    assert sent[0] is None and sent[-1] == f"Bearer {passport}", "the page load is anonymous, its refresh is not"
    api = (await env.gateway.client.post("/search/v1/cohort", json={"index": "subject", "facets": []},
                                         headers={"Authorization": f"Bearer {passport}"})).json()["total"]
    total = await page.locator("#total").inner_text()
    assert total in ("fewer than 50", "hidden") if api["hidden"] else total == f"{api['count']:,}"
    assert passport not in await page.content()

    other = await page.context.new_page()  # another tab of the same browser
    await other.goto(env.gateway.base_url + "/explore")
    assert await other.evaluate("sessionStorage.getItem('gw-portal-passport')") is None
    await other.close()

    async with page.expect_response(lambda r: "/explore" in r.url):
        await page.click(".with-passport button.forget-passport")
    await page.wait_for_timeout(150)
    assert sent[-1] is None and await page.evaluate("sessionStorage.getItem('gw-portal-passport')") is None
    assert not await page.locator(".with-passport").is_visible()
    await watched.finish("explore-with-passport")
