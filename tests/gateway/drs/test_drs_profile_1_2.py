"""The gateway with ``drs_profile: "1.2"`` against the DRS 1.2.0 schemas of the GA4GH drs-compliance-suite:
every member kind (Gen3, DRS serving 1.5, a DRS member sending nulls, url-only methods, ``http`` types,
integer access ids and a bundle, the in-process commons), single and bulk, service-info, access and errors.

The inline closed-schema check always runs; the suite's own schema files are used too when a venv holding
the suite exists (built by tests/refcommons/test_drs_compliance_suite.py, or the interop venv).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from drs_fakes import drs_doc, drs_member, serve
from drs_schema_check import (
    ACCESS_SCHEMA,
    BUNDLE_SCHEMA,
    ERROR_SCHEMA,
    OBJECT_SCHEMA,
    SERVICE_INFO_SCHEMA,
    access_url_violations_1_2,
    compliance_schema_dir,
    nulls,
    schema_errors,
    service_info_violations_1_2,
    violations_1_2,
)
from servers import Server, start_commons, start_gateway

from gateway.web.keys import STATE

pytestmark = pytest.mark.asyncio(loop_scope="module")

DRS = "/ga4gh/drs/v1"
DRS_HOST = "drs.example.org"
"""``drs.hostname``: the host of every ``self_uri`` (the gateway's public DRS name)."""
ODD = {
    "dg.OD01/nulls": drs_doc("dg.OD01/nulls"),
    "dg.OD01/methods": drs_doc("dg.OD01/methods", access_methods=[
        {"type": "http", "access_url": {"url": "http://plain.example/x", "headers": None}, "cloud": None,
         "available": None},
        {"type": "HTTPS", "access_url": {"url": "https://cdn.example/x", "headers": ["Authorization: Basic eA=="]},
         "region": "eu", "authorizations": {"supported_types": ["None"]}},
        {"type": "s3", "access_id": 12, "cloud": "aws", "available": False, "region": None},
    ], checksums=[{"type": "sha256", "checksum": "b" * 64}, {"type": "crc", "checksum": "1a2b"}]),
    "dg.OD01/bundle": drs_doc("dg.OD01/bundle", access_methods=None, contents=[
        {"name": "one", "id": "dg.OD01/nulls", "drs_uri": "drs://member.example/dg.OD01%2Fnulls", "extra": 1},
        {"name": "two", "drs_uri": "drs://member.example/zzz", "contents": [{"name": "leaf", "id": "leaf-1"}]},
    ]),
}


@pytest.fixture(scope="module")
def real_schemas(suite_bin: Path) -> bool:
    """The suite's own schema files are here: ``suite_bin`` builds its venv first (in whichever xdist worker
    runs this module first; another module may not have built it yet), and fails the tests when it cannot."""
    if compliance_schema_dir() is None:
        pytest.fail(f"the drs-compliance-suite venv ({suite_bin.parent.parent}) holds no schema files")
    return True


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def gw() -> AsyncIterator[tuple[Server, Server, Server]]:
    async with AsyncExitStack() as stack:
        g3 = await start_commons("dg.PG01", 5, 8)
        stack.push_async_callback(g3.stop)
        drs = await start_commons("dg.PD02", 6, 8)  # serves the DRS 1.5 profile: the gateway must strip it
        stack.push_async_callback(drs.stop)
        odd = await stack.enter_async_context(serve(drs_member(ODD, bulk=5)))
        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"subjects": 8, "data_dir": None}, drs_profile="1.2",
            drs={"hostname": DRS_HOST},
            registry={"members": [
                {"id": "pg", "name": "PG", "base_url": g3.base_url, "kind": "gen3", "prefixes": ["dg.PG01"],
                 "auth": {"type": "passthrough"}},
                {"id": "pd", "name": "PD", "base_url": drs.base_url, "kind": "drs", "prefixes": ["dg.PD02"]},
                {"id": "od", "name": "OD", "base_url": odd.url, "kind": "drs", "prefixes": ["dg.OD01"]},
            ]},
        )
        stack.push_async_callback(gateway.stop)
        yield gateway, g3, drs


