"""Signed URLs through the gateway's DRS API over a real federation (tests/support/drs_federation.py): open and
controlled data with member-minted tokens, the passthrough rule, URL-only access methods, bundles, and the
signed-URL lifetime."""

from __future__ import annotations

import hashlib
import time
from urllib.parse import quote

import httpx
import pytest
from drs_fakes import Server as FakeServer
from drs_federation import (
    CALLER,
    DRS,
    GATEWAY_OWN,
    MAX_TTL,
    assert_drs_error,
    controlled_file,
    expires_of,
    get_object,
    open_file,
    token,
)

from gateway.wire.drs import AccessURL
from refcommons.authz.default_policy import RESEARCHER_USER

pytestmark = pytest.mark.asyncio(loop_scope="module")


# --- access ------------------------------------------------------------------------------------------------


async def test_access_to_open_data_and_the_bytes(fed):
    for commons in (fed.a, fed.b, fed.c, fed.ref):
        f = open_file(commons)
        for access_id in ("s3", "gs"):
            r = await fed.client.get(f"{DRS}/objects/{f.guid}/access/{access_id}")
            assert r.status_code == 200, r.text
            assert set(r.json()) == {"url"}
            AccessURL.model_validate(r.json())
        url = (await fed.client.post(f"{DRS}/objects/{quote(f.guid, safe='')}/access/s3",
                                     json={"passports": ["x.y.z"]})).json()["url"]
        async with httpx.AsyncClient(timeout=10) as plain:
            data = await plain.get(url)
        assert data.status_code == 200 and hashlib.md5(data.content).hexdigest() == f.md5
        assert_drs_error(await fed.client.get(f"{DRS}/objects/{f.guid}/access/ftp"), 404)
        assert_drs_error(await fed.client.get(f"{DRS}/objects/{f.guid}/access/https"), 404)
    assert_drs_error(await fed.client.post(f"{DRS}/objects/{open_file(fed.a).guid}/access/s3",
                                           json={"passports": "x"}), 400)


@pytest.mark.parametrize("which", ["a", "b", "ref"])
async def test_access_to_controlled_data_with_a_member_minted_token(fed, which):
    commons = fed.ref if which == "ref" else getattr(fed, which)
    f = controlled_file(commons, study=0)
    other = controlled_file(commons, study=1)
    url = f"{DRS}/objects/{f.guid}/access/s3"
    assert_drs_error(await fed.client.get(url), 401)
    assert_drs_error(await fed.client.get(url, headers={"Authorization": "Bearer junk"}), 401)
    admin = {"Authorization": await token(commons)}
    r = await fed.client.get(url, headers=admin)
    assert r.status_code == 200, r.text
    async with httpx.AsyncClient(timeout=10) as plain:
        data = await plain.get(r.json()["url"])
    assert hashlib.sha256(data.content).hexdigest() == f.sha256
    researcher = {"Authorization": await token(commons, RESEARCHER_USER)}
    assert (await fed.client.get(url, headers=researcher)).status_code == 200
    assert_drs_error(await fed.client.get(f"{DRS}/objects/{other.guid}/access/s3", headers=researcher), 403)
    # the compact id and the self_uri work for access too
    uuid = f.guid.split("/", 1)[1]
    for form in (quote(f"drs://{f.guid.split('/')[0]}:{uuid}", safe=""), uuid):
        assert (await fed.client.get(f"{DRS}/objects/{form}/access/gs", headers=admin)).status_code == 200, form


async def test_a_member_without_passthrough_never_gets_the_callers_token(fed):
    """Member C takes no caller credentials: even its own valid admin token does not open its controlled data."""
    f = controlled_file(fed.c)
    r = await fed.client.get(f"{DRS}/objects/{f.guid}/access/s3", headers={"Authorization": await token(fed.c)})
    assert_drs_error(r, 401)
    r = await fed.client.get(f"{DRS}/objects/{open_file(fed.c).guid}/access/s3",
                             headers={"Authorization": await token(fed.c)})
    assert r.status_code == 200


