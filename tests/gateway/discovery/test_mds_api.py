"""The Aggregate MDS routes over harvested snapshots: shapes, paging, flatten, counts, tags, info, GUID lookups,
search and errors, against two standalone reference commons (Gen3 members) and the in-process one."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web
from servers import Server, free_port, start_commons

from gateway import app as gateway_app
from gateway.discovery.mds_query import schema_json
from gateway.settings.discovery import DEFAULT_STUDY_SCHEMA
from gateway.settings.gateway import Settings
from gateway.web.keys import HARVESTER

AGG = "/mds/aggregate"


@dataclass
class Env:
    client: httpx.AsyncClient
    a: Server
    b: Server
    all: list[tuple[str, str, dict[str, Any]]]
    """(commons, guid, study) of the whole listing, in serving order."""

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.client.get(AGG + path, params=params)


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with AsyncExitStack() as stack:
        a = await start_commons("dg.MA01", 21, 8)
        stack.push_async_callback(a.stop)
        b = await start_commons("dg.MB02", 22, 8)
        stack.push_async_callback(b.stop)
        port = free_port()
        settings = Settings(
            port=port, store={"url": "sqlite:///:memory:"}, refcommons={"subjects": 10, "data_dir": None},
            upstream={"retries": 0},
            # libre: every study count shown (their tiering is tests/gateway/aggregate/test_study_counts.py)
            aggregate={"harvest": {"interval": 3600.0, "timeout": 5.0}, "tier": {"level": "libre"}},
            registry={"members": [
                {"id": mid, "name": mid.upper(), "base_url": s.base_url, "kind": "gen3", "prefixes": [p],
                 "auth": {"type": "none"}} for mid, s, p in (("ma", a, "dg.MA01"), ("mb", b, "dg.MB02"))
            ]},
        )
        app = await gateway_app.create_app(settings)  # discovery routes precede the resolver's /mds/aggregate/info
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        await web.TCPSite(runner, "127.0.0.1", port).start()
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
        stack.push_async_callback(client.aclose)
        await app[HARVESTER].started()
        view = await app[HARVESTER].view()
        rows = [(s.commons, g, st) for s in view.snapshots for g, st in s.records]
        assert {c for c, _, _ in rows} == {"ma", "mb", "refcommons"}
        yield Env(client, a, b, rows)


def flat_guids(body: list[dict[str, Any]]) -> list[str]:
    return [g for item in body for g in item]


def assert_mds_error(r: httpx.Response, code: int) -> None:
    assert r.status_code == code, r.text
    body = r.json()
    assert set(body) == {"error", "status_code"} and body["status_code"] == code and body["error"]


async def test_commons_and_default_metadata_shape(env):
    assert (await env.get("/commons")).json() == {"commons": ["ma", "mb", "refcommons"]}
    body = (await env.get("/metadata")).json()  # default limit 20, grouped by commons
    assert isinstance(body, dict)
    items = [(c, g) for c, lst in body.items() for item in lst for g in item]
    assert items == [(c, g) for c, g, _ in env.all][:20]
    first_commons = next(iter(body))
    doc = next(iter(body[first_commons][0].values()))
    assert set(doc) == {"gen3_discovery"} and doc["gen3_discovery"]["commons_name"] == first_commons


async def test_paging_flatten_and_pagination(env):
    n = len(env.all)
    guids = [g for _, g, _ in env.all]
    assert flat_guids((await env.get("/metadata", flatten="true", limit=2000)).json()) == guids
    assert flat_guids((await env.get("/metadata", flatten="true", limit=5, offset=3)).json()) == guids[3:8]
    assert flat_guids((await env.get("/metadata", flatten="true", offset=n + 5)).json()) == []
    body = (await env.get("/metadata", pagination="true", limit=7, offset=2)).json()
    assert body["pagination"] == {"hits": n, "offset": 2, "pageSize": 7, "pages": math.ceil(n / 7)}
    assert [g for lst in body["results"].values() for item in lst for g in item] == guids[2:9]
    body = (await env.get("/metadata", pagination="true", flatten="true", limit=3000)).json()
    assert body["pagination"]["pageSize"] == 2000 and flat_guids(body["results"]) == guids
    assert (await env.get("/metadata", pagination="true", limit=0)).json()["pagination"]["pages"] == 0


async def test_counts_replace_arrays_and_objects_by_their_length(env):
    body = (await env.get("/metadata", flatten="true", limit=2000, counts="tags,authz,files_by_data_type")).json()
    studies = {g: s for _, g, s in env.all}
    for item in body:
        (guid, doc), = item.items()
        got, raw = doc["gen3_discovery"], studies[guid]
        assert got["tags"] == len(raw["tags"]) and got["authz"] == len(raw["authz"])
        if "files_by_data_type" in raw:
            assert got["files_by_data_type"] == len(raw["files_by_data_type"])
        assert got["name"] == raw["name"]


async def test_by_commons_info_and_guid(env):
    ma = [s for c, _, s in env.all if c == "ma"]
    assert (await env.get("/metadata/ma")).json() == [{"gen3_discovery": s} for s in ma]
    assert (await env.get("/metadata/ma/info")).json() == {"commons_url": env.a.base_url}
    assert_mds_error(await env.get("/metadata/nope"), 404)
    assert_mds_error(await env.get("/metadata/nope/info"), 404)

    _commons, guid, study = env.all[-1]
    r = await env.get(f"/metadata/guid/{guid}")
    assert r.status_code == 200 and r.json() == {"gen3_discovery": study}
    assert_mds_error(await env.get("/metadata/guid/no-such/guid"), 404)


async def test_tags_count_every_tag_by_category(env):
    body = (await env.get("/tags")).json()
    totals: Counter[str] = Counter()
    names: dict[str, Counter[str]] = {}
    for _, _, s in env.all:
        for t in s.get("tags") or []:
            totals[t["category"]] += 1
            names.setdefault(t["category"], Counter())[t["name"]] += 1
    assert {k: v["total"] for k, v in body.items()} == dict(totals)
    for category, entry in body.items():
        assert entry["names"] == [dict(sorted(names[category].items(), key=lambda kv: (-kv[1], kv[0])))]
    assert "Data Type" in body and "Access" in body


async def test_info(env):
    assert (await env.get("/info/schema")).json() == schema_json(DEFAULT_STUDY_SCHEMA)
    assert (await env.get("/info/mb")).json() == {"commons_url": env.b.base_url}
    for what in ("dg.MB02", "dg.mb02"):
        assert (await env.get(f"/info/{what}")).json() == {"host": env.b.hostname, "name": "MB", "type": "indexd"}
    assert_mds_error(await env.get("/info/dg.NOPE"), 404)


async def test_search_full_text_and_field_filters(env):
    _commons, guid, study = env.all[0]
    word = study["name"].split()[0]
    body = (await env.get("/search", q=word.upper(), flatten="true", limit=2000)).json()
    assert guid in flat_guids(body)
    for item in body:
        (g, doc), = item.items()
        assert word.casefold() in (g + str(doc)).casefold()

    controlled = [g for _, g, s in env.all if s.get("access") == "controlled"]
    r = await env.get("/search", access="controlled", flatten="true", limit=2000, pagination="true")
    assert r.json()["pagination"]["hits"] == len(controlled) and flat_guids(r.json()["results"]) == controlled

    # a repeated field ORs, different fields AND
    params = [("commons_name", "ma"), ("commons_name", "mb"), ("access", "open"), ("flatten", "true"),
              ("limit", "2000")]
    want = [g for c, g, s in env.all if c in ("ma", "mb") and s.get("access") == "open"]
    assert flat_guids((await env.client.get(f"{AGG}/search", params=params)).json()) == want
    # tags select by category:name; grouped shape by default
    tagged = (await env.get("/search", tags="Access:Open", limit=2000)).json()
    assert sum(len(v) for v in tagged.values()) == sum(
        1 for _, _, s in env.all if {"name": "Open", "category": "Access"} in (s.get("tags") or []))
    assert (await env.get("/search", q="zzzqqqxxx-not-there")).json() == {}


async def test_bad_parameters_are_400(env):
    for path, params in [
        ("/metadata", {"limit": "-1"}), ("/metadata", {"offset": "x"}), ("/metadata", {"flatten": "maybe"}),
        ("/metadata", {"pagination": "2"}), ("/search", {"q": "x" * 1001}), ("/search", {"limit": "ten"}),
    ]:
        assert_mds_error(await env.get(path, **params), 400)
    assert_mds_error(await env.client.get(f"{AGG}/search", params=[("q", "a"), ("q", "b")]), 400)


async def test_status_shape(env):
    body = (await env.get("/status")).json()
    assert body["harvest"] == {"interval": 3600.0, "timeout": 5.0}
    assert [row["commons"] for row in body["sources"]] == ["ma", "mb", "refcommons"]
    for row in body["sources"]:
        assert set(row) == {"commons", "status", "count", "last_success", "last_attempt", "age", "error"}
        assert row["status"] == "ok" and row["count"] > 0 and row["error"] is None