def check_object(obj: dict[str, Any], real: bool, *, bundle: bool = False) -> None:
    assert nulls(obj) == [], obj
    assert violations_1_2(obj) == [], obj
    if real:
        assert schema_errors(OBJECT_SCHEMA, obj) == [], obj
        if bundle:
            assert schema_errors(BUNDLE_SCHEMA, obj) == [], obj


def open_guid(server: Server | Any) -> str:
    commons = server.commons if isinstance(server, Server) else server
    return next(f.guid for f in commons.dataset.files if "/projects/" in f.authz)


async def test_the_schema_checks_can_fail(real_schemas):
    """A DRS 1.5 object, a 1.5 service-info and a loose access URL are rejected by both checks."""
    obj = {"id": "x", "self_uri": "drs://h/x", "size": 1, "created_time": "2024-01-01T00:00:00Z",
           "checksums": [{"checksum": "a", "type": "md5"}],
           "access_methods": [{"type": "s3", "access_id": "s3", "cloud": "aws", "available": True}]}
    info = {"id": "i", "name": "n", "type": {"group": "org.ga4gh", "artifact": "drs", "version": "1.5.0"},
            "organization": {"name": "o", "url": "https://o"}, "version": "1", "maxBulkRequestLength": 5}
    assert violations_1_2(obj) and service_info_violations_1_2(info) and access_url_violations_1_2({"url": "u", "x": 1})
    assert violations_1_2({**obj, "access_methods": [{"type": "http", "access_id": "h"}]})
    if real_schemas:
        assert schema_errors(OBJECT_SCHEMA, obj) and schema_errors(SERVICE_INFO_SCHEMA, info)
        assert schema_errors(ACCESS_SCHEMA, {"url": "u", "x": 1})
        assert schema_errors(OBJECT_SCHEMA, {**obj, "access_methods": [{"type": "http", "access_id": "h"}]})
        assert schema_errors(BUNDLE_SCHEMA, {k: v for k, v in obj.items() if k != "access_methods"})


async def test_service_info_1_2(gw, real_schemas):
    gateway, _, _ = gw
    r = await gateway.client.request("GET", f"{DRS}/service-info", json={})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    info = r.json()
    assert "maxBulkRequestLength" not in info and "drs" not in info
    assert info["type"] == {"group": "org.ga4gh", "artifact": "drs", "version": "1.2.0"}
    assert service_info_violations_1_2(info) == [] and nulls(info) == []
    if real_schemas:
        assert schema_errors(SERVICE_INFO_SCHEMA, info) == []


async def test_objects_of_every_member_fit_1_2(gw, real_schemas):
    gateway, g3, drs = gw
    ref = gateway.app[STATE].refcommons
    ids = [f.guid for f in g3.commons.dataset.files[:3]] + [f.guid for f in drs.commons.dataset.files[:3]] \
        + [f.guid for f in ref.dataset.files[:3]] + list(ODD)
    singles = []
    for object_id in ids:
        r = await gateway.client.request("GET", f"{DRS}/objects/{object_id}", json={})  # as the suite sends it
        assert r.status_code == 200, (object_id, r.text)
        assert r.headers["content-type"].startswith("application/json")
        check_object(r.json(), real_schemas, bundle=object_id.endswith("bundle"))
        singles.append(r.json())
        expanded = await gateway.client.get(f"{DRS}/objects/{object_id}", params={"expand": "True"})
        assert expanded.json() == r.json()
    bulk = await gateway.client.post(f"{DRS}/objects", json={"bulk_object_ids": ids})
    assert bulk.status_code == 200
    assert bulk.json()["resolved_drs_object"] == singles
    methods = {m["type"] for o in singles for m in o.get("access_methods", [])}
    assert methods <= {"s3", "gs", "https"} and "https" in methods
    odd = singles[-2]
    assert odd["access_methods"] == [
        {"type": "https", "access_url": {"url": "http://plain.example/x"}, "access_id": "https"},
        {"type": "https", "access_url": {"url": "https://cdn.example/x", "headers": ["Authorization: Basic eA=="]},
         "access_id": "https-2", "region": "eu"},
        {"type": "s3", "access_id": "12"},
    ]
    assert {c["type"] for c in odd["checksums"]} == {"sha-256", "crc32"}
    bundle = singles[-1]
    host = DRS_HOST
    assert all(o["self_uri"] == f"drs://{DRS_HOST}/{quote(o['id'], safe='')}" for o in singles)
    for obj in singles[::4]:  # a self_uri on the configured hostname leads back to the same object
        again = await gateway.client.get(f"{DRS}/objects/{quote(obj['self_uri'], safe='')}")
        assert again.status_code == 200 and again.json() == obj
    assert bundle["contents"] == [
        {"name": "one", "id": "dg.OD01/nulls", "drs_uri": [f"drs://{host}/dg.OD01%2Fnulls"]},
        {"name": "two", "drs_uri": ["drs://member.example/zzz"],
         "contents": [{"name": "leaf", "id": "leaf-1", "drs_uri": [f"drs://{host}/leaf-1"]}]},
    ]