async def test_passthrough_reaches_passthrough_members_only(fed):
    headers = {"Authorization": CALLER}
    for server in (fed.ep, fed.en):
        server.hits.clear()
    r = await fed.client.get(f"{DRS}/objects/dg.EP01%2Fobj-1/access/s3", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json() == {"url": f"https://signed.example/{quote('dg.EP01/obj-1', safe='')}/s3",
                        "headers": ["X-Member: yes"]}
    r = await fed.client.get(f"{DRS}/objects/dg.EN01/obj-1/access/s3", headers=headers)
    assert r.status_code == 200, r.text
    bulk = await fed.client.post(f"{DRS}/objects/access", headers=headers, json={"bulk_object_access_ids": [
        {"bulk_object_id": "dg.EP01/obj-1", "bulk_access_ids": ["s3"]},
        {"bulk_object_id": "dg.EN01/obj-1", "bulk_access_ids": ["s3"]},
    ]})
    assert bulk.status_code == 200 and bulk.json()["summary"] == {"requested": 2, "resolved": 2, "unresolved": 0}

    def auth_on(server: FakeServer, part: str) -> list[str | None]:
        return [h.get("Authorization") for _, path, h in server.hits if part in path]

    assert auth_on(fed.ep, "/access") == [CALLER, CALLER]  # single and bulk
    assert auth_on(fed.en, "/access") == [None, None]
    assert all(h.get("Authorization") != CALLER for _, _, h in fed.en.hits)
    # a member the gateway holds its own token for gets that token, never the caller's
    fed.eb.hits.clear()
    r = await fed.client.get(f"{DRS}/objects/dg.EB01/obj-1/access/s3", headers=headers)
    assert r.status_code == 200, r.text
    assert auth_on(fed.eb, "/access") == [f"Bearer {GATEWAY_OWN}"]
    r = await fed.client.request("OPTIONS", f"{DRS}/objects/dg.EB01/obj-1")
    assert r.json() == {"drs_object_id": "dg.EB01/obj-1", "supported_types": ["None"]}
    # a GET for an object carries no caller token to any member
    fed.ep.hits.clear()
    assert (await get_object(fed, "dg.EP01/obj-1", headers=headers)).status_code == 200
    assert all(h.get("Authorization") != CALLER for _, _, h in fed.ep.hits)


async def test_url_only_access_methods_are_answered_from_the_member_object(fed):
    obj = (await get_object(fed, "dg.EP01/urls")).json()
    assert [(m["type"], m["access_id"]) for m in obj["access_methods"]] == [("https", "https"), ("https", "https-2"),
                                                                           ("s3", "7")]
    fed.ep.hits.clear()
    r = await fed.client.get(f"{DRS}/objects/dg.EP01/urls/access/https")
    assert r.json() == {"url": "https://cdn.example/urls/1", "headers": ["X-Token: abc"]}
    r = await fed.client.get(f"{DRS}/objects/dg.EP01%2Furls/access/https-2")
    assert r.json() == {"url": "https://cdn.example/urls/2"}
    assert [p for _, p, _ in fed.ep.hits if "/access" in p] == []  # embedded URLs: the member was not asked
    r = await fed.client.get(f"{DRS}/objects/dg.EP01/urls/access/7")
    assert r.status_code == 200 and r.json()["url"].endswith("/7")  # a member access id: asked of the member
    bulk = (await fed.client.post(f"{DRS}/objects/access", json={"bulk_object_access_ids": [
        {"bulk_object_id": "dg.EP01/urls", "bulk_access_ids": ["https-2", "7", "https-3"]}]})).json()
    assert bulk["summary"] == {"requested": 3, "resolved": 2, "unresolved": 1}
    assert [(u["drs_access_id"], u["url"]) for u in bulk["resolved_drs_object_access_urls"]] == [
        ("https-2", "https://cdn.example/urls/2"), ("7", f"https://signed.example/{quote('dg.EP01/urls', safe='')}/7")]
    assert bulk["unresolved_drs_objects"] == [{"error_code": 404, "object_ids": ["dg.EP01/urls"]}]


async def test_bundle_contents_point_back_at_the_gateway(fed):
    body = (await get_object(fed, "dg.EP01/bundle")).json()
    gw = fed.gateway.hostname
    assert body["contents"] == [
        {"name": "child.bam", "id": "dg.EP01/obj-1", "drs_uri": [f"drs://{gw}/dg.EP01%2Fobj-1"]},
        {"name": "outside", "drs_uri": ["drs://elsewhere.example/xyz"]},
    ]
    child = await get_object(fed, quote(body["contents"][0]["drs_uri"][0], safe=""))
    assert child.status_code == 200 and child.json()["id"] == "dg.EP01/obj-1"


async def test_signed_url_lifetime_is_clamped(fed):
    for commons in (fed.a, fed.ref):
        url = f"{DRS}/objects/{open_file(commons).guid}/access/s3"
        for asked, ceiling in ((None, MAX_TTL), ("100000", MAX_TTL), (str(MAX_TTL + 1), MAX_TTL), ("30", 30)):
            before = int(time.time())
            r = await fed.client.get(url, params={"expires_in": asked} if asked else None)
            assert r.status_code == 200, r.text
            expires = expires_of(r.json()["url"])
            assert before + ceiling - 5 <= expires <= int(time.time()) + ceiling, (commons, asked, expires - before)
        for bad in ("0", "-3", "soon"):
            assert_drs_error(await fed.client.get(url, params={"expires_in": bad}), 400)
    bulk = await fed.client.post(f"{DRS}/objects/access", params={"expires_in": "86400"}, json={
        "bulk_object_access_ids": [{"bulk_object_id": open_file(c).guid, "bulk_access_ids": ["s3", "gs"]}
                                   for c in (fed.a, fed.ref)]})
    urls = bulk.json()["resolved_drs_object_access_urls"]
    assert len(urls) == 4
    assert all(expires_of(u["url"]) <= int(time.time()) + MAX_TTL for u in urls)
