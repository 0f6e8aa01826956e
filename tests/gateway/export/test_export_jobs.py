"""Export jobs end to end on one gateway (embedded defaults: SQLite store, files in a directory) with three reference
commons, one of them behind a proxy that can hold back or fail its row pages: the lifecycle to a PFB or manifest
read back, ``delivery: auto`` against ``inline_limit``, cancel, delete, expiry, the slot limit, and errors."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from faults import STATE
from gen3.tools.download.drs_download import Manifest
from jobs_env import (
    NOTHING,
    OPEN,
    accessible_total,
    eventually,
    job_in,
    members_behind_gate,
    start_export_gateway,
    start_job,
)
from pfb.reader import PFBReader
from servers import Server

from gateway.web.keys import JOBS
from gateway.web.routes.export import PATH

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.filterwarnings("ignore:SelectableGroups dict interface is deprecated"),
    pytest.mark.filterwarnings("ignore:The 'default' argument to fields is deprecated"),
]

SUBJECTS = 40


@dataclass
class Env:
    main: Server
    tiny: Server
    """inline_limit 5, job_ttl 0.5 s, no sweeps while the tests run"""
    swept: Server
    """job_ttl and sweep_interval 0.2 s"""
    proxy: Any
    tmp: Path

    @property
    def main_dir(self) -> Path:
        return self.tmp / "main"

    @property
    def state(self) -> dict[str, Any]:
        return self.proxy.app[STATE]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory) -> AsyncIterator[Env]:
    tmp = tmp_path_factory.mktemp("export-jobs")
    async with AsyncExitStack() as stack:
        members, proxy = await members_behind_gate(stack, (1, 2, 3), SUBJECTS)
        main = await start_export_gateway(members, store={"url": f"sqlite:///{tmp / 'main.sqlite3'}"},
                                          directory=tmp / "main", max_running=1)
        stack.push_async_callback(main.stop)
        tiny = await start_export_gateway(members, store={"url": f"sqlite:///{tmp / 'tiny.sqlite3'}"},
                                          directory=tmp / "tiny", inline_limit=5, job_ttl=0.5, sweep_interval=3600)
        stack.push_async_callback(tiny.stop)
        swept = await start_export_gateway(members, store={"url": f"sqlite:///{tmp / 'swept.sqlite3'}"},
                                           directory=tmp / "swept", job_ttl=0.2, sweep_interval=0.2)
        stack.push_async_callback(swept.stop)
        try:
            yield Env(main, tiny, swept, proxy, tmp)
        finally:
            proxy.app[STATE]["gate"].set()


@pytest.fixture
def held(env: Env):
    """The proxied member's row pages wait until the test ends."""
    env.state["gate"].clear()
    yield env.state
    env.state["gate"].set()


