"""GA4GH DRS on a running reference commons: spec-clean objects (no nulls, created_time, string
access_id, hostname-based percent-encoded self_uri), every id form, access with real tokens, OPTIONS,
bulk shapes and limits, DRS error bodies, and the 1.2 profile the compliance suite's schemas accept."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import AsyncIterator
from datetime import datetime
from urllib.parse import quote

import httpx
import pytest
from aiohttp import web

from gateway.wire.drs import (
    AccessURL,
    Authorizations,
    BulkAccessResponse,
    BulkAuthorizationsResponse,
    BulkObjectsResponse,
    DrsObject,
    ServiceInfo,
)
from refcommons.app import build_app
from refcommons.authz.default_policy import ADMIN_USER, RESEARCHER_USER
from refcommons.commons import ReferenceCommons
from refcommons.settings import CommonsSettings

DRS = "/ga4gh/drs/v1"
# what the drs-compliance-suite's closed v1.2.0 schemas allow
DCS_SERVICE_INFO_KEYS = {"id", "name", "type", "description", "organization", "contactUrl", "documentationUrl",
                         "createdAt", "updatedAt", "environment", "version"}
DCS_ACCESS_METHOD_KEYS = {"type", "access_url", "access_id", "region"}
DCS_TYPES = {"s3", "gs", "ftp", "gsiftp", "globus", "htsget", "https", "file"}


def no_nulls(value) -> bool:
    if value is None:
        return False
    if isinstance(value, dict):
        return all(no_nulls(v) for v in value.values())
    if isinstance(value, list):
        return all(no_nulls(v) for v in value)
    return True


async def token_for(running, user: str) -> str:
    """An access token via an API key (the commons' admin mint) exchanged over HTTP, as the Gen3 SDK does."""
    credentials = await running.commons.fence.create_api_key(user)
    r = await running.client.post("/user/credentials/api/access_token", json=credentials)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _open(running):
    return next(f for f in running.commons.dataset.files if "/projects/" in f.authz)


def _controlled(running, consent: str = "c1", study: int = 0):
    phs = [p for p in running.commons.dataset.projects if p.access == "controlled"][study].phs
    return next(f for f in running.commons.dataset.files if f.authz == f"/programs/{phs}.{consent}")


def assert_drs_error(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"msg", "status_code"} and body["status_code"] == status and body["msg"]


@pytest.fixture
async def commons_12(tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    """A commons serving the DRS 1.2 profile."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = CommonsSettings(prefix="dg.TST2", seed=3, subjects=10, drs_profile="1.2",
                               base_url=f"http://127.0.0.1:{port}")
    commons = await ReferenceCommons.open(settings)
    runner = web.AppRunner(build_app(commons), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = httpx.AsyncClient(base_url=settings.base_url, timeout=10)
    client.files = commons.dataset.files  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        await client.aclose()
        await runner.cleanup()


async def test_service_info(commons_server):
    r = await commons_server.client.get(f"{DRS}/service-info")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert no_nulls(body)
    info = ServiceInfo.model_validate(body)
    assert info.type.group == "org.ga4gh" and info.type.artifact == "drs" and info.type.version == "1.5.0"
    files = commons_server.commons.dataset.files
    limit = commons_server.commons.settings.max_bulk_request_length
    assert body["maxBulkRequestLength"] == limit
    assert body["drs"] == {"maxBulkRequestLength": limit, "objectCount": len(files),
                           "totalObjectSize": sum(f.size for f in files)}


async def test_object_is_spec_clean(commons_server):
    f = _open(commons_server)
    r = await commons_server.client.get(f"{DRS}/objects/{f.guid}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert no_nulls(body)
    obj = DrsObject.model_validate(body)
    assert obj.id == f.guid and obj.name == f.file_name and obj.size == f.size
    host = commons_server.base_url.split("://")[1]
    assert body["self_uri"] == f"drs://{host}/{quote(f.guid, safe='')}" and "%2F" in body["self_uri"]
    assert body["created_time"].endswith("Z")
    assert datetime.fromisoformat(body["created_time"]) == datetime.fromisoformat(f.created_date)
    assert {(c["type"], c["checksum"]) for c in body["checksums"]} == {("md5", f.md5), ("sha-256", f.sha256)}
    methods = body["access_methods"]
    assert [m["type"] for m in methods] == ["s3", "gs"]
    assert all(isinstance(m["access_id"], str) and m["access_id"] == m["type"] for m in methods)
    assert methods[0]["region"] == "us-east-1" and methods[0]["cloud"] == "aws" and methods[1]["cloud"] == "gcp"
    assert all(m["available"] is True for m in methods)
    assert body["mime_type"] and body["version"]


async def test_every_id_form_resolves_to_the_same_object(commons_server):
    c = commons_server.client
    f = _controlled(commons_server)
    prefix, uid = f.guid.split("/")
    forms = [f.guid, quote(f.guid, safe=""), uid, f"{prefix}:{uid}", f"{prefix.upper()}/{uid}"]
    bodies = []
    for form in forms:
        r = await c.get(f"{DRS}/objects/{form}")
        assert r.status_code == 200, form
        bodies.append(r.json())
    assert all(b == bodies[0] for b in bodies) and bodies[0]["id"] == f.guid
    # the self_uri's id is reusable against us
    again = await c.get(f"{DRS}/objects/{bodies[0]['self_uri'].rsplit('/', 1)[1]}")
    assert again.json() == bodies[0]


async def test_expand_parsing_get_bodies_and_post(commons_server):
    c = commons_server.client
    f = _open(commons_server)
    plain = (await c.get(f"{DRS}/objects/{f.guid}")).json()
    for value in ("true", "True", "FALSE", "false"):
        assert (await c.get(f"{DRS}/objects/{f.guid}", params={"expand": value})).json() == plain
    assert_drs_error(await c.get(f"{DRS}/objects/{f.guid}", params={"expand": "maybe"}), 400)
    with_body = await c.request("GET", f"{DRS}/objects/{f.guid}", json={})  # the compliance suite does this
    assert with_body.status_code == 200 and with_body.json() == plain
    for body in ({"expand": False, "passports": ["a.b.c"]}, {}):
        r = await c.post(f"{DRS}/objects/{f.guid}", json=body)
        assert r.status_code == 200 and r.json() == plain
    assert (await c.post(f"{DRS}/objects/{f.guid}")).json() == plain
    assert_drs_error(await c.post(f"{DRS}/objects/{f.guid}", content=b"{", headers={
        "Content-Type": "application/json"}), 400)
    assert_drs_error(await c.post(f"{DRS}/objects/{f.guid}", json={"expand": "sometimes"}), 400)


async def test_unknown_objects_are_drs_404s(commons_server):
    c = commons_server.client
    missing = "dg.TST1/00000000-0000-4000-8000-000000000000"
    assert_drs_error(await c.get(f"{DRS}/objects/{missing}"), 404)
    assert_drs_error(await c.get(f"{DRS}/objects/{missing}/access/s3"), 404)
    assert_drs_error(await c.request("OPTIONS", f"{DRS}/objects/{missing}"), 404)
    assert_drs_error(await c.get(f"{DRS}/nowhere"), 404)


async def test_access_to_open_data_needs_no_credential_and_serves_the_bytes(commons_server):
    c = commons_server.client
    f = _open(commons_server)
    for access_id in ("s3", "gs"):
        r = await c.get(f"{DRS}/objects/{f.guid}/access/{access_id}")
        assert r.status_code == 200 and set(r.json()) == {"url"}
        AccessURL.model_validate(r.json())
    url = (await c.get(f"{DRS}/objects/{quote(f.guid, safe='')}/access/s3")).json()["url"]
    data = await httpx.AsyncClient(timeout=10).get(url)
    assert data.status_code == 200 and hashlib.md5(data.content).hexdigest() == f.md5
    posted = await c.post(f"{DRS}/objects/{f.guid}/access/gs", json={"passports": ["x.y.z"]})
    assert posted.status_code == 200 and set(posted.json()) == {"url"}
    assert_drs_error(await c.get(f"{DRS}/objects/{f.guid}/access/ftp"), 404)
    assert_drs_error(await c.get(f"{DRS}/objects/{f.guid}/access/https"), 404)


async def test_access_to_controlled_data_follows_the_policy(commons_server):
    c = commons_server.client
    f = _controlled(commons_server, "c1", study=0)
    other = _controlled(commons_server, "c1", study=1)
    assert_drs_error(await c.get(f"{DRS}/objects/{f.guid}/access/s3"), 401)
    researcher = {"Authorization": f"Bearer {await token_for(commons_server, RESEARCHER_USER)}"}
    r = await c.get(f"{DRS}/objects/{f.guid}/access/s3", headers=researcher)
    assert r.status_code == 200 and set(r.json()) == {"url"}
    fetched = await httpx.AsyncClient(timeout=10).get(r.json()["url"])
    assert hashlib.sha256(fetched.content).hexdigest() == f.sha256
    assert_drs_error(await c.get(f"{DRS}/objects/{other.guid}/access/s3", headers=researcher), 403)
    assert_drs_error(await c.get(f"{DRS}/objects/{f.guid}/access/s3", headers={"Authorization": "Bearer junk"}),
                     401)


async def test_options_tells_how_to_authorize(commons_server):
    c = commons_server.client
    open_file, closed = _open(commons_server), _controlled(commons_server)
    r = await c.request("OPTIONS", f"{DRS}/objects/{open_file.guid}")
    assert r.status_code == 200
    assert r.json() == {"drs_object_id": open_file.guid, "supported_types": ["None"]}
    r = await c.request("OPTIONS", f"{DRS}/objects/{quote(closed.guid, safe='')}")
    Authorizations.model_validate(r.json())
    assert r.json() == {"drs_object_id": closed.guid, "supported_types": ["BearerAuth"],
                        "bearer_auth_issuers": [f"{commons_server.base_url}/user"]}


async def test_bulk_objects(commons_server):
    c = commons_server.client
    a, b = _open(commons_server), _controlled(commons_server)
    ids = [a.guid, "dg.TST1/missing", b.guid.split("/")[1], "nope"]
    r = await c.post(f"{DRS}/objects", json={"bulk_object_ids": ids, "passports": ["p"]})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"summary", "unresolved_drs_objects", "resolved_drs_object"}
    assert no_nulls(body)
    BulkObjectsResponse.model_validate(body)
    assert body["summary"] == {"requested": 4, "resolved": 2, "unresolved": 2}
    assert body["unresolved_drs_objects"] == [{"error_code": 404, "object_ids": ["dg.TST1/missing", "nope"]}]
    assert [o["id"] for o in body["resolved_drs_object"]] == [a.guid, b.guid]
    single = (await c.get(f"{DRS}/objects/{a.guid}")).json()
    assert body["resolved_drs_object"][0] == single
    assert (await c.post(f"{DRS}/objects", params={"expand": "True"}, json={"bulk_object_ids": [a.guid]})
            ).status_code == 200


async def test_bulk_limits_and_bad_bodies(commons_server):
    c = commons_server.client
    limit = commons_server.commons.settings.max_bulk_request_length
    assert (await c.post(f"{DRS}/objects", json={"bulk_object_ids": ["x"] * limit})).status_code == 200
    assert_drs_error(await c.post(f"{DRS}/objects", json={"bulk_object_ids": ["x"] * (limit + 1)}), 413)
    assert_drs_error(await c.request("OPTIONS", f"{DRS}/objects", json={"bulk_object_ids": ["x"] * (limit + 1)}),
                     413)
    many = [{"bulk_object_id": "x", "bulk_access_ids": ["s3"]}] * (limit + 1)
    assert_drs_error(await c.post(f"{DRS}/objects/access", json={"bulk_object_access_ids": many}), 413)
    assert_drs_error(await c.post(f"{DRS}/objects", json={"bulk_object_ids": []}), 400)
    assert_drs_error(await c.post(f"{DRS}/objects", json={"ids": ["x"]}), 400)
    assert_drs_error(await c.post(f"{DRS}/objects", content=b"x", headers={"Content-Type": "text/plain"}), 415)
    assert_drs_error(await c.post(f"{DRS}/objects/access", json={"bulk_object_access_ids": [{"bulk_object_id": "x"}]}),
                     400)


async def test_bulk_options(commons_server):
    c = commons_server.client
    a, b = _open(commons_server), _controlled(commons_server)
    r = await c.request("OPTIONS", f"{DRS}/objects", json={"bulk_object_ids": [a.guid, b.guid, "gone"]})
    assert r.status_code == 200
    body = BulkAuthorizationsResponse.model_validate(r.json())
    assert body.summary.model_dump() == {"requested": 3, "resolved": 2, "unresolved": 1}
    assert [x.model_dump() for x in body.unresolved_drs_objects] == [{"error_code": 404, "object_ids": ["gone"]}]
    assert [x.drs_object_id for x in body.resolved_drs_object] == [a.guid, b.guid]
    assert [x["supported_types"] for x in r.json()["resolved_drs_object"]] == [["None"], ["BearerAuth"]]


async def test_bulk_access_reports_each_failure(commons_server):
    c = commons_server.client
    a, b = _open(commons_server), _controlled(commons_server)
    request = {"bulk_object_access_ids": [
        {"bulk_object_id": a.guid, "bulk_access_ids": ["s3", "gs", "ftp"]},
        {"bulk_object_id": b.guid, "bulk_access_ids": ["s3"]},
        {"bulk_object_id": "dg.TST1/gone", "bulk_access_ids": ["s3"]},
    ]}
    r = await c.post(f"{DRS}/objects/access", json=request)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"summary", "unresolved_drs_objects", "resolved_drs_object_access_urls"}
    BulkAccessResponse.model_validate(body)
    assert body["summary"] == {"requested": 5, "resolved": 2, "unresolved": 3}
    assert body["unresolved_drs_objects"] == [
        {"error_code": 401, "object_ids": [b.guid]},
        {"error_code": 404, "object_ids": [a.guid, "dg.TST1/gone"]},
    ]
    urls = body["resolved_drs_object_access_urls"]
    assert [(u["drs_object_id"], u["drs_access_id"]) for u in urls] == [(a.guid, "s3"), (a.guid, "gs")]
    fetched = await httpx.AsyncClient(timeout=10).get(urls[0]["url"])
    assert hashlib.md5(fetched.content).hexdigest() == a.md5

    admin = {"Authorization": f"Bearer {await token_for(commons_server, ADMIN_USER)}"}
    r = await c.post(f"{DRS}/objects/access", json=request, headers=admin)
    assert r.json()["summary"] == {"requested": 5, "resolved": 3, "unresolved": 2}


async def test_indexd_style_listing(commons_server):
    c = commons_server.client
    dids = sorted(f.guid for f in commons_server.commons.dataset.files)
    first = (await c.get(f"{DRS}/objects", params={"limit": 5})).json()
    assert set(first) == {"drs_objects"} and [o["id"] for o in first["drs_objects"]] == dids[:5]
    assert all(DrsObject.model_validate(o) and no_nulls(o) for o in first["drs_objects"])
    after = (await c.get(f"{DRS}/objects", params={"limit": 5, "start": dids[4], "form": "object"})).json()
    assert [o["id"] for o in after["drs_objects"]] == dids[5:10]
    page = (await c.get(f"{DRS}/objects", params={"limit": 5, "page": 2})).json()
    assert [o["id"] for o in page["drs_objects"]] == dids[10:15]
    assert (await c.get(f"{DRS}/objects", params={"form": "bundle"})).json() == {"drs_objects": []}
    assert_drs_error(await c.get(f"{DRS}/objects", params={"form": "tree"}), 400)
    assert_drs_error(await c.get(f"{DRS}/objects", params={"limit": "many"}), 400)


async def test_profile_1_2_fits_the_compliance_suite_schemas(commons_12):
    c = commons_12
    info = (await c.get(f"{DRS}/service-info")).json()
    assert set(info) <= DCS_SERVICE_INFO_KEYS and {"id", "name", "type", "organization", "version"} <= set(info)
    assert set(info["type"]) == {"group", "artifact", "version"} and info["type"]["version"] == "1.2.0"
    assert set(info["organization"]) == {"name", "url"}
    f = c.files[0]
    objects = [(await c.get(f"{DRS}/objects/{f.guid}")).json(),
               (await c.post(f"{DRS}/objects", json={"bulk_object_ids": [f.guid]})).json()["resolved_drs_object"][0],
               (await c.get(f"{DRS}/objects", params={"limit": 1})).json()["drs_objects"][0]]
    for obj in objects:
        assert {"id", "self_uri", "size", "created_time", "checksums"} <= set(obj)
        assert no_nulls(obj) and isinstance(obj["size"], int)
        assert all(set(ch) == {"checksum", "type"} for ch in obj["checksums"])
        assert obj["access_methods"]
        for method in obj["access_methods"]:
            assert set(method) <= DCS_ACCESS_METHOD_KEYS and method["type"] in DCS_TYPES
            assert isinstance(method["access_id"], str)
        DrsObject.model_validate(obj)
    assert objects[0] == objects[1]
    open_file = next(x for x in c.files if "/projects/" in x.authz)
    access = await c.request("GET", f"{DRS}/objects/{open_file.guid}/access/s3", json={})
    assert access.status_code == 200 and set(access.json()) == {"url"}


async def test_drs_reads_reflect_indexd_writes_at_once(commons_server):
    """Rendered DRS objects are memoised; an indexd write must still show on the very next DRS read."""
    from refcommons.authz.default_policy import ADMIN_USER

    c = commons_server.client
    credentials = await commons_server.commons.fence.create_api_key(ADMIN_USER)
    token = (await c.post("/user/credentials/api/access_token", json=credentials)).json()["access_token"]
    record = commons_server.commons.dataset.files[0]
    url = f"/ga4gh/drs/v1/objects/{record.guid}"
    before = (await c.get(url)).json()
    assert (await c.get(url)).json() == before  # served from the memo the second time
    current = (await c.get(f"/index/index/{record.guid}")).json()
    put = await c.put(f"/index/index/{record.guid}", params={"rev": current["rev"]},
                      json={"file_name": "renamed.cram", "version": "v2"},
                      headers={"Authorization": f"bearer {token}"})
    assert put.status_code == 200, put.text
    after = (await c.get(url)).json()
    assert after["name"] == "renamed.cram" and after["version"] == "v2"
    assert before["name"] != "renamed.cram"
