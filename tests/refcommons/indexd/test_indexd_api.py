"""indexd's HTTP API of a running reference commons: reads (public), bulk, writes with real tokens
(API key minted by the commons' admin operation, exchanged over HTTP), rev conflicts and persistence."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import quote

import httpx
import pytest
from aiohttp import web

from refcommons.app import build_app
from refcommons.authz.default_policy import ADMIN_USER, RESEARCHER_USER
from refcommons.commons import ReferenceCommons

INDEXD_FIELDS = {
    "did", "baseid", "rev", "form", "size", "file_name", "version", "uploader", "urls", "urls_metadata", "acl",
    "authz", "hashes", "metadata", "created_date", "updated_date", "description", "content_created_date",
    "content_updated_date",
}
LIST_KEYS = {"ids", "records", "limit", "start", "page", "size", "file_name", "version", "urls", "acl", "authz",
             "hashes", "metadata"}
MD5 = "9e107d9d372bb6826bd81d3542a419d6"
SHA = "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"


async def token_for(running, user: str) -> str:
    """An access token through Gen3's public flow: an API key (minted by the commons' admin operation,
    as ``gateway refcommons api-key create`` does) exchanged at ``/user/credentials/api/access_token``."""
    credentials = await running.commons.fence.create_api_key(user)
    r = await running.client.post("/user/credentials/api/access_token", json=credentials)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _body(**extra):
    return {"form": "object", "size": 43, "hashes": {"md5": MD5, "sha256": SHA},
            "urls": ["s3://uploads/dg.TST1/new/fox.txt"], "file_name": "fox.txt",
            "authz": ["/programs/TST1/projects/OPEN"], "acl": ["*"], **extra}


def _files(running):
    return running.commons.dataset.files


async def test_status_version_and_stats(commons_server):
    c = commons_server.client
    r = await c.get("/index/_status")
    assert r.status_code == 200 and r.text == "Healthy" and r.headers["content-type"].startswith("text/plain")
    v = (await c.get("/index/_version")).json()
    assert set(v) == {"version", "commit"} and all(isinstance(x, str) and x for x in v.values())
    s = (await c.get("/index/_stats")).json()
    files = _files(commons_server)
    assert s == {"fileCount": len(files), "totalFileSize": sum(f.size for f in files)}


async def test_get_record_by_raw_slash_percent_encoded_bare_and_global(commons_server):
    c = commons_server.client
    f = _files(commons_server)[3]
    uid = f.guid.split("/", 1)[1]
    paths = [f"/index/index/{f.guid}", f"/index/index/{quote(f.guid, safe='')}", f"/index/index/{uid}",
             f"/index/{f.guid}", f"/index/{quote(f.guid, safe='')}?no_dist=", f"/index/{uid}"]
    assert "%2F" in paths[1]
    bodies = []
    for path in paths:
        r = await c.get(path)
        assert r.status_code == 200, path
        bodies.append(r.json())
    assert all(b == bodies[0] for b in bodies)
    record = bodies[0]
    assert set(record) == INDEXD_FIELDS
    assert record["did"] == f.guid and record["size"] == f.size and record["file_name"] == f.file_name
    assert record["hashes"] == {"md5": f.md5, "sha256": f.sha256}
    assert record["authz"] == [f.authz] and record["form"] == "object"
    assert [u.split("://")[0] for u in record["urls"]] == ["s3", "gs"]


async def test_unknown_record_is_a_json_404(commons_server):
    for path in ("/index/index/dg.TST1/00000000-0000-4000-8000-000000000000", "/index/nothing-here"):
        r = await commons_server.client.get(path)
        assert r.status_code == 404
        assert set(r.json()) == {"error", "status_code"} and r.json()["status_code"] == 404


async def test_list_defaults_and_echoes_parameters(commons_server):
    c = commons_server.client
    dids = sorted(f.guid for f in _files(commons_server))
    assert len(dids) > 100
    for path in ("/index/index", "/index/index/"):
        body = (await c.get(path)).json()
        assert set(body) == LIST_KEYS
        assert body["limit"] == 100 and [r["did"] for r in body["records"]] == dids[:100]
        assert all(set(r) == INDEXD_FIELDS for r in body["records"])
    body = (await c.get("/index/index/", params={"limit": 3, "start": dids[0]})).json()
    assert body["start"] == dids[0] and body["limit"] == 3 and body["page"] is None
    assert [r["did"] for r in body["records"]] == dids[1:4]


async def test_paginating_with_start_visits_every_record_once(commons_server):
    c = commons_server.client
    seen, start = [], None
    while True:
        params = {"limit": 37} | ({"start": start} if start else {})
        records = (await c.get("/index/index/", params=params)).json()["records"]
        if not records:
            break
        seen += [r["did"] for r in records]
        start = records[-1]["did"]
    assert seen == sorted(f.guid for f in _files(commons_server))


async def test_page_parameter(commons_server):
    c = commons_server.client
    all_ = [r["did"] for r in (await c.get("/index/index", params={"limit": 30})).json()["records"]]
    page1 = (await c.get("/index/index", params={"limit": 10, "page": 1})).json()
    assert page1["page"] == 1 and [r["did"] for r in page1["records"]] == all_[10:20]


async def test_hash_and_authz_filters(commons_server):
    c = commons_server.client
    f = _files(commons_server)[11]
    body = (await c.get("/index/index", params={"hash": f"md5:{f.md5}", "limit": 1})).json()
    assert [r["did"] for r in body["records"]] == [f.guid] and body["hashes"] == {"md5": f.md5}
    both = (await c.get("/index/index", params=[("hash", f"md5:{f.md5}"), ("hash", f"sha256:{f.sha256}")])).json()
    assert [r["did"] for r in both["records"]] == [f.guid]
    scoped = (await c.get("/index/index", params={"authz": f.authz, "limit": 1024})).json()
    expected = sorted(g.guid for g in _files(commons_server) if g.authz == f.authz)
    assert [r["did"] for r in scoped["records"]] == expected and scoped["authz"] == [f.authz]
    named = (await c.get("/index/index", params={"file_name": f.file_name})).json()
    assert [r["did"] for r in named["records"]] == [f.guid]
    ids = (await c.get("/index/index", params={"ids": f"{f.guid},dg.TST1/missing"})).json()
    assert [r["did"] for r in ids["records"]] == [f.guid] and ids["ids"] == [f.guid, "dg.TST1/missing"]


@pytest.mark.parametrize("params", [
    {"limit": 1025}, {"limit": "ten"}, {"page": "x"}, {"hash": "md6:00"}, {"hash": "md5:nothex"}, {"size": -1},
    {"ids": "a,b", "limit": 2}, {"hash": "md5"},
])
async def test_bad_list_parameters_are_400(commons_server, params):
    r = await commons_server.client.get("/index/index/", params=params)
    assert r.status_code == 400 and set(r.json()) == {"error", "status_code"}


async def test_bulk_documents(commons_server):
    c = commons_server.client
    files = _files(commons_server)
    ids = [files[0].guid, "dg.TST1/missing", files[5].guid.split("/")[1]]
    r = await c.post("/index/bulk/documents", json=ids)
    assert r.status_code == 200
    assert [d["did"] for d in r.json()] == [files[0].guid, files[5].guid]
    assert all(set(d) == INDEXD_FIELDS for d in r.json())
    limit = commons_server.commons.settings.max_bulk_request_length
    assert (await c.post("/index/bulk/documents", json=["x"] * limit)).status_code == 200
    too_many = await c.post("/index/bulk/documents", json=["x"] * (limit + 1))
    assert too_many.status_code == 413 and too_many.json()["status_code"] == 413
    assert (await c.post("/index/bulk/documents", json={"ids": ids})).status_code == 400
    bad = await c.post("/index/bulk/documents", content=b"[1,", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400
    wrong = await c.post("/index/bulk/documents", content=b"[]", headers={"Content-Type": "text/plain"})
    assert wrong.status_code == 415


async def test_writes_need_a_token(commons_server):
    c = commons_server.client
    f = _files(commons_server)[0]
    record = (await c.get(f"/index/index/{f.guid}")).json()
    for r in (
        await c.post("/index/index/", json=_body()),
        await c.put(f"/index/index/{f.guid}", params={"rev": record["rev"]}, json={"version": "2"}),
        await c.delete(f"/index/index/{f.guid}", params={"rev": record["rev"]}),
    ):
        assert r.status_code == 401 and r.json()["status_code"] == 401
    assert (await c.get(f"/index/index/{f.guid}")).json() == record


async def test_writes_need_the_right_permission(commons_server):
    c = commons_server.client
    token = await token_for(commons_server, RESEARCHER_USER)  # may read one consent group, create nothing
    headers = {"Authorization": f"Bearer {token}"}
    r = await c.post("/index/index", json=_body(), headers=headers)
    assert r.status_code == 403
    f = _files(commons_server)[0]
    rev = (await c.get(f"/index/index/{f.guid}")).json()["rev"]
    assert (await c.delete(f"/index/index/{f.guid}", params={"rev": rev}, headers=headers)).status_code == 403
    garbage = await c.post("/index/index", json=_body(), headers={"Authorization": "Bearer not-a-jwt"})
    assert garbage.status_code == 401


async def test_create_update_delete_round_trip(commons_server):
    c = commons_server.client
    headers = {"Authorization": f"bearer {await token_for(commons_server, ADMIN_USER)}"}
    r = await c.post("/index/index/", json=_body(version="1"), headers=headers)
    assert r.status_code == 200, r.text
    created = r.json()
    assert set(created) == {"did", "rev", "baseid"} and created["did"].startswith("dg.TST1/")
    record = (await c.get(f"/index/index/{created['did']}")).json()
    assert set(record) == INDEXD_FIELDS
    assert record["rev"] == created["rev"] and record["hashes"] == {"md5": MD5, "sha256": SHA}
    assert record["size"] == 43 and record["version"] == "1" and record["acl"] == ["*"]
    found = (await c.get("/index/index", params={"hash": f"md5:{MD5}"})).json()["records"]
    assert [x["did"] for x in found] == [created["did"]]

    stale = await c.put(f"/index/index/{created['did']}", params={"rev": "00000000"}, json={"version": "2"},
                        headers=headers)
    assert stale.status_code == 409
    put = await c.put(f"/index/index/{quote(created['did'], safe='')}", params={"rev": created["rev"]},
                      json={"version": "2", "file_name": "fox2.txt"}, headers=headers)
    assert put.status_code == 200 and put.json()["rev"] != created["rev"] and put.json()["did"] == created["did"]
    after = (await c.get(f"/index/{created['did']}")).json()
    assert after["version"] == "2" and after["file_name"] == "fox2.txt" and after["urls"] == record["urls"]

    assert (await c.delete(f"/index/index/{created['did']}", headers=headers)).status_code == 400
    old = await c.delete(f"/index/index/{created['did']}", params={"rev": created["rev"]}, headers=headers)
    assert old.status_code == 409
    gone = await c.delete(f"/index/index/{created['did']}", params={"rev": put.json()["rev"]}, headers=headers)
    assert gone.status_code == 200
    assert (await c.get(f"/index/index/{created['did']}")).status_code == 404
    dup = await c.post("/index/index", json=_body(did=_files(commons_server)[0].guid), headers=headers)
    assert dup.status_code == 409


async def test_bad_write_bodies(commons_server):
    c = commons_server.client
    headers = {"Authorization": f"Bearer {await token_for(commons_server, ADMIN_USER)}"}
    malformed = await c.post("/index/index", content=b"{nope", headers={**headers,
                                                                         "Content-Type": "application/json"})
    assert malformed.status_code == 400 and "error" in malformed.json()
    wrong_type = await c.post("/index/index", content=b"form=object", headers={
        **headers, "Content-Type": "application/x-www-form-urlencoded"})
    assert wrong_type.status_code == 415
    for body in (_body(hashes={"md5": "abc"}), _body(hashes={"sha3": MD5}), _body(size=-1), _body(form="blob"),
                 _body(unexpected=True), {"form": "object", "size": 1}):
        r = await c.post("/index/index", json=body, headers=headers)
        assert r.status_code == 400, body
    f = _files(commons_server)[0]
    rev = (await c.get(f"/index/index/{f.guid}")).json()["rev"]
    r = await c.put(f"/index/index/{f.guid}", params={"rev": rev}, json={"size": 5}, headers=headers)
    assert r.status_code == 400  # size is not updatable
    missing = await c.put("/index/index/dg.TST1/missing", params={"rev": rev}, json={}, headers=headers)
    assert missing.status_code == 404


async def test_concurrent_updates_with_one_rev(commons_server):
    c = commons_server.client
    headers = {"Authorization": f"Bearer {await token_for(commons_server, ADMIN_USER)}"}
    f = _files(commons_server)[1]
    rev = (await c.get(f"/index/index/{f.guid}")).json()["rev"]
    results = await asyncio.gather(*(
        c.put(f"/index/index/{f.guid}", params={"rev": rev}, json={"version": str(i)}, headers=headers)
        for i in range(4)
    ))
    assert sorted(r.status_code for r in results) == [200, 409, 409, 409]


async def _serve(settings) -> tuple[web.AppRunner, httpx.AsyncClient]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    commons = await ReferenceCommons.open(settings)
    runner = web.AppRunner(build_app(commons), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)


async def test_writes_persist_across_a_restart_with_the_same_data_dir(commons_server):
    c = commons_server.client
    headers = {"Authorization": f"Bearer {await token_for(commons_server, ADMIN_USER)}"}
    created = (await c.post("/index/index", json=_body(), headers=headers)).json()
    victim = _files(commons_server)[2]
    rev = (await c.get(f"/index/index/{victim.guid}")).json()["rev"]
    assert (await c.delete(f"/index/index/{victim.guid}", params={"rev": rev}, headers=headers)).status_code == 200
    stats = (await c.get("/index/_stats")).json()

    runner, client = await _serve(commons_server.commons.settings)
    try:
        again = await client.get(f"/index/index/{created['did']}")
        assert again.status_code == 200 and again.json()["rev"] == created["rev"]
        assert (await client.get(f"/index/index/{victim.guid}")).status_code == 404
        assert (await client.get("/index/_stats")).json() == stats
    finally:
        await client.aclose()
        await runner.cleanup()
