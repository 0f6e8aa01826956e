"""The gateway's GA4GH DRS API over a real federation on loopback: three standalone reference commons (two
as Gen3 members, one as a DRS member; passthrough or no auth), the in-process reference commons, and two
small DRS members that record what they receive (one passthrough, one not). Every endpoint, every id form,
access with real member-minted tokens, signed-URL lifetimes, bulk shapes and limits, the passthrough rule."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import jwt
import pytest
import pytest_asyncio
from drs_fakes import Server as FakeServer
from drs_fakes import drs_doc, drs_member, serve
from servers import Server, start_commons, start_gateway

from gateway.web.keys import STATE
from gateway.wire.drs import (
    AccessURL,
    Authorizations,
    BulkAccessResponse,
    BulkAuthorizationsResponse,
    BulkObjectsResponse,
    DrsObject,
    ServiceInfo,
)
from refcommons.authz.default_policy import ADMIN_USER, RESEARCHER_USER
from refcommons.commons import ReferenceCommons

pytestmark = pytest.mark.asyncio(loop_scope="module")

DRS = "/ga4gh/drs/v1"
BULK_LIMIT = 16
MAX_TTL = 600
MISSING = "00000000-0000-4000-8000-0000000000ff"
CALLER = "Bearer caller-token-123"


@dataclass
class Fed:
    gateway: Server
    a: Server
    """dg.FA01, kind gen3, passthrough."""
    b: Server
    """dg.FB02, kind drs, passthrough."""
    c: Server
    """dg.FC03, kind gen3, auth none."""
    ep: FakeServer
    """dg.EP01, a small DRS member with bulk, passthrough."""
    en: FakeServer
    """dg.EN01, a small DRS member without bulk, auth none."""
    eb: FakeServer
    """dg.EB01, a small DRS member for which the gateway has its own bearer token."""

    @property
    def ref(self) -> ReferenceCommons:
        """The in-process reference commons (dg.REF0, passthrough)."""
        return self.gateway.app[STATE].refcommons

    @property
    def client(self) -> httpx.AsyncClient:
        return self.gateway.client


EP_OBJECTS = {
    "dg.EP01/obj-1": drs_doc("dg.EP01/obj-1"),
    **{f"dg.EP01/b-{i}": drs_doc(f"dg.EP01/b-{i}") for i in (1, 2, 3)},
    "dg.EP01/urls": drs_doc("dg.EP01/urls", access_methods=[
        {"type": "https", "access_url": {"url": "https://cdn.example/urls/1", "headers": ["X-Token: abc"]}},
        {"type": "https", "access_url": {"url": "https://cdn.example/urls/2"}},
        {"type": "s3", "access_id": 7, "access_url": None},
    ]),
    "dg.EP01/bundle": drs_doc("dg.EP01/bundle", access_methods=None, contents=[
        {"name": "child.bam", "id": "dg.EP01/obj-1", "drs_uri": "drs://member.example/dg.EP01%2Fobj-1"},
        {"name": "outside", "drs_uri": "drs://elsewhere.example/xyz"},
    ]),
}
EN_OBJECTS = {"dg.EN01/obj-1": drs_doc("dg.EN01/obj-1")}
EB_OBJECTS = {"dg.EB01/obj-1": drs_doc("dg.EB01/obj-1")}
GATEWAY_OWN = "gateway-own-token-for-eb"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fed() -> AsyncIterator[Fed]:
    async with AsyncExitStack() as stack:
        a = await start_commons("dg.FA01", 1, 10)
        stack.push_async_callback(a.stop)
        b = await start_commons("dg.FB02", 2, 10)
        stack.push_async_callback(b.stop)
        c = await start_commons("dg.FC03", 3, 10)
        stack.push_async_callback(c.stop)
        ep = await stack.enter_async_context(serve(drs_member(EP_OBJECTS, bulk=10)))
        en = await stack.enter_async_context(serve(drs_member(EN_OBJECTS)))
        eb = await stack.enter_async_context(serve(drs_member(EB_OBJECTS)))

        def m(mid: str, srv_url: str, kind: str, prefix: str, auth: str, **more: Any) -> dict[str, Any]:
            return {"id": mid, "name": mid.upper(), "base_url": srv_url, "kind": kind, "prefixes": [prefix],
                    "auth": {"type": auth, **more}}

        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"subjects": 10, "data_dir": None},
            registry={"members": [
                m("fa", a.base_url, "gen3", "dg.FA01", "passthrough"),
                m("fb", b.base_url, "drs", "dg.FB02", "passthrough"),
                m("fc", c.base_url, "gen3", "dg.FC03", "none"),
                m("ep", ep.url, "drs", "dg.EP01", "passthrough"),
                m("en", en.url, "drs", "dg.EN01", "none"),
                m("eb", eb.url, "drs", "dg.EB01", "bearer", token=GATEWAY_OWN),
            ]},
            drs={"max_bulk_request_length": BULK_LIMIT, "max_signed_url_ttl": MAX_TTL},
            upstream={"retries": 0},
        )
        stack.push_async_callback(gateway.stop)
        yield Fed(gateway, a, b, c, ep, en, eb)


# --- helpers ----------------------------------------------------------------------------------------------


def files(commons: Server | ReferenceCommons) -> list:
    rc = commons.commons if isinstance(commons, Server) else commons
    return rc.dataset.files


def open_file(commons: Server | ReferenceCommons, n: int = 0):
    return [f for f in files(commons) if "/projects/" in f.authz][n]


def controlled_file(commons: Server | ReferenceCommons, study: int = 0):
    rc = commons.commons if isinstance(commons, Server) else commons
    phs = [p for p in rc.dataset.projects if p.access == "controlled"][study].phs
    return next(f for f in rc.dataset.files if f.authz == f"/programs/{phs}.c1")


async def token(commons: Server | ReferenceCommons, user: str = ADMIN_USER) -> str:
    """A bearer token minted by the member's own fence (API key → access token)."""
    rc = commons.commons if isinstance(commons, Server) else commons
    key = await rc.fence.create_api_key(user)
    return f"Bearer {await rc.fence.exchange(key['api_key'])}"


