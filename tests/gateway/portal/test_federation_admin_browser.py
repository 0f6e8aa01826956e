"""Admin actions on /federation in a real browser: an admin signs in with the admin token (the browser keeps only
an opaque HttpOnly session cookie: the token is in no cookie, page or URL), approves a pending member and
suspends an active one, each audited under the admin's name like the API's; an anonymous visitor sees no admin
control and a forged approve (no session, or another site's form) is refused; a revoked admin's session ends."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from browser_kit import open_page
from registry_kit import join_body
from servers import Server, start_commons, start_gateway

from gateway.portal.admin import NS_SESSIONS, session_key
from gateway.web.keys import REGISTRY

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN_TOKEN = "portal-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env() -> AsyncIterator[tuple[Server, Server, Server]]:
    active = await start_commons("dg.AC01", 31, 3)
    joiner = await start_commons("dg.JO01", 32, 3)
    gateway = await start_gateway(
        store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False}, admin_token=ADMIN_TOKEN,
        registry={"members": [{"id": "steady", "name": "Steady", "base_url": active.base_url, "kind": "gen3",
                               "prefixes": ["dg.AC01"]}], "join_probe_timeout": 2.0},
        health={"interval": 3600.0}, aggregate={"harvest": {"enabled": False}})
    try:
        joined = await gateway.client.post("/registry/v1/commons", json=join_body(joiner.base_url, "Joiner",
                                                                                  ["dg.JO01"]))
        assert joined.status_code == 201, joined.text
        yield gateway, active, joiner
    finally:
        await gateway.stop()
        await joiner.stop()
        await active.stop()


async def _status(gateway: Server, member_id: str) -> str:
    return (await gateway.client.get(f"/registry/v1/commons/{member_id}")).json()["status"]


async def _audit(gateway: Server) -> list[dict]:
    return (await gateway.client.get("/registry/v1/audit", headers=ADMIN)).json()["entries"]


async def test_an_anonymous_visitor_sees_no_admin_control_and_a_forged_post_is_refused(env, browser):
    gateway, _, _ = env
    watched = await open_page(browser, gateway.base_url, "/federation")
    page = watched.page
    assert await page.locator(".admin-actions, form.approve, form.suspend").count() == 0
    assert await page.locator("form[action='/federation/sign-in']").count() == 1
    await watched.finish("federation-anonymous")

    # the page's own form token, but no admin session: refused, nothing changes
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    token = await page.locator("form[action='/federation/sign-in'] input[name=csrf_token]").get_attribute("value")
    async with httpx.AsyncClient(base_url=gateway.base_url, cookies={"gw_csrf": cookies["gw_csrf"]}) as client:
        r = await client.post("/federation/joiner/approve", data={"csrf_token": token})
        assert r.status_code == 403 and "sign in as an admin" in r.text
        forged = await client.post("/federation/joiner/approve", data={"csrf_token": token},
                                   headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403 and "another site" in forged.text
        wrong = await client.post("/federation/sign-in", data={"csrf_token": token, "token": "not-the-token"})
        assert wrong.status_code == 401 and "gw_admin" not in wrong.headers.get("Set-Cookie", "")
        assert "not-the-token" not in wrong.text
        # a session id made up by the caller is no session
        client.cookies.set("gw_admin", "A" * 43)
        r = await client.post("/federation/joiner/suspend", data={"csrf_token": token})
        assert r.status_code == 403
    assert await _status(gateway, "joiner") == "pending"


async def test_an_admin_signs_in_and_approves_a_pending_member(env, browser):
    gateway, _, _ = env
    watched = await open_page(browser, gateway.base_url, "/federation")
    page = watched.page
    await page.click(".admin-sign-in summary")
    await page.fill("#admin-token", ADMIN_TOKEN)
    async with page.expect_navigation():
        await page.click("form[action='/federation/sign-in'] button[type=submit]")
    assert await page.locator(".admin-name").inner_text() == "bootstrap"
    assert ADMIN_TOKEN not in await page.content() and ADMIN_TOKEN not in page.url
    session = [c for c in await page.context.cookies() if c["name"] == "gw_admin"]
    assert len(session) == 1 and session[0]["httpOnly"] and session[0]["sameSite"] == "Strict"
    assert session[0]["path"] == "/federation" and ADMIN_TOKEN not in session[0]["value"]
    assert all(ADMIN_TOKEN not in c["value"] for c in await page.context.cookies())
    assert await page.evaluate("document.cookie") == "", "no cookie is readable by scripts"

    joiner = page.locator("#member-joiner")
    assert await joiner.locator(".status").inner_text() == "pending"
    async with page.expect_navigation():
        await joiner.locator("form.approve button[type=submit]").click()
    assert await page.locator("#member-joiner .status").inner_text() == "active"
    assert await _status(gateway, "joiner") == "active"
    await watched.finish("federation-admin-approved")

    async with page.expect_navigation():
        await page.locator("#member-steady form.suspend button[type=submit]").click()
    assert await page.locator("#member-steady .status").inner_text() == "suspended"
    assert await _status(gateway, "steady") == "suspended"

    entries = await _audit(gateway)
    actions = [(e["actor"], e["action"], e.get("member_id")) for e in entries]
    assert ("admin:bootstrap", "portal.sign_in", None) in actions
    assert ("admin:bootstrap", "active", "joiner") in actions  # the API's approve writes the same entry
    assert ("admin:bootstrap", "suspended", "steady") in actions
    assert all(ADMIN_TOKEN not in str(e) for e in entries)

    async with page.expect_navigation():
        await page.click("form[action='/federation/sign-out'] button[type=submit]")
    assert await page.locator(".admin-actions").count() == 0
    assert not [c for c in await page.context.cookies() if c["name"] == "gw_admin"]
    await watched.finish("federation-admin-signed-out")


async def test_revoking_a_named_admin_ends_its_portal_session(env, browser):
    gateway, _, _ = env
    added = await gateway.client.post("/registry/v1/admins", headers=ADMIN, json={"name": "carol"})
    assert added.status_code == 201, added.text
    carol = added.json()["token"]
    watched = await open_page(browser, gateway.base_url, "/federation")
    page = watched.page
    await page.click(".admin-sign-in summary")
    await page.fill("#admin-token", carol)
    async with page.expect_navigation():
        await page.click("form[action='/federation/sign-in'] button[type=submit]")
    assert await page.locator(".admin-name").inner_text() == "carol"
    assert await page.locator(".admin-actions").count() > 0
    assert (await gateway.client.delete("/registry/v1/admins/carol", headers=ADMIN)).status_code in (200, 204)
    await page.reload()
    assert await page.locator(".admin-actions").count() == 0 and await page.locator(".admin-name").count() == 0
    await watched.finish("federation-admin-revoked")


async def test_an_expired_session_is_no_session_and_the_store_holds_no_cookie_or_token(env):
    gateway, _, _ = env
    client = httpx.AsyncClient(base_url=gateway.base_url)
    async with client:
        page = await client.get("/federation")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        r = await client.post("/federation/sign-in", data={"csrf_token": token, "token": ADMIN_TOKEN})
        assert r.status_code == 303
        session_id = client.cookies.get("gw_admin")
        assert session_id and ADMIN_TOKEN not in session_id
        assert "admin-actions" in (await client.get("/federation")).text
        store = gateway.app[REGISTRY].repository.store
        stored = await store.scan(NS_SESSIONS, limit=100)
        assert stored and all(session_id not in str(s.key) + str(s.doc) and ADMIN_TOKEN not in str(s.doc)
                              for s in stored)
        key = session_key(session_id)
        doc = (await store.get(NS_SESSIONS, key)).doc
        await store.put(NS_SESSIONS, key, {**doc, "expires": time.time() - 1})
        assert "admin-actions" not in (await client.get("/federation")).text
        r = await client.post("/federation/joiner/suspend", data={"csrf_token": token})
        assert r.status_code == 403
        assert await store.get(NS_SESSIONS, key) is None, "an expired session is removed when met"
