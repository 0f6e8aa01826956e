"""indexd-compatible federated reads under ``/index`` (and that they coexist with dataguids' ``/index/{guid}``)."""

from __future__ import annotations

import uuid

import pytest

from gateway.web.routes import indexd as indexd_api
from gateway.web.routes import resolver as resolver_api

INDEXD_KEYS = {"did", "baseid", "rev", "form", "size", "file_name", "version", "uploader", "urls", "urls_metadata",
               "acl", "authz", "hashes", "metadata", "created_date", "updated_date", "description",
               "content_created_date", "content_updated_date"}
"""Every key an indexd record carries (the gen3 SDK deletes several by name when updating)."""


async def test_a_gen3_members_record_is_passed_through(federation):
    record = await federation.open_record(federation.gen3)
    r = await federation.gateway.client.get(f"/index/index/{record['did']}")
    assert r.status_code == 200, r.text
    assert r.json() == record
    assert "from_index_service" not in r.json()  # the dataguids route did not take it


CONVERTED = {"converted_from", "not_carried"}
"""What a DRS member's object converted to an indexd record adds (gateway.resolver.records)."""


async def test_a_drs_members_object_in_indexd_shape(federation):
    record = await federation.controlled_record(federation.drs)
    r = await federation.gateway.client.get(f"/index/index/{record['did']}")
    assert r.status_code == 200, r.text
    got = r.json()
    assert set(got) == INDEXD_KEYS | CONVERTED  # every indexd key, and what DRS does not carry said
    assert got["converted_from"] == "drs" and "authz" in got["not_carried"]
    assert got["did"] == record["did"] and got["size"] == record["size"]
    assert got["file_name"] == record["file_name"] and got["hashes"] == record["hashes"]
    assert got["form"] == "object"


@pytest.mark.parametrize("guid", ["dg.AAA1/00000000-0000-4000-8000-000000000000", "dg.ZZZ9/x",
                                  "5a5a5a5a-0000-4000-8000-00000000beef", "drs://", "dg.AAA1%zz"])
async def test_not_found_is_indexds_404(federation, guid):
    r = await federation.gateway.client.get(f"/index/index/{guid}")
    assert r.status_code == 404, r.text
    assert r.json()["error"].startswith("no record found") and r.json()["status_code"] == 404


async def test_status_and_version(federation):
    r = await federation.gateway.client.get("/index/_status")
    assert r.status_code == 200 and r.text == "Healthy"
    assert r.headers["content-type"].startswith("text/plain")
    r = await federation.gateway.client.get("/index/_version")
    assert r.status_code == 200 and r.json()["version"]


async def test_route_order_keeps_indexd_paths_out_of_the_dataguids_lookup(federation):
    routes = [r.canonical for r in federation.gateway.app.router.resources()]
    catch_all = routes.index("/index/{guid}")
    for path in ("/index/_status", "/index/_version", "/index/index/{guid}", "/index/bulk/documents"):
        assert routes.index(path) < catch_all, path
    assert any(r.path == "/index/{guid:.+}" for r in resolver_api.routes)  # type: ignore[attr-defined]
    assert any(r.path == "/index/index/{guid:.+}" for r in indexd_api.routes)  # type: ignore[attr-defined]
    record = await federation.open_record(federation.gen3)
    dataguids = (await federation.gateway.client.get(f"/index/{record['did']}")).json()
    assert dataguids["from_index_service"]["name"] == "A"  # the dataguids route still answers its own path
    assert (await federation.gateway.client.get("/index/_dist")).status_code == 200


async def test_bulk_documents_across_members(federation):
    a = await federation.records(federation.gen3)
    b = await federation.records(federation.drs)
    unknown = [f"dg.AAA1/{uuid.uuid4()}", str(uuid.uuid4()), "dg.ZZZ9/x", "drs://"]
    ids = [b[0]["did"], unknown[0], a[0]["did"], unknown[1], a[1]["did"], a[0]["did"], unknown[2], unknown[3],
           b[0]["did"].split("/", 1)[1]]  # the last: the same object as b[0], by its bare UUID
    r = await federation.gateway.client.post("/index/bulk/documents", json=ids)
    assert r.status_code == 200, r.text
    got = r.json()
    assert [d["did"] for d in got] == [b[0]["did"], a[0]["did"], a[1]["did"]]
    assert got[1] == a[0] and got[2] == a[1]
    assert set(got[0]) == set(a[0]) | CONVERTED
    r = await federation.gateway.client.post("/index/bulk/documents", json=unknown)
    assert r.status_code == 200 and r.json() == []


@pytest.mark.parametrize("body, status", [
    ([], 400), ({"ids": ["dg.AAA1/x"]}, 400), (["dg.AAA1/x", 7], 400), ("dg.AAA1/x", 400),
    ([f"dg.AAA1/{i}" for i in range(1001)], 413),
])
async def test_bulk_documents_rejects_bad_bodies(federation, body, status):
    r = await federation.gateway.client.post("/index/bulk/documents", json=body)
    assert r.status_code == status, r.text
    assert r.json()["status_code"] == status


async def test_bulk_documents_rejects_malformed_json(federation):
    r = await federation.gateway.client.post("/index/bulk/documents", content=b"[1,",
                                             headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["status_code"] == 400


async def test_bulk_documents_at_the_limit_is_served(federation):
    record = await federation.open_record(federation.gen3)
    ids = [record["did"]] + [f"dg.AAA1/{uuid.uuid4()}" for _ in range(999)]
    r = await federation.gateway.client.post("/index/bulk/documents", json=ids)
    assert r.status_code == 200, r.text
    assert [d["did"] for d in r.json()] == [record["did"]]


async def test_bulk_documents_fails_when_a_member_cannot_answer(federation):
    a = await federation.open_record(federation.gen3)
    b = await federation.open_record(federation.drs)
    await federation.drs.stop()
    r = await federation.gateway.client.post("/index/bulk/documents", json=[a["did"], b["did"]])
    assert r.status_code in (502, 503, 504), r.text  # not a list silently missing b's record
    r = await federation.gateway.client.post("/index/bulk/documents", json=[a["did"]])
    assert r.status_code == 200 and r.json() == [a]  # the healthy member's ids still work alone