def assert_drs_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"msg", "status_code"} and body["status_code"] == status and body["msg"], body
    return body


def no_nulls(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, dict):
        return all(no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(no_nulls(v) for v in value)
    return True


def expires_of(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["expires"][0])


async def get_object(fed: Fed, object_id: str, **kwargs: Any) -> httpx.Response:
    return await fed.client.get(f"{DRS}/objects/{object_id}", **kwargs)


# --- single objects -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["a", "b", "c", "ref"])
async def test_every_id_form_gives_the_same_spec_clean_object(fed, which):
    commons = fed.ref if which == "ref" else getattr(fed, which)
    f = controlled_file(commons)
    prefix, uuid = f.guid.split("/", 1)
    gw = fed.gateway.hostname
    forms = [
        f.guid, quote(f.guid, safe=""), uuid, f"{prefix.lower()}/{uuid}", f"{prefix.upper()}%2F{uuid}",
        f"drs://{prefix}:{uuid}", quote(f"drs://{prefix}:{uuid}", safe=""), f"drs://{prefix.lower()}:{uuid}",
        f"drs://{prefix}/{uuid}", f"dos://{prefix}:{uuid}", quote(f"drs://{prefix}:{f.guid}", safe=""),
        f"drs://{gw}/{quote(f.guid, safe='')}", quote(f"drs://{gw}/{quote(f.guid, safe='')}", safe=""),
    ]
    if which != "ref":  # a standalone member answers for its own DRS hostname too
        forms.append(quote(f"drs://{commons.hostname}/{quote(f.guid, safe='')}", safe=""))
    bodies = {}
    for form in forms:
        r = await get_object(fed, form)
        assert r.status_code == 200, (form, r.text)
        assert r.headers["content-type"].startswith("application/json")
        bodies[form] = r.json()
    first = bodies[f.guid]
    assert all(body == first for body in bodies.values()), {k: v["id"] for k, v in bodies.items()}
    assert no_nulls(first)
    DrsObject.model_validate(first)
    assert first["id"] == f.guid and first["name"] == f.file_name and first["size"] == f.size
    assert first["self_uri"] == f"drs://{gw}/{quote(f.guid, safe='')}"
    assert {(c["type"], c["checksum"]) for c in first["checksums"]} >= {("md5", f.md5), ("sha-256", f.sha256)}
    assert first["created_time"].endswith("Z")
    assert [m["access_id"] for m in first["access_methods"]] == ["s3", "gs"]
    assert all(m["type"] == m["access_id"] for m in first["access_methods"])

    # the returned id and self_uri lead back to the same object through the gateway
    for again in (first["id"], quote(first["id"], safe=""), first["self_uri"].rsplit("/", 1)[1],
                  quote(first["self_uri"], safe=""), first["self_uri"]):
        r = await get_object(fed, again)
        assert r.status_code == 200 and r.json() == first, again


async def test_drs_member_objects_are_rehomed_on_the_gateway(fed):
    """A DRS member's own self_uri points at the member; the gateway's points at the gateway."""
    f = open_file(fed.b)
    own = (await fed.b.client.get(f"{DRS}/objects/{f.guid}")).json()
    ours = (await get_object(fed, f.guid)).json()
    assert own["self_uri"].startswith(f"drs://{fed.b.hostname}/")
    assert ours["self_uri"] == f"drs://{fed.gateway.hostname}/{quote(f.guid, safe='')}"
    assert {k: v for k, v in ours.items() if k != "self_uri"} == {k: v for k, v in own.items() if k != "self_uri"}


async def test_expand_bodies_and_post(fed):
    f = open_file(fed.a, 1)
    plain = (await get_object(fed, f.guid)).json()
    for value in ("True", "true", "false", "FALSE", "1", "no"):
        r = await get_object(fed, f.guid, params={"expand": value})
        assert r.status_code == 200 and r.json() == plain, value
    assert_drs_error(await get_object(fed, f.guid, params={"expand": "maybe"}), 400)
    r = await fed.client.request("GET", f"{DRS}/objects/{f.guid}", json={"expand": "not even a bool"})
    assert r.status_code == 200 and r.json() == plain  # a body on a GET is ignored (the compliance suite sends {})
    for body in ({"expand": False, "passports": ["aaa.bbb.ccc"]}, {"passports": []}, {}):
        r = await fed.client.post(f"{DRS}/objects/{f.guid}", json=body)
        assert r.status_code == 200 and r.json() == plain, body
    assert (await fed.client.post(f"{DRS}/objects/{quote(f.guid, safe='')}")).json() == plain
    assert_drs_error(await fed.client.post(f"{DRS}/objects/{f.guid}", json={"expand": "sometimes"}), 400)
    assert_drs_error(await fed.client.post(f"{DRS}/objects/{f.guid}", json={"passports": "one"}), 400)
    assert_drs_error(await fed.client.post(f"{DRS}/objects/{f.guid}", content=b"{",
                                           headers={"Content-Type": "application/json"}), 400)


async def test_unknown_and_invalid_ids(fed):
    body = assert_drs_error(await get_object(fed, f"dg.FA01/{MISSING}"), 404)
    assert MISSING in body["msg"]
    assert_drs_error(await get_object(fed, f"dg.ZZ99/{MISSING}"), 404)
    assert_drs_error(await get_object(fed, MISSING), 404)  # asked of every member
    assert_drs_error(await get_object(fed, f"drs://unknown.example/{MISSING}"), 404)
    assert_drs_error(await get_object(fed, "x" * 3000), 400)
    assert_drs_error(await fed.client.get(f"{DRS}/objects"), 405)
    assert_drs_error(await fed.client.get(f"{DRS}/nowhere"), 404)
    assert_drs_error(await fed.client.request("OPTIONS", f"{DRS}/objects"), 400)
    for garbage in ("a%20b", quote("drs://", safe=""), "%25%25"):
        assert_drs_error(await get_object(fed, garbage), 400)
    assert_drs_error(await fed.client.request("OPTIONS", f"{DRS}/objects/dg.FB02%2F{MISSING}"), 404)
    assert_drs_error(await fed.client.get(f"{DRS}/objects/dg.FB02/{MISSING}/access/s3"), 404)


async def test_options_says_how_to_authorize_through_the_gateway(fed):
    cases = [
        (controlled_file(fed.a), ["BearerAuth"], [f"{fed.a.base_url}/user"]),
        (controlled_file(fed.b), ["BearerAuth"], None),  # a DRS member names no issuer
        (controlled_file(fed.c), ["None"], None),  # the gateway brings its own (here: no) credentials
        (controlled_file(fed.ref), ["BearerAuth"], [f"{fed.gateway.base_url}/refcommons/user"]),
    ]
    for f, types, issuers in cases:
        r = await fed.client.request("OPTIONS", f"{DRS}/objects/{quote(f.guid, safe='')}")
        assert r.status_code == 200, r.text
        Authorizations.model_validate(r.json())
        expected = {"drs_object_id": f.guid, "supported_types": types}
        if issuers:
            expected["bearer_auth_issuers"] = issuers
        assert r.json() == expected
    r = await fed.client.request("OPTIONS", f"{DRS}/objects/{controlled_file(fed.a).guid.split('/')[1]}")
    assert r.json()["drs_object_id"] == controlled_file(fed.a).guid
    # the issuer named is the one in the member's own tokens, so a client can pick the right token
    for commons, (_, _, issuers) in ((fed.a, cases[0]), (fed.ref, cases[3])):
        claims = jwt.decode((await token(commons)).split()[1], options={"verify_signature": False})
        assert [claims["iss"]] == issuers


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


# --- bulk ---------------------------------------------------------------------------------------------------


async def test_bulk_objects_across_members(fed):
    fa, fb, fc, fr = open_file(fed.a, 2), controlled_file(fed.b), open_file(fed.c, 1), open_file(fed.ref)
    fa2 = controlled_file(fed.a, study=1)
    gw = fed.gateway.hostname
    ids = [
        fa.guid, fb.guid, fc.guid.split("/", 1)[1], fr.guid, f"drs://{gw}/{quote(fa2.guid, safe='')}",
        f"drs://dg.FB02:{fb.guid.split('/', 1)[1]}", "dg.EP01/obj-1",
        f"dg.FA01/{MISSING}", f"dg.ZZ99/{MISSING}", "", "not an id", "drs://",
    ]
    r = await fed.client.post(f"{DRS}/objects", json={"bulk_object_ids": ids, "passports": ["a.b.c"]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"summary", "unresolved_drs_objects", "resolved_drs_object"} and no_nulls(body)
    BulkObjectsResponse.model_validate(body)
    assert body["summary"] == {"requested": 12, "resolved": 7, "unresolved": 5}
    assert body["unresolved_drs_objects"] == [
        {"error_code": 400, "object_ids": ["", "not an id", "drs://"]},
        {"error_code": 404, "object_ids": [f"dg.FA01/{MISSING}", f"dg.ZZ99/{MISSING}"]},
    ]
    resolved = body["resolved_drs_object"]
    assert [o["id"] for o in resolved] == [fa.guid, fb.guid, fc.guid, fr.guid, fa2.guid, fb.guid, "dg.EP01/obj-1"]
    for raw, obj in zip(ids, resolved):
        single = await get_object(fed, quote(raw, safe=""))
        assert single.status_code == 200 and single.json() == obj, raw
    r = await fed.client.post(f"{DRS}/objects", params={"expand": "True"}, json={"bulk_object_ids": [fa.guid]})
    assert r.status_code == 200 and r.json()["resolved_drs_object"] == resolved[:1]
    assert_drs_error(await fed.client.post(f"{DRS}/objects", params={"expand": "maybe"},
                                           json={"bulk_object_ids": [fa.guid]}), 400)


async def test_bulk_limits_and_bad_bodies(fed):
    c = fed.client
    ok = await c.post(f"{DRS}/objects", json={"bulk_object_ids": [f"dg.FA01/{MISSING}"] * BULK_LIMIT})
    assert ok.status_code == 200 and ok.json()["summary"] == {"requested": BULK_LIMIT, "resolved": 0,
                                                             "unresolved": BULK_LIMIT}
    too_many = [f"dg.FA01/{i}" for i in range(BULK_LIMIT + 1)]
    assert str(BULK_LIMIT) in assert_drs_error(await c.post(f"{DRS}/objects", json={"bulk_object_ids": too_many}),
                                               413)["msg"]
    assert_drs_error(await c.request("OPTIONS", f"{DRS}/objects", json={"bulk_object_ids": too_many}), 413)
    pairs = [{"bulk_object_id": "dg.FA01/x", "bulk_access_ids": ["s3", "gs"]}] * (BULK_LIMIT // 2 + 1)
    assert_drs_error(await c.post(f"{DRS}/objects/access", json={"bulk_object_access_ids": pairs}), 413)
    assert_drs_error(await c.post(f"{DRS}/objects", json={"bulk_object_ids": []}), 400)
    assert_drs_error(await c.post(f"{DRS}/objects", json={"ids": ["x"]}), 400)
    assert_drs_error(await c.post(f"{DRS}/objects", json={"bulk_object_ids": [1, 2]}), 400)
    assert_drs_error(await c.post(f"{DRS}/objects", content=b"x", headers={"Content-Type": "text/plain"}), 415)
    assert_drs_error(await c.post(f"{DRS}/objects/access", json={"bulk_object_access_ids": [
        {"bulk_object_id": "x", "bulk_access_ids": []}]}), 400)


async def test_bulk_options(fed):
    fa, fc, fr = controlled_file(fed.a), controlled_file(fed.c), open_file(fed.ref, 1)
    ids = [fa.guid, fc.guid.split("/", 1)[1], fr.guid, f"dg.FC03/{MISSING}", "a b"]
    r = await fed.client.request("OPTIONS", f"{DRS}/objects", json={"bulk_object_ids": ids})
    assert r.status_code == 200, r.text
    body = r.json()
    BulkAuthorizationsResponse.model_validate(body)
    assert body["summary"] == {"requested": 5, "resolved": 3, "unresolved": 2}
    assert body["unresolved_drs_objects"] == [{"error_code": 400, "object_ids": ["a b"]},
                                              {"error_code": 404, "object_ids": [f"dg.FC03/{MISSING}"]}]
    assert body["resolved_drs_object"] == [
        {"drs_object_id": fa.guid, "supported_types": ["BearerAuth"],
         "bearer_auth_issuers": [f"{fed.a.base_url}/user"]},
        {"drs_object_id": fc.guid, "supported_types": ["None"]},
        {"drs_object_id": fr.guid, "supported_types": ["BearerAuth"],
         "bearer_auth_issuers": [f"{fed.gateway.base_url}/refcommons/user"]},
    ]


async def test_bulk_access_across_members(fed):
    a_open, a_closed, b_open, r_open = open_file(fed.a, 3), controlled_file(fed.a), open_file(fed.b, 1), \
        open_file(fed.ref, 2)
    c_closed = controlled_file(fed.c)
    request = {"bulk_object_access_ids": [
        {"bulk_object_id": a_open.guid, "bulk_access_ids": ["s3", "gs", "ftp"]},
        {"bulk_object_id": a_closed.guid, "bulk_access_ids": ["s3"]},
        {"bulk_object_id": b_open.guid.split("/", 1)[1], "bulk_access_ids": ["gs"]},
        {"bulk_object_id": r_open.guid, "bulk_access_ids": ["s3"]},
        {"bulk_object_id": c_closed.guid, "bulk_access_ids": ["s3"]},
        {"bulk_object_id": f"dg.FA01/{MISSING}", "bulk_access_ids": ["s3"]},
        {"bulk_object_id": "a b", "bulk_access_ids": ["s3"]},
    ], "passports": ["p.q.r"]}
    r = await fed.client.post(f"{DRS}/objects/access", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"summary", "unresolved_drs_objects", "resolved_drs_object_access_urls"} and no_nulls(body)
    BulkAccessResponse.model_validate(body)
    assert body["summary"] == {"requested": 9, "resolved": 4, "unresolved": 5}
    groups = {g["error_code"]: sorted(g["object_ids"]) for g in body["unresolved_drs_objects"]}
    assert [g["error_code"] for g in body["unresolved_drs_objects"]] == [400, 401, 404]
    assert groups == {400: ["a b"], 401: sorted([a_closed.guid, c_closed.guid]),
                      404: sorted([a_open.guid, f"dg.FA01/{MISSING}"])}
    got = sorted((u["drs_object_id"], u["drs_access_id"]) for u in body["resolved_drs_object_access_urls"])
    assert got == sorted([(a_open.guid, "s3"), (a_open.guid, "gs"), (b_open.guid.split("/", 1)[1], "gs"),
                          (r_open.guid, "s3")])
    # with A's own token A's controlled object opens; C (no passthrough) refuses whatever the caller holds
    pair = {"bulk_object_access_ids": [{"bulk_object_id": a_closed.guid, "bulk_access_ids": ["s3"]},
                                       {"bulk_object_id": c_closed.guid, "bulk_access_ids": ["s3"]}]}
    r = await fed.client.post(f"{DRS}/objects/access", headers={"Authorization": await token(fed.a)}, json=pair)
    assert r.json()["summary"] == {"requested": 2, "resolved": 1, "unresolved": 1}
    assert r.json()["resolved_drs_object_access_urls"][0]["drs_object_id"] == a_closed.guid
    assert r.json()["unresolved_drs_objects"] == [{"error_code": 401, "object_ids": [c_closed.guid]}]
    r = await fed.client.post(f"{DRS}/objects/access", headers={"Authorization": await token(fed.c)}, json=pair)
    assert r.json()["summary"] == {"requested": 2, "resolved": 0, "unresolved": 2}
    assert {i for g in r.json()["unresolved_drs_objects"] for i in g["object_ids"]} == {a_closed.guid, c_closed.guid}


async def test_bulk_access_failures_are_listed_in_request_order(fed):
    """``unresolved_drs_objects`` lists ids in request order (as bulk objects does, and as ``group_unresolved``
    promises), not in the order the members happened to answer: here the in-process member (no I/O) answers
    before member A, whose object comes first."""
    first, second = controlled_file(fed.a, study=1), controlled_file(fed.ref, study=1)
    r = await fed.client.post(f"{DRS}/objects/access", json={"bulk_object_access_ids": [
        {"bulk_object_id": first.guid, "bulk_access_ids": ["s3"]},
        {"bulk_object_id": second.guid, "bulk_access_ids": ["s3"]}]})
    assert r.json()["unresolved_drs_objects"] == [{"error_code": 401, "object_ids": [first.guid, second.guid]}]


async def test_bulk_calls_each_member_once(fed):
    """The small DRS member with bulk gets one bulk call for all of its ids and none one by one; an id it
    lacks in the spelling given is asked again (in one more bulk call) with the prefix spelled dg.XXXX."""
    fed.ep.hits.clear()
    ids = ["dg.ep01/b-1", "dg.EP01/b-2", "dg.EP01/b-3", "dg.EP01/b-none"]
    r = await fed.client.post(f"{DRS}/objects", json={"bulk_object_ids": ids})
    assert r.status_code == 200
    assert r.json()["summary"] == {"requested": 4, "resolved": 3, "unresolved": 1}
    assert [o["id"] for o in r.json()["resolved_drs_object"]] == ["dg.EP01/b-1", "dg.EP01/b-2", "dg.EP01/b-3"]
    bulk_calls = [p for m, p, _ in fed.ep.hits if m == "POST" and p == f"{DRS}/objects"]
    singles = [p for m, p, _ in fed.ep.hits if m == "GET" and p.startswith(f"{DRS}/objects/")]
    assert len(bulk_calls) == 2 and singles == [], fed.ep.hits


# --- service-info -------------------------------------------------------------------------------------------


async def test_service_info(fed):
    r = await fed.client.get(f"{DRS}/service-info")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert no_nulls(body)
    info = ServiceInfo.model_validate(body)
    assert (info.type.group, info.type.artifact, info.type.version) == ("org.ga4gh", "drs", "1.5.0")
    assert body["maxBulkRequestLength"] == BULK_LIMIT
    assert body["drs"]["maxBulkRequestLength"] == BULK_LIMIT
    assert {"id", "name", "organization", "version"} <= set(body)
