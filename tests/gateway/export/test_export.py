"""POST /search/v1/export end to end: a gateway with three reference commons (and one broken member), PFB read
back with pypfb's reader and CLI, manifests with the Gen3 SDK's loader, refusals before any byte, and a failure
mid-stream aborting the transfer."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from cohort_kit import gen3, start_all, start_search_gateway
from faults import recording_app, serve
from gen3.tools.download.drs_download import Manifest
from pfb.reader import PFBReader
from servers import Server, start_gateway

from gateway.export import plan as export_plan
from gateway.web.keys import COHORT
from gateway.web.routes.export import PATH
from gateway.web.routes.search import PATH as COHORT_PATH

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.filterwarnings("ignore:SelectableGroups dict interface is deprecated"),
    pytest.mark.filterwarnings("ignore:The 'default' argument to fields is deprecated"),
]

COMMONS = (("dg.AAA1", 1), ("dg.BBB2", 2), ("dg.CCC3", 3))
SUBJECTS = 60
PFB_CLI = Path(sys.executable).with_name("pfb")
OPEN = {"in": {"project_id": [f"{p.split('.')[1]}-OPEN" for p, _ in COMMONS]}}
"""Open data only (what an anonymous caller may access); a filter keeps the members' totals unhidden."""


def broken() -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"error": "boom"}, status=500)

    return recording_app([web.route("*", "/{tail:.*}", handler)])


@dataclass
class Env:
    gateway: Server
    small: Server
    commons: dict[str, Server]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env() -> AsyncIterator[Env]:
    async with AsyncExitStack() as stack:
        commons = await start_all(stack, COMMONS, SUBJECTS)
        bad = await stack.enter_async_context(serve(broken()))
        members = [gen3(mid, s.base_url, f"dg.{mid}") for mid, s in commons.items()]
        members.append(gen3("z-broken", bad.url, "dg.zbro"))
        gateway = await start_search_gateway(members, breaker={"failures": 1000, "cooldown": 1}, max_page=25)
        stack.push_async_callback(gateway.stop)
        small = await start_search_gateway(members, export={"max_entities": 10})
        stack.push_async_callback(small.stop)
        yield Env(gateway, small, commons)


async def accessible_total(server: Server, index: str, flt: Any) -> int:
    r = await server.client.post(COHORT_PATH, json={"index": index, "filter": flt, "accessibility": "accessible"})
    assert r.status_code == 200, r.text
    return r.json()["total"]["count"]


