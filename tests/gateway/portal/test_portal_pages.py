"""The portal's infrastructure over real HTTP and in a real browser: the home page at ``/`` (it was a JSON 404),
its strict CSP with nothing inline and nothing from another host, vendored htmx served by the gateway, CSRF on every
form, keyboard access (skip link first, visible focus), 360 px wide without sideways scrolling; ``portal.enabled:
false`` takes the pages away again; the JSON API and its OpenAPI document are unchanged."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from browser_kit import open_page
from servers import Server, running, start_gateway

from gateway.portal import csp, csrf
from gateway.portal.assets import HTMX
from gateway.web.openapi import is_page, iter_routes

pytestmark = pytest.mark.asyncio(loop_scope="module")

SMALL = {"store": {"url": "sqlite:///:memory:"}, "refcommons": {"data_dir": None, "subjects": 10},
         "health": {"interval": 3600.0}, "aggregate": {"harvest": {"enabled": False}}}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gateway() -> AsyncIterator[Server]:
    async with running(start_gateway(**SMALL)) as gw:
        yield gw


async def _token(client: httpx.AsyncClient) -> str:
    """The CSRF token of the home page's form (the cookie it set is kept by ``client``)."""
    page = await client.get("/")
    return re.search(rf'name="{csrf.FIELD}" value="([^"]+)"', page.text).group(1)


async def test_the_home_page_is_html_under_a_strict_policy(gateway):
    r = await gateway.client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for name, value in csp.PAGE_HEADERS.items():
        assert r.headers[name] == value
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{csrf.COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    html = r.text
    assert "<script>" not in html and "style=" not in html and "<style" not in html
    assert not re.search(r"\son[a-z]+=", html), "no inline event handler"
    assert not re.search(r'(src|href)="(https?:)?//', html), "nothing from another host"
    assert '<a class="skip" href="#main">' in html and '<label for="ids">' in html


async def test_assets_are_served_by_the_gateway_with_their_digest(gateway):
    html = (await gateway.client.get("/")).text
    script = re.search(r'<script src="([^"]+)"', html).group(1)
    assert script.startswith(f"/portal/static/{HTMX.file}?v=")
    r = await gateway.client.get(script)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.headers["x-content-type-options"] == "nosniff"
    again = await gateway.client.get(script, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    for stray in ("/portal/static/nope.js", "/portal/static/..%2Fcsp.py", "/portal/static/%2e%2e"):
        missing = await gateway.client.get(stray)
        assert missing.status_code == 404 and missing.json()["status_code"] == 404, stray


async def test_every_form_post_needs_the_token_from_its_own_page(gateway):
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client:
        token = await _token(client)
        ok = await client.post("/lookup", data={csrf.FIELD: token, "ids": "dg.NOPE/1"},
                               headers={"Origin": gateway.base_url})
        assert ok.status_code == 200 and "Not found in any member commons" in ok.text
        missing = await client.post("/lookup", data={"ids": "dg.NOPE/1"})
        assert missing.status_code == 403 and "security token" in missing.text
        wrong = await client.post("/lookup", data={csrf.FIELD: csrf.new_token(), "ids": "x"})
        assert wrong.status_code == 403
        foreign = await client.post("/lookup", data={csrf.FIELD: token, "ids": "x"},
                                    headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403 and "another site" in foreign.text
        json_body = await client.post("/lookup", json={"ids": "x"})
        assert json_body.status_code == 415
    # a browser without the cookie (another site's form): refused even with a well-formed token
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as stranger:
        r = await stranger.post("/lookup", data={csrf.FIELD: csrf.new_token(), "ids": "x"})
        assert r.status_code == 403 and "cookie" in r.text


async def test_the_json_api_and_its_document_are_unchanged(gateway):
    spec = (await gateway.client.get("/openapi.json")).json()
    assert "/" not in spec["paths"] and "/lookup" not in spec["paths"]
    assert not any(p.startswith(("/guid", "/portal")) for p in spec["paths"])
    pages = {(i.method, i.path) for i in iter_routes(gateway.app, pages=True) if is_page(i.handler)}
    assert ("GET", "/") in pages and ("POST", "/lookup") in pages
    r = await gateway.client.get("/no/such/route")
    assert r.status_code == 404 and r.json() == {"error": "no such route", "status_code": 404}
    assert (await gateway.client.get("/_status")).status_code == 200


async def test_pages_never_fail_with_a_500_on_hostile_input(gateway):
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as client:
        token = await _token(client)
        hostile = ["%00", "a" * 5000, "<script>alert(1)</script>", "drs://", "dg.X/" + "%2F" * 50, "'\"><img>",
                   "%ZZ", "drs://%E5%90%8D:x"]
        for raw in hostile:
            r = await client.get(f"/guid/{raw}")
            assert r.status_code < 500 and "<script>alert" not in r.text, (raw, r.status_code)
            r = await client.post("/lookup", data={csrf.FIELD: token, "ids": raw})
            assert r.status_code == 200 and "<script>alert" not in r.text, raw
        r = await client.post("/lookup", data={csrf.FIELD: token, "ids": " ".join(f"dg.N/{i}" for i in range(500))})
        assert r.status_code == 200 and "400 more identifiers not looked up" in r.text
        for query in ("", "?id=", "?id=x", "?id=dg.NOPE/1&access_id=s3", "?id=%00&access_id=%00"):
            r = await client.get(f"/portal/download{query}")
            assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith("text/html"), (query, r.text)
        r = await client.post("/lookup", content=b"\xff\xfe" * 100,
                              headers={"content-type": "application/x-www-form-urlencoded"})
        assert r.status_code in (400, 403)


async def test_the_home_page_in_a_browser(gateway, browser):
    watched = await open_page(browser, gateway.base_url, "/")
    page = watched.page
    assert await page.evaluate("window.htmx && window.htmx.version") == HTMX.version
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid", "focus is visible"
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"
    label = await page.evaluate("document.querySelector('label[for=ids]').textContent")
    assert label == "Identifiers"
    await watched.finish("home")


async def test_the_home_page_reads_at_360_px(gateway, browser):
    watched = await open_page(browser, gateway.base_url, "/", narrow=True)
    await watched.fits()
    await watched.finish("home-360")


async def test_the_portal_can_be_turned_off():
    async with running(start_gateway(**SMALL, portal={"enabled": False})) as gw:
        for path in ("/", "/guid/dg.REF0/x", "/portal/static/portal.css", "/federation", "/studies", "/explore",
                     "/passport", "/portal/download?id=x&access_id=s3"):
            r = await gw.client.get(path)
            assert r.status_code == 404 and r.json()["status_code"] == 404, path
        for path in ("/lookup", "/passport", "/explore/export"):
            assert (await gw.client.post(path, data={"ids": "x"})).status_code == 404, path
        assert (await gw.client.get("/_status")).status_code == 200


async def test_a_refused_htmx_form_shows_why_in_place(gateway, browser):
    """A lookup whose form cookie is gone (cleared, expired) is refused (403): htmx shows the refusal instead of
    leaving the page as it was."""
    watched = await open_page(browser, gateway.base_url, "/")
    page = watched.page
    await page.context.clear_cookies()
    await page.fill("#ids", "dg.NOPE/1")
    await page.click("button[type=submit]")
    await page.locator("h1", has_text="Form refused").wait_for()
    assert "cookie" in await page.locator(".problem").inner_text()
    watched.problems = [p for p in watched.problems if "status of 403" not in p]  # the browser logs the 403 itself
    await watched.finish("lookup-refused")
