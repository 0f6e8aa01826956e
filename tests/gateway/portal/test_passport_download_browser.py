"""Download with a Passport in a real browser: the Passport this tab keeps (pasted on /passport) goes as the bearer
token of the DRS access call the lookup page's button makes on click, and the browser then fetches the file's bytes
from the signed URL, which is never in the page; a file the Passport does not grant says it is refused; the
Passport is in no URL the browser asks for."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from browser_kit import open_page
from passport_kit import Broker, dev_broker, files, passports_config
from servers import Server, free_port, start_commons, start_gateway

from gateway.passports.tokens.token_keys import JWKS_PATH
from refcommons.fence.gateway_trust import TrustedGateway
from refcommons.indexd.records import IndexRecord

pytestmark = pytest.mark.asyncio(loop_scope="module")

RESOURCES = {"templates": [{"template": "/programs/{dataset}.{consent}", "authority": "dbgap"}]}


@dataclass
class Env:
    gateway: Server
    member: Server
    broker: Broker
    files: dict[str, IndexRecord]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory) -> AsyncIterator[Env]:
    async with AsyncExitStack() as stack:
        broker = await stack.enter_async_context(dev_broker(Path(tmp_path_factory.mktemp("broker"))))
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        member = await start_commons("dg.PDL1", 44, 12, passports=passports_config(broker.url),
                                     trusted_gateways=(TrustedGateway(url, url + JWKS_PATH),),
                                     allow_insecure_loopback=True)
        stack.push_async_callback(member.stop)
        assert member.commons is not None
        gateway = await start_gateway(
            port=port, store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
            registry={"members": [{"id": "pp", "name": "pp", "base_url": member.base_url, "kind": "gen3",
                                   "prefixes": [member.commons.settings.prefix], "auth": {"type": "passport"}}]},
            passports={**passports_config(broker.url).model_dump(mode="json"), "resource_maps": {"pp": RESOURCES}},
            health={"interval": 3600.0}, aggregate={"harvest": {"enabled": False}}, upstream={"retries": 0})
        stack.push_async_callback(gateway.stop)
        yield Env(gateway, member, broker, await files(member))


def _grant(record: IndexRecord) -> tuple[str, str]:
    dataset, _, consent = record.authz[0].removeprefix("/programs/").partition(".")
    return dataset, consent


async def test_a_passport_download_fetches_the_bytes_on_click(env, browser):
    granted, refused = env.files["c1"], env.files["c2"]
    passport = env.broker.passport([env.broker.visa(*_grant(granted))])
    watched = await open_page(browser, env.gateway.base_url, "/passport")
    page = watched.page
    await page.fill("#passport", passport)
    async with page.expect_navigation():
        await page.click("form[action='/passport'] button[type=submit]")

    await page.goto(env.gateway.base_url + f"/guid/{granted.did}")
    html = await page.content()
    assert "/portal/download" not in html and "signature=" not in html and passport not in html
    await watched.finish("lookup-passport-download")
    member_host = urlsplit(env.member.base_url).netloc
    async with page.expect_response(lambda r: urlsplit(r.url).netloc == member_host) as answered, \
            page.expect_download() as downloading:
        await page.locator("button.passport-download").first.click()
    response = await answered.value
    assert response.status == 200
    body = Path(await (await downloading.value).path()).read_bytes()
    assert len(body) == granted.size and hashlib.md5(body).hexdigest() == granted.hashes["md5"]
    signed = response.url
    assert signed not in html, "the signed URL was fetched on click, never in the page"
    for url in watched.requests:  # the Passport went in a header only
        assert passport not in url and passport.split(".")[1] not in url
    # the only request to another host is the signed URL itself
    assert [p for p in watched.problems if member_host not in p] == []

    watched.problems.clear()
    await page.goto(env.gateway.base_url + f"/guid/{refused.did}")
    button = page.locator("button.passport-download").first
    assert await button.is_visible()
    await button.click()
    status = page.locator(".download-status").first
    await page.wait_for_function("s => s.textContent.startsWith('Refused')", arg=await status.element_handle())
    assert passport not in await page.content()
    assert page.url.startswith(env.gateway.base_url), "nothing opened"
    # the browser reports the refused access call itself (a 403 from the gateway), nothing else
    assert all("403" in p for p in watched.problems), watched.problems


async def test_without_a_passport_the_button_is_not_offered(env, browser):
    watched = await open_page(browser, env.gateway.base_url, f"/guid/{env.files['c1'].did}")
    assert await watched.page.locator("button.passport-download").count() > 0
    assert not await watched.page.locator("button.passport-download").first.is_visible()
    await watched.finish("lookup-no-passport")