def read_pfb(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with PFBReader(io.BytesIO(data)) as reader:
        records = list(reader)
        metadata = reader.metadata
    return metadata, records


async def test_pfb_export_of_subjects_holds_every_accessible_subject_parents_first(env, tmp_path):
    r = await env.gateway.client.post(PATH, json={"index": "subject", "filter": OPEN, "format": "pfb"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "avro/binary"
    assert r.headers["content-disposition"] == "attachment; filename=cohort.pfb"
    assert r.content[:4] == b"Obj\x01"
    total = await accessible_total(env.gateway, "subject", OPEN)
    assert total > 0

    metadata, records = read_pfb(r.content)
    names = [rec["name"] for rec in records]
    assert names.count("subject") == total
    assert set(names) == {"program", "project", "subject"}
    last_project = max(i for i, n in enumerate(names) if n == "project")
    first_subject = names.index("subject")
    assert last_project < first_subject  # every program and project before the first subject
    written: set[tuple[str, str]] = set()
    for rec in records:
        for rel in rec["relations"]:
            assert (rel["dst_name"], rel["dst_id"]) in written  # each parent before its children
        written.add((rec["name"], rec["id"]))
        if rec["name"] == "subject":
            assert [rel["dst_name"] for rel in rec["relations"]] == ["project"]
            assert rec["object"]["project_id"].endswith("-OPEN")  # anonymous: open data only
    assert len({rec["id"] for rec in records}) == len(records)

    sources = {s["commons"]: s for s in json.loads(metadata["misc"]["sources"])}
    assert {k: (s["status"], s["exported"]) for k, s in sources.items()} == {
        "aaa1": ("ok", True), "bbb2": ("ok", True), "ccc3": ("ok", True), "z-broken": ("error", False)}
    assert sum(s["count"] for s in sources.values() if s["exported"]) == total

    path = tmp_path / "cohort.pfb"
    path.write_bytes(r.content)
    shown = subprocess.run([str(PFB_CLI), "show", "-i", str(path), "-n", str(len(records) + 5)],
                           capture_output=True, text=True, check=True, timeout=120)
    lines = [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]
    assert sum(1 for rec in lines if rec["name"] == "subject") == total


async def test_pfb_export_with_a_filter_matches_the_cohort_count_and_is_stable(env):
    flt = {"AND": [OPEN, {"in": {"sex": ["female"]}}]}
    body = {"index": "subject", "filter": flt, "format": "pfb", "accessibility": "accessible"}
    first = await env.gateway.client.post(PATH, json=body)
    assert first.status_code == 200, first.text
    _, records = read_pfb(first.content)
    assert sum(1 for rec in records if rec["name"] == "subject") == await accessible_total(env.gateway, "subject", flt)
    assert all(rec["object"]["sex"] == "female" for rec in records if rec["name"] == "subject")
    _, again = read_pfb((await env.gateway.client.post(PATH, json=body)).content)
    assert [(r["name"], r["id"]) for r in again] == [(r["name"], r["id"]) for r in records]  # stable ids


async def test_pfb_export_of_files_relates_each_file_to_its_project(env):
    r = await env.gateway.client.post(PATH, json={"index": "file", "filter": OPEN, "format": "pfb"})
    assert r.status_code == 200, r.text
    _, records = read_pfb(r.content)
    files = [rec for rec in records if rec["name"] == "file"]
    assert len(files) == await accessible_total(env.gateway, "file", OPEN) > 0
    projects = {rec["id"] for rec in records if rec["name"] == "project"}
    assert all([rel["dst_name"] for rel in f["relations"]] == ["project"] and f["relations"][0]["dst_id"] in projects
               for f in files)
    assert all(isinstance(f["object"]["file_size"], int) and f["object"]["object_id"] == f["id"] for f in files)


async def test_manifest_export_of_files_loads_in_the_gen3_sdk(env, tmp_path):
    r = await env.gateway.client.post(PATH, json={"index": "file", "filter": OPEN, "format": "manifest"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    entries = r.json()
    assert len(entries) == await accessible_total(env.gateway, "file", OPEN) > 0
    hosts = {s.base_url.split("://", 1)[1].rstrip("/") for s in env.commons.values()}
    for e in entries:
        assert set(e) == {"object_id", "commons_url", "file_name", "file_size", "md5sum"}
        assert e["commons_url"] in hosts and isinstance(e["file_size"], int) and len(e["md5sum"]) == 32
    path = tmp_path / "manifest.json"
    path.write_bytes(r.content)
    loaded = Manifest.load_manifest(path)
    assert [m.object_id for m in loaded] == [e["object_id"] for e in entries]
    assert Manifest.load(path) is not None


@pytest.mark.parametrize("accessibility", ["all", "unaccessible"])
async def test_anything_but_accessible_is_forbidden(env, accessibility):
    r = await env.gateway.client.post(PATH, json={"index": "subject", "accessibility": accessibility})
    assert r.status_code == 403
    assert "accessibility: accessible" in r.text


@pytest.mark.parametrize("body", [
    {"index": "subject", "format": "csv"},
    {"index": "sample"},
    {"index": "subject", "format": "manifest"},
    {"index": "subject", "filter": {"bogus": {"sex": "female"}}},
    {"index": "subject", "extra": 1},
])
async def test_bad_requests(env, body):
    r = await env.gateway.client.post(PATH, json=body)
    assert r.status_code == 400, r.text


async def test_too_many_entities_is_refused_before_any_byte(env):
    r = await env.small.client.post(PATH, json={"index": "subject", "filter": OPEN})
    assert r.status_code == 413
    assert r.headers["content-type"].startswith("application/json")
    assert "max_entities" in r.text


async def test_the_cap_counts_the_accessible_totals_of_members_that_hide_their_all_totals(env):
    # unfiltered, the members hide their `all` totals (tier access), never their accessible ones: an export holds
    # accessible data only, so the pre-count knows its size and refuses before streaming
    for s in env.commons.values():
        r = await s.client.post("/guppy/graphql", json={"query": "{ _aggregation { subject { _totalCount } } }"})
        assert r.json()["data"]["_aggregation"]["subject"]["_totalCount"] == -1
    total = await accessible_total(env.small, "subject", None)
    assert total > 10
    r = await env.small.client.post(PATH, json={"index": "subject"})
    assert r.status_code == 413
    held = re.search(r"would hold (\d+) entities", r.json()["error"])
    assert held is not None and int(held.group(1)) >= total  # the plan's refusal, with the subjects counted


def hiding_guppy(upstream: str) -> web.Application:
    """A member's Guppy behind a proxy that hides the total of every counts answer entirely (``-1`` in the
    ``accessible`` part too): nobody knows its size before its rows are read."""
    async def handler(request: web.Request) -> web.Response:
        async with httpx.AsyncClient() as client:
            r = await client.request(request.method, upstream + request.path_qs, content=await request.read(),
                                     headers={"Content-Type": request.headers.get("Content-Type", "")})
        doc = r.json()
        data = doc.get("data") if isinstance(doc, dict) else None
        if isinstance(data, dict) and {"all", "accessible"} <= set(data):
            for alias in ("all", "accessible"):
                data[alias]["subject"]["_totalCount"] = -1
        return web.json_response(doc, status=r.status_code)

    return recording_app([web.route("*", "/{tail:.*}", handler)])


async def test_the_cap_holds_mid_stream_when_a_member_hides_its_total_entirely(env):
    upstream = next(iter(env.commons.values()))
    async with serve(hiding_guppy(upstream.base_url)) as proxy:
        small = await start_search_gateway([gen3("hider", proxy.url, "dg.hide")], export={"max_entities": 10})
        try:
            doc = (await small.client.post(COHORT_PATH, json={"index": "subject", "filter": OPEN,
                                                              "accessibility": "accessible"})).json()
            assert doc["total"] == {"count": None, "hidden": True, "below": False}  # the pre-count cannot know
            r = await small.client.post(PATH, json={"index": "subject", "filter": OPEN})
        finally:
            await small.stop()
    assert r.status_code == 413  # before the first chunk went out: still an answer
    assert "would hold more than the 10 entities" in r.json()["error"]  # the streaming cap, not the plan's


async def test_a_member_failing_before_the_first_chunk_is_a_json_error(env, monkeypatch):
    service = env.gateway.app[COHORT]

    async def failing(*args, **kw):
        raise RuntimeError("member went away")

    monkeypatch.setattr(service, "rows", failing)
    r = await env.gateway.client.post(PATH, json={"index": "subject", "filter": OPEN})
    assert r.status_code == 502 and r.json()["error"] == "the export failed: unexpected failure"
    assert "member went away" not in r.text and "RuntimeError" not in r.text  # an exception's text is logged only


async def test_a_failure_mid_stream_aborts_the_transfer(env, monkeypatch):
    service = env.gateway.app[COHORT]
    real = service.rows
    calls = 0

    async def failing(*args, **kw):
        nonlocal calls
        calls += 1
        if calls > 1:  # the second page
            raise RuntimeError("member went away")
        return await real(*args, **kw)

    monkeypatch.setattr(service, "rows", failing)
    monkeypatch.setattr(export_plan, "CHUNK_SIZE", 512)  # the header goes out before the failure
    with pytest.raises(httpx.HTTPError):  # a truncated transfer, never a short file that looks complete
        await env.gateway.client.post(PATH, json={"index": "subject", "filter": OPEN})
    assert calls == 2


async def test_a_manifest_of_the_in_process_commons_points_at_the_gateway(tmp_path):
    """The in-process commons has no host of its own (it lives under the gateway's path), so its files are listed
    under the gateway's DRS host, and the gateway resolves every one of them there."""
    gateway = await start_gateway(store={"url": f"sqlite:///{tmp_path / 'g.sqlite3'}"},
                                  refcommons={"subjects": 20, "data_dir": None},
                                  aggregate={"harvest": {"enabled": False}})
    try:
        r = await gateway.client.post(PATH, json={"index": "file", "format": "manifest"})
        assert r.status_code == 200, r.text
        entries = r.json()
        assert entries and {e["commons_url"] for e in entries} == {f"127.0.0.1:{gateway.port}"}
        for e in entries[:5]:
            drs = await gateway.client.get(f"/ga4gh/drs/v1/objects/{e['object_id']}")
            assert drs.status_code == 200, drs.text
            assert drs.json()["size"] == e["file_size"]
    finally:
        await gateway.stop()
