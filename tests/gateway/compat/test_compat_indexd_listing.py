"""The federated indexd read surface the gen3 SDK's ``Gen3Index`` uses: listing with paging across members, queries,
``_stats``, ``_version`` and ``_dist``, over real reference commons (two indexd members and a DRS member).

Both indexd members also hold records under bare UUIDs (which sort among the other member's prefixed ones, so the
merge really interleaves) and one record each under the *same* did (a did group a page must not split)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from random import Random
from typing import Any

import orjson
import pytest
from aiohttp import web
from faults import hanging, recording_app, serve
from gen3.index import Gen3Index
from servers import Server, start_commons, start_gateway

from refcommons.indexd.records import IndexCreate

SHARED = "5f000000-0000-4000-8000-00000000c0de"
"""One did both indexd members hold."""


@dataclass
class Fed:
    gateway: Server
    a: Server
    b: Server
    """Kind ``drs``: cannot list."""
    c: Server
    expected: list[tuple[str, str]]
    """Every (did, member) the listing must return, in its order."""
    records: dict[tuple[str, str], dict[str, Any]]

    @property
    def client(self):  # type: ignore[no-untyped-def]
        return self.gateway.client


async def _all(commons: Server) -> list[dict[str, Any]]:
    r = await commons.client.get("/index/index", params={"limit": 1024})
    assert r.status_code == 200, r.text
    return r.json()["records"]


async def _add_bare(commons: Server, n: int, seed: str) -> None:
    assert commons.commons is not None
    random = Random(f"bare-{seed}")  # the same dids every run
    for i in range(n):
        did = str(uuid.UUID(int=random.getrandbits(128), version=4))
        body = {"did": did, "form": "object", "size": 100 + i, "hashes": {"md5": f"{i:032x}"},
                "urls": [f"s3://bucket-{seed}/{i}"], "file_name": f"bare-{seed}-{i}.txt", "authz": ["/open"],
                "acl": ["open"]}
        await commons.commons.index.create(IndexCreate(**body))
    await commons.commons.index.create(IndexCreate(
        did=SHARED, form="object", size=7, hashes={"md5": "c0de" * 8}, urls=[f"s3://shared-{seed}/x"],
        file_name=f"shared-{seed}.txt"))


def _members(a: Server, b: Server, c: Server) -> list[dict[str, Any]]:
    return [
        {"id": "a", "name": "A", "base_url": a.base_url, "kind": "gen3", "prefixes": ["dg.AAA1"]},
        {"id": "b", "name": "B", "base_url": b.base_url, "kind": "drs", "prefixes": ["dg.BBB2"]},
        {"id": "c", "name": "C", "base_url": c.base_url, "kind": "gen3", "prefixes": ["dg.CCC3"]},
    ]


@pytest.fixture
async def fed(tmp_path) -> AsyncIterator[Fed]:
    async with AsyncExitStack() as stack:
        a = await start_commons("dg.AAA1", seed=1, subjects=5)
        stack.push_async_callback(a.stop)
        b = await start_commons("dg.BBB2", seed=2, subjects=4)
        stack.push_async_callback(b.stop)
        c = await start_commons("dg.CCC3", seed=3, subjects=5)
        stack.push_async_callback(c.stop)
        await _add_bare(a, 6, "a")
        await _add_bare(c, 6, "c")
        gateway = await start_gateway(
            store={"url": f"sqlite:///{tmp_path / 'gateway.sqlite3'}"}, refcommons={"enabled": False},
            registry={"members": _members(a, b, c)}, upstream={"retries": 0}, health={"interval": 3600.0},
            aggregate={"harvest": {"enabled": False}},
        )
        stack.push_async_callback(gateway.stop)
        records = {(r["did"], mid): r for mid, s in (("a", a), ("c", c)) for r in await _all(s)}
        yield Fed(gateway, a, b, c, sorted(records), records)


async def _page(fed: Fed, **params: Any) -> dict[str, Any]:
    r = await fed.client.get("/index/index", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _dids(records: list[dict[str, Any]]) -> list[str]:
    return [r["did"] for r in records]


# --- listing --------------------------------------------------------------------------------------------------


async def test_the_fixture_interleaves_members_and_shares_a_did(fed):
    members = [m for _, m in fed.expected]
    assert members.count("a") > 10 and members.count("c") > 10
    switches = sum(1 for x, y in itertools.pairwise(members) if x != y)
    assert switches > 4, "the merge must interleave the members' records"
    assert [d for d, _ in fed.expected].count(SHARED) == 2


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 7, 1024])
async def test_cursor_paging_returns_every_record_once_in_order(fed, limit):
    got: list[dict[str, Any]] = []
    start: str | None = None
    for _ in range(len(fed.expected) + 2):
        page = await _page(fed, limit=limit, **({"start": start} if start else {}))
        assert len(page["records"]) <= max(limit, 2)  # only a page that is one shared-did group may hold more
        got += page["records"]
        start = page["next_start"]
        if start is None:
            break
    else:
        pytest.fail("the cursor never ended")
    assert _dids(got) == [d for d, _ in fed.expected]
    assert got == [fed.records[key] for key in fed.expected]  # each member's record, as the member has it


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 7])
async def test_start_at_the_last_did_pages_like_indexd(fed, limit):
    got: list[dict[str, Any]] = []
    start: str | None = None
    for _ in range(len(fed.expected) + 2):
        page = await _page(fed, limit=limit, **({"start": start} if start else {}))
        if not page["records"]:
            break
        got += page["records"]
        start = page["records"][-1]["did"]
    assert _dids(got) == [d for d, _ in fed.expected]


async def test_page_is_an_offset_in_the_merged_order(fed):
    dids = [d for d, _ in fed.expected]
    for page in range(4):
        got = await _page(fed, limit=6, page=page)
        assert _dids(got["records"]) == dids[page * 6:(page + 1) * 6]
        assert got["page"] == page and got["next_start"] is None  # positional: continue with page + 1


async def test_the_answer_has_indexds_shape_and_says_who_could_not_list(fed):
    page = await _page(fed, limit=3)
    for key in ("ids", "records", "limit", "start", "page", "size", "file_name", "version", "urls", "acl", "authz",
                "hashes", "metadata"):
        assert key in page, key
    assert page["limit"] == 3 and page["start"] is None
    sources = {s["commons"]: s for s in page["sources"]}
    assert sources["b"]["status"] == "unsupported" and sources["b"]["kind"] == "drs"
    assert sources["a"]["status"] == sources["c"]["status"] == "ok"
    assert sources["a"]["count"] + sources["c"]["count"] == 3
    default = await _page(fed)
    assert default["limit"] == 100 and len(default["records"]) == min(100, len(fed.expected))


@pytest.mark.parametrize(("params", "says"), [
    ({"start": "~gw1~garbage!"}, "cursor"),
    ({"start": "~gw1~" + base64.urlsafe_b64encode(b'{"v":1,"after":3,"q":"x"}').decode()}, "cursor"),
    ({"start": "x" * 1025}, "start"),
    ({"limit": "5000"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": str(10**30)}, "limit"),
    ({"hash": "md5:xyz"}, "hash"),
    ({"hash": "whirlpool:00"}, "hash"),
    ({"hash": "md5"}, "hash"),
    ({"size": "-3"}, "size"),
    ({"page": "-1"}, "page"),
    ({"page": "1000", "limit": "1000"}, "page"),
    ({"ids": "dg.AAA1/x"}, "bulk"),
    ({"metadata": "a:b"}, "metadata"),
    ({"form": "bundle"}, "form"),
])
async def test_hostile_listing_requests_are_400s(fed, params, says):
    r = await fed.client.get("/index/index", params=params)
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["status_code"] == 400 and says in body["error"], body


async def test_a_cursor_is_tied_to_its_filters(fed):
    page = await _page(fed, limit=2, authz="/open")
    assert page["next_start"]
    r = await fed.client.get("/index/index", params={"limit": 2, "start": page["next_start"]})
    assert r.status_code == 400 and "other filters" in r.json()["error"]
    forged = page["next_start"][:-3] + ("AAA" if not page["next_start"].endswith("AAA") else "BBB")
    r = await fed.client.get("/index/index", params={"limit": 2, "authz": "/open", "start": forged})
    assert r.status_code == 400, r.text


# --- queries --------------------------------------------------------------------------------------------------


def _matching(fed: Fed, keep) -> list[str]:  # type: ignore[no-untyped-def]
    return [d for d, m in fed.expected if keep(fed.records[(d, m)])]


async def test_hash_query_finds_the_record_at_whichever_member(fed):
    for key in (next(k for k in fed.expected if k[1] == "c"), next(k for k in fed.expected if k[1] == "a")):
        md5 = fed.records[key]["hashes"]["md5"]
        page = await _page(fed, hash=f"md5:{md5}")
        assert _dids(page["records"]) == _matching(fed, lambda r, md5=md5: r["hashes"].get("md5") == md5)
        assert key[0] in _dids(page["records"])
        assert page["hashes"] == {"md5": md5}


async def test_every_hash_given_must_match(fed):
    record = fed.records[next(k for k in fed.expected if k[1] == "c" and k[0].startswith("dg."))]
    md5, sha256 = record["hashes"]["md5"], record["hashes"]["sha256"]
    r = await fed.client.get("/index/index", params=[("hash", f"md5:{md5}"), ("hash", f"sha256:{sha256}")])
    assert r.status_code == 200 and _dids(r.json()["records"]) == [record["did"]], r.text
    r = await fed.client.get("/index/index", params=[("hash", f"md5:{md5}"), ("hash", "sha256:" + "0" * 64)])
    assert r.status_code == 200 and r.json()["records"] == [], r.text


async def test_file_name_url_size_acl_and_authz_queries(fed):
    record = fed.records[next(k for k in fed.expected if k[1] == "c" and k[0].startswith("dg."))]
    page = await _page(fed, file_name=record["file_name"])
    assert _dids(page["records"]) == _matching(fed, lambda r: r["file_name"] == record["file_name"])
    page = await _page(fed, url=record["urls"][0])
    assert _dids(page["records"]) == _matching(fed, lambda r: record["urls"][0] in r["urls"])
    page = await _page(fed, size=record["size"], limit=1024)
    assert _dids(page["records"]) == _matching(fed, lambda r: r["size"] == record["size"])
    resource = record["authz"][0]
    page = await _page(fed, authz=resource, limit=1024)
    assert _dids(page["records"]) == _matching(fed, lambda r: resource in r["authz"])
    page = await _page(fed, authz="/open", limit=1024)
    want = _matching(fed, lambda r: "/open" in r["authz"])
    assert _dids(page["records"]) == want and {fed.records[k]["did"] for k in fed.expected if k[1] == "a"} & set(want)
    page = await _page(fed, acl="open", limit=1024)
    assert _dids(page["records"]) == _matching(fed, lambda r: "open" in r["acl"])
    page = await _page(fed, authz="null", limit=1024)
    assert _dids(page["records"]) == _matching(fed, lambda r: r["authz"] == []) == [SHARED, SHARED]


async def test_a_query_pages_with_its_cursor(fed):
    want = _matching(fed, lambda r: "/open" in r["authz"])
    got: list[str] = []
    start = None
    while True:
        page = await _page(fed, authz="/open", limit=4, **({"start": start} if start else {}))
        got += _dids(page["records"])
        start = page["next_start"]
        if start is None:
            break
    assert got == want


# --- stats, version, dist -------------------------------------------------------------------------------------


async def test_stats_sum_the_members_that_can_list(fed):
    own = {mid: (await s.client.get("/index/_stats")).json() for mid, s in (("a", fed.a), ("c", fed.c))}
    r = await fed.client.get("/index/_stats")
    assert r.status_code == 200, r.text
    stats = r.json()
    assert stats["fileCount"] == own["a"]["fileCount"] + own["c"]["fileCount"] == len(fed.expected)
    assert stats["totalFileSize"] == own["a"]["totalFileSize"] + own["c"]["totalFileSize"]
    members = {m["commons"]: m for m in stats["members"]}
    assert members["a"]["fileCount"] == own["a"]["fileCount"] and members["c"]["status"] == "ok"
    assert members["b"]["status"] == "unsupported" and "fileCount" not in members["b"]


async def test_version_is_the_gateways_with_each_members(fed):
    r = await fed.client.get("/index/_version")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["version"] and "commit" in doc
    members = {m["commons"]: m for m in doc["members"]}
    own = (await fed.a.client.get("/index/_version")).json()
    assert members["a"]["version"] == own["version"] and members["a"]["status"] == "ok"
    assert members["b"]["status"] == "unsupported"


async def test_dist_types_each_member_by_its_kind(fed):
    r = await fed.client.get("/index/_dist")
    assert r.status_code == 200, r.text
    entries = {e["member"]: e for e in r.json()}
    assert entries["a"]["type"] == "indexd" and entries["a"]["host"] == fed.a.base_url + "/index/"
    assert entries["b"]["type"] == "drs" and entries["b"]["host"] == fed.b.base_url + "/ga4gh/drs/v1/"


async def test_services_point_at_each_members_drs_root(fed):
    r = await fed.client.get("/services")
    assert r.status_code == 200, r.text
    services = {s["id"]: s for s in r.json()}
    for mid, server in (("a", fed.a), ("b", fed.b), ("c", fed.c)):
        assert services[mid]["url"] == server.base_url + "/ga4gh/drs/v1"
        assert services[mid]["organization"]["url"] == server.base_url
        assert (await fed.client.get(services[mid]["url"] + "/service-info")).status_code == 200
    assert "drs commons" in services["b"]["description"] and "gen3 commons" in services["a"]["description"]


# --- failures -------------------------------------------------------------------------------------------------


async def test_a_member_that_dies_mid_listing_is_a_502_naming_it(fed):
    first = await _page(fed, limit=5)
    assert first["next_start"]
    await fed.c.stop()
    for params in ({"limit": 5, "start": first["next_start"]}, {"limit": 5, "start": first["records"][-1]["did"]}):
        r = await fed.client.get("/index/index", params=params)
        assert r.status_code == 502, r.text
        body = r.json()
        assert body["status_code"] == 502 and "member c" in body["error"] and "127.0.0.1" not in body["error"]
    r = await fed.client.get("/index/_stats")
    assert r.status_code == 502 and "member c" in r.json()["error"], r.text
    r = await fed.client.get("/index/_version")  # informational: the member's error, not a failure
    assert r.status_code == 200 and {m["commons"]: m for m in r.json()["members"]}["c"]["status"] == "error"


def _misbehaving(mode: str) -> web.Application:
    """An indexd that lists out of order, past its limit, or fails."""
    def doc(did: str) -> dict[str, Any]:
        return {"did": did, "size": 1, "hashes": {"md5": "0" * 32}, "urls": [], "authz": [], "acl": []}

    async def listing(request: web.Request) -> web.Response:
        if mode == "500":
            return web.json_response({"error": "boom"}, status=500)
        if mode == "404":
            return web.json_response({"error": "no such route"}, status=404)
        dids = ["dg.zzz9/b", "dg.zzz9/a"] if mode == "unordered" else [f"dg.zzz9/{i:04d}" for i in range(2000)]
        return web.json_response({"records": [doc(d) for d in dids]})

    async def status(request: web.Request) -> web.Response:
        return web.Response(text="Healthy")

    routes = [web.get("/index/index", listing), web.get("/index/_status", status),
              web.get("/index/_stats", listing)]
    return recording_app(routes)


@pytest.mark.parametrize("mode", ["500", "404", "unordered", "too-many"])
async def test_a_misbehaving_member_is_a_502_not_a_wrong_listing(tmp_path, mode):
    async with AsyncExitStack() as stack:
        a = await start_commons("dg.AAA1", seed=1, subjects=3)
        stack.push_async_callback(a.stop)
        bad = await stack.enter_async_context(serve(_misbehaving(mode)))
        members = [{"id": "a", "name": "A", "base_url": a.base_url, "kind": "gen3", "prefixes": ["dg.AAA1"]},
                   {"id": "z", "name": "Z", "base_url": bad.url, "kind": "gen3", "prefixes": ["dg.zzz9"]}]
        gateway = await start_gateway(store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
                                      registry={"members": members}, upstream={"retries": 0},
                                      health={"interval": 3600.0}, aggregate={"harvest": {"enabled": False}})
        stack.push_async_callback(gateway.stop)
        r = await gateway.client.get("/index/index", params={"limit": 10})
        assert r.status_code == 502, r.text
        assert "member z" in r.json()["error"] and bad.url not in r.json()["error"]
        r = await gateway.client.get("/index/_stats")
        assert r.status_code == 502, r.text


async def test_a_member_that_hangs_is_a_504_at_the_deadline():
    async with AsyncExitStack() as stack:
        a = await start_commons("dg.AAA1", seed=1, subjects=3)
        stack.push_async_callback(a.stop)
        stuck = await stack.enter_async_context(serve(hanging()))
        members = [{"id": "a", "name": "A", "base_url": a.base_url, "kind": "gen3", "prefixes": ["dg.AAA1"]},
                   {"id": "h", "name": "H", "base_url": stuck.url, "kind": "gen3", "prefixes": ["dg.hang"]}]
        gateway = await start_gateway(store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
                                      registry={"members": members}, resolver={"deadline": 1.0},
                                      health={"interval": 3600.0}, aggregate={"harvest": {"enabled": False}})
        stack.push_async_callback(gateway.stop)
        for path in ("/index/index", "/index/_stats"):
            started = time.monotonic()
            r = await gateway.client.get(path)
            assert r.status_code == 504 and "member h" in r.json()["error"], r.text
            assert time.monotonic() - started < 5


async def test_the_in_process_reference_commons_lists_like_any_member():
    async with AsyncExitStack() as stack:
        a = await start_commons("dg.AAA1", seed=1, subjects=3)
        stack.push_async_callback(a.stop)
        members = [{"id": "a", "name": "A", "base_url": a.base_url, "kind": "gen3", "prefixes": ["dg.AAA1"]}]
        gateway = await start_gateway(store={"url": "sqlite:///:memory:"},
                                      refcommons={"subjects": 3, "data_dir": None},
                                      registry={"members": members}, health={"interval": 3600.0},
                                      aggregate={"harvest": {"enabled": False}})
        stack.push_async_callback(gateway.stop)
        own = await _all(a)
        page = (await gateway.client.get("/index/index", params={"limit": 1024})).json()
        dids = _dids(page["records"])
        assert dids == sorted(dids) and set(_dids(own)) < set(dids)
        assert any(d.startswith("dg.REF0/") for d in dids)
        stats = (await gateway.client.get("/index/_stats")).json()
        assert stats["fileCount"] == len(dids)
        assert {m["status"] for m in stats["members"]} == {"ok"}


# --- the gen3 SDK ---------------------------------------------------------------------------------------------


@pytest.fixture
def sdk_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # the SDK caches tokens under $HOME
    monkeypatch.setenv("GEN3SDK_MAX_RETRIES", "1")


async def test_gen3_index_get_all_records_and_get_stats_through_the_gateway(fed, sdk_home):
    index = Gen3Index(fed.gateway.base_url)
    everything = await asyncio.to_thread(index.get_all_records, limit=7, paginate=True)
    assert _dids(everything) == [d for d, _ in fed.expected]
    first = await asyncio.to_thread(index.get_all_records, limit=5)
    dids = [d for d, _ in fed.expected]
    group = dids[4] if dids[4] == dids[5] else None  # a did two members hold is never split: the page is shorter
    assert _dids(first) == [d for d in dids[:5] if d != group]
    stats = await asyncio.to_thread(index.get_stats)
    assert stats["fileCount"] == len(fed.expected)
    assert (await asyncio.to_thread(index.get_version))["version"]
    record = fed.records[next(k for k in reversed(fed.expected) if k[0].startswith("dg."))]  # a unique md5
    found = await asyncio.to_thread(index.get_with_params, {"hashes": {"md5": record["hashes"]["md5"]}})
    assert found["did"] == record["did"]
    on_page = await asyncio.to_thread(index.get_records_on_page, limit=4, page=2)
    assert _dids(on_page) == dids[8:12]  # page= is positional


def test_cursor_json_is_not_needed_to_use_start():
    """The cursor is opaque to clients: what it holds is the gateway's business (decoded here only to show it
    carries no member address)."""
    from gateway.indexd.cursor import MARKER, encode_cursor

    text = encode_cursor("dg.AAA1/x", "0123")
    assert text.startswith(MARKER)
    raw = text[len(MARKER):]
    assert set(orjson.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))) == {"v", "after", "q"}