def read_pfb(data: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with PFBReader(io.BytesIO(data)) as reader:
        return reader.metadata, list(reader)


async def no_workers(server: Server) -> bool:
    return not server.app[JOBS].workers


async def test_a_pfb_job_runs_to_done_and_its_file_reads_back(env):
    url, first = await start_job(env.main, {"index": "subject", "filter": OPEN, "format": "pfb"})
    assert first["status"] in ("queued", "running") and first["file"] is None and first["expires_at"] is None
    doc = await job_in(env.main, url, "done")
    total = await accessible_total(env.main, "subject", OPEN)
    assert total > 0
    # the members' totals are known (a filter): the pre-count is exact, and so is the progress
    assert doc["progress"]["entities"] == doc["progress"]["expected"] == total + 2 * 3  # + a program, a project each
    assert doc["expires_at"] > doc["finished_at"] >= doc["started_at"] >= doc["created_at"]
    assert doc["file"]["url"] == url + "/file" and doc["file"]["filename"] == "cohort.pfb"

    r = await env.main.client.get(doc["file"]["url"])
    assert r.status_code == 200
    assert r.headers["content-type"] == "avro/binary"
    assert r.headers["content-disposition"] == "attachment; filename=cohort.pfb"
    assert int(r.headers["content-length"]) == len(r.content) == doc["file"]["size"]
    assert hashlib.sha256(r.content).hexdigest() == doc["file"]["sha256"]
    metadata, records = read_pfb(r.content)
    assert sum(1 for rec in records if rec["name"] == "subject") == total
    assert all(rec["object"]["project_id"].endswith("-OPEN") for rec in records if rec["name"] == "subject")
    assert json.loads(metadata["misc"]["sources"]) == doc["sources"]
    assert {s["commons"]: s["status"] for s in doc["sources"]} == {"aaa1": "ok", "bbb2": "ok", "ccc3": "ok"}
    # the same export streamed: the same entities
    streamed = await env.main.client.post(PATH, json={"index": "subject", "filter": OPEN, "delivery": "stream"})
    assert [(x["name"], x["id"]) for x in read_pfb(streamed.content)[1]] == [(x["name"], x["id"]) for x in records]


async def test_a_manifest_job_loads_in_the_gen3_sdk(env, tmp_path):
    url, _ = await start_job(env.main, {"index": "file", "filter": OPEN, "format": "manifest"})
    doc = await job_in(env.main, url, "done")
    r = await env.main.client.get(doc["file"]["url"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    entries = r.json()
    assert len(entries) == doc["progress"]["entities"] == await accessible_total(env.main, "file", OPEN) > 0
    path = tmp_path / "manifest.json"
    path.write_bytes(r.content)
    assert [m.object_id for m in Manifest.load_manifest(path)] == [e["object_id"] for e in entries]


async def test_auto_delivery_streams_up_to_the_inline_limit_and_makes_a_job_beyond(env):
    assert await accessible_total(env.tiny, "subject", OPEN) > 5  # tiny's inline_limit
    r = await env.tiny.client.post(PATH, json={"index": "subject", "filter": OPEN})
    assert r.status_code == 202 and r.headers["location"].startswith("/search/v1/export/jobs/")
    empty = await env.tiny.client.post(PATH, json={"index": "subject", "filter": NOTHING})
    assert empty.status_code == 200 and read_pfb(empty.content)[1] == []
    forced = await env.tiny.client.post(PATH, json={"index": "subject", "filter": OPEN, "delivery": "stream"})
    assert forced.status_code == 200 and forced.headers["content-type"] == "avro/binary"
    big = await env.main.client.post(PATH, json={"index": "subject", "filter": OPEN})  # inline_limit 10,000
    assert big.status_code == 200 and big.headers["content-type"] == "avro/binary"


async def test_an_expired_job_answers_410_until_a_sweep_deletes_it_and_its_file(env):
    url, doc = await start_job(env.tiny, {"index": "subject", "filter": OPEN})
    await job_in(env.tiny, url, "done")
    assert (env.tmp / "tiny" / doc["id"]).is_file()

    async def gone() -> bool:
        return (await env.tiny.client.get(url)).status_code == 410

    await eventually(gone, "410 after job_ttl")
    r = await env.tiny.client.get(url + "/file")
    assert r.status_code == 410 and "expired" in r.json()["error"]
    assert await env.tiny.app[JOBS].sweep() >= 1
    assert (await env.tiny.client.get(url)).status_code == 404
    assert (await env.tiny.client.get(url + "/file")).status_code == 404
    assert not (env.tmp / "tiny" / doc["id"]).exists()


async def test_the_sweeper_runs_by_itself_on_every_replica(env):
    url, doc = await start_job(env.swept, {"index": "subject", "filter": OPEN})

    async def swept() -> bool:
        return (await env.swept.client.get(url)).status_code == 404

    await eventually(swept, "the sweeper to delete the job")
    assert not any((env.tmp / "swept").glob(doc["id"] + "*"))


async def test_cancelling_a_running_job_stops_its_worker_and_leaves_no_file(env, held):
    before = held["rows"]
    url, doc = await start_job(env.main, {"index": "subject", "filter": OPEN})

    async def page_held() -> bool:
        return held["rows"] > before

    await eventually(page_held, "a row page to be held back")
    assert (await job_in(env.main, url, "running"))["progress"]["expected"] > 0
    early = await env.main.client.get(url + "/file")
    assert early.status_code == 409 and "running" in early.json()["error"]

    r = await env.main.client.delete(url)
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["expires_at"]
    await eventually(lambda: no_workers(env.main), "the worker to stop")  # with its page still held back
    assert (await env.main.client.get(url)).json()["status"] == "cancelled"
    after = await env.main.client.get(url + "/file")
    assert after.status_code == 409 and "cancelled" in after.json()["error"]
    assert not any(env.main_dir.glob(doc["id"] + "*"))
    assert (await env.main.client.delete(url)).status_code == 204  # a finished job: deleted
    assert (await env.main.client.get(url)).status_code == 404


async def test_a_replica_runs_at_most_max_running_jobs_then_answers_429(env, held):
    url, _ = await start_job(env.main, {"index": "subject", "filter": OPEN})  # max_running 1
    r = await env.main.client.post(PATH, json={"index": "subject", "filter": OPEN, "delivery": "job"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    assert r.json()["status_code"] == 429 and "max_running" in r.json()["error"]
    assert (await env.main.client.delete(url)).status_code == 200
    await eventually(lambda: no_workers(env.main), "the slot to be free")


async def test_a_member_failing_while_paging_fails_the_job(env):
    env.state["fail"] = True
    try:
        url, doc = await start_job(env.main, {"index": "subject", "filter": OPEN})
        failed = await job_in(env.main, url, "failed")
    finally:
        env.state["fail"] = False
    assert "ccc3" in failed["error"] and failed["file"] is None and failed["expires_at"]
    r = await env.main.client.get(url + "/file")
    assert r.status_code == 409 and "failed" in r.json()["error"] and "ccc3" in r.json()["error"]
    assert not any(env.main_dir.glob(doc["id"] + "*"))


async def test_deleting_a_done_job_removes_it_and_its_file(env):
    url, doc = await start_job(env.main, {"index": "subject", "filter": OPEN})
    await job_in(env.main, url, "done")
    assert (env.main_dir / doc["id"]).is_file()
    r = await env.main.client.delete(url)
    assert r.status_code == 204
    assert not (env.main_dir / doc["id"]).exists()
    assert (await env.main.client.get(url)).status_code == 404
    assert (await env.main.client.get(url + "/file")).status_code == 404


@pytest.mark.parametrize("job_id", ["nope", "A" * 43, "..%2F..%2Fetc", "a" * 80])
async def test_unknown_or_malformed_job_ids_are_404(env, job_id):
    for method, suffix in (("GET", ""), ("GET", "/file"), ("DELETE", "")):
        r = await env.main.client.request(method, f"/search/v1/export/jobs/{job_id}{suffix}")
        assert r.status_code == 404, (method, suffix, r.text)
        assert r.json()["status_code"] == 404 and r.json()["error"]


@pytest.mark.parametrize("body", [
    {"index": "subject", "delivery": "later"},
    {"index": "subject", "format": "manifest", "delivery": "job"},
])
async def test_bad_delivery_requests_are_400(env, body):
    r = await env.main.client.post(PATH, json=body)
    assert r.status_code == 400, r.text