async def test_access_and_errors_fit_1_2(gw, real_schemas):
    gateway, g3, drs = gw
    ref = gateway.app[STATE].refcommons
    cases = [(open_guid(g3), "s3"), (open_guid(drs), "gs"), (open_guid(ref), "s3"), ("dg.OD01/methods", "https"),
             ("dg.OD01/methods", "https-2"), ("dg.OD01/methods", "12")]
    for object_id, access_id in cases:
        r = await gateway.client.request("GET", f"{DRS}/objects/{object_id}/access/{access_id}", json={})
        assert r.status_code == 200, (object_id, access_id, r.text)
        assert access_url_violations_1_2(r.json()) == [] and nulls(r.json()) == []
        if real_schemas:
            assert schema_errors(ACCESS_SCHEMA, r.json()) == []
    r = await gateway.client.get(f"{DRS}/objects/dg.OD01/methods/access/https-2")
    assert r.json() == {"url": "https://cdn.example/x", "headers": ["Authorization: Basic eA=="]}
    for bad in (f"{DRS}/objects/dg.PG01%2Fnope", f"{DRS}/objects/{quote(open_guid(g3), safe='')}/access/ftp",
                f"{DRS}/objects/a%20b"):
        r = await gateway.client.get(bad)
        assert r.status_code in (400, 404) and set(r.json()) == {"msg", "status_code"}
        if real_schemas:
            assert schema_errors(ERROR_SCHEMA, r.json()) == []


async def test_bulk_access_urls_fit_1_2(gw, real_schemas):
    gateway, g3, _ = gw
    r = await gateway.client.post(f"{DRS}/objects/access", json={"bulk_object_access_ids": [
        {"bulk_object_id": open_guid(g3), "bulk_access_ids": ["s3"]},
        {"bulk_object_id": "dg.OD01/methods", "bulk_access_ids": ["https", "https-2"]}]})
    assert r.status_code == 200
    urls = r.json()["resolved_drs_object_access_urls"]
    assert len(urls) == 3
    for u in urls:
        one = {k: v for k, v in u.items() if k in ("url", "headers")}
        assert access_url_violations_1_2(one) == []
        if real_schemas:
            assert schema_errors(ACCESS_SCHEMA, one) == []


async def test_1_2_responses_from_a_plain_client(gw):
    """What the suite does, with a client that sends exactly what the suite sends (raw / in the id, ``{}``)."""
    gateway, g3, _ = gw
    async with httpx.AsyncClient(base_url=gateway.base_url + DRS) as client:
        guid = open_guid(g3)
        r = await client.request("GET", f"/objects/{guid}", json={}, params={"expand": "True"})
        assert r.status_code == 200 and r.json()["id"] == guid
        for method in r.json()["access_methods"]:
            a = await client.request("GET", f"/objects/{guid}/access/{method['access_id']}", json={})
            assert a.status_code == 200 and set(a.json()) == {"url"}
