"""The discovery harvester end to end: real standalone reference commons registered as Gen3 members, the
in-process reference commons, a DRS member and a member that never answers; snapshots in a shared store, two
replicas of the gateway on one store (SQLite file or Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web
from servers import Server, free_port, start_commons

from gateway import app as gateway_app
from gateway.core.member import Member
from gateway.discovery.harvest import NS_SNAPSHOTS, Harvester, Outcome, merged_doc
from gateway.discovery.mapping.compiler import compile_mapping
from gateway.discovery.mapping.records import apply_all
from gateway.discovery.mapping.reference import REFCOMMONS_FIELD_MAPPINGS, refcommons_mapping
from gateway.settings.gateway import Settings
from gateway.web.keys import HARVESTER, RESOLVER, STATE


async def build_app(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> web.Application:
    """The whole gateway app (the discovery surface is wired by ``gateway.app.features.setup_discovery``)."""
    del monkeypatch
    return await gateway_app.create_app(settings)

INTERVAL = 3600.0  # the background loop harvests once at start; the tests run further rounds by hand


@dataclass
class Gw:
    app: web.Application
    runner: web.AppRunner
    client: httpx.AsyncClient

    @property
    def harvester(self) -> Harvester:
        return self.app[HARVESTER]


@asynccontextmanager
async def discovery_gateway(monkeypatch: pytest.MonkeyPatch, store: dict[str, Any], members: list[dict[str, Any]],
                            **aggregate: Any) -> AsyncIterator[Gw]:
    """A served gateway app with the discovery surface (see :func:`build_app`)."""
    port = free_port()
    settings = Settings(
        port=port, store=store, refcommons={"subjects": 10, "data_dir": None}, upstream={"retries": 0},
        registry={"members": members},
        aggregate={"harvest": {"interval": INTERVAL, "timeout": 5.0}, **aggregate},
    )
    app = await build_app(settings, monkeypatch)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
    try:
        yield Gw(app, runner, client)
    finally:
        await client.aclose()
        await runner.cleanup()


def member(mid: str, url: str, kind: str, prefix: str) -> dict[str, Any]:
    return {"id": mid, "name": mid.upper(), "base_url": url, "kind": kind, "prefixes": [prefix],
            "auth": {"type": "none"}}


def discovery(server: Server) -> list[tuple[str, dict[str, Any]]]:
    catalog = server.commons.metadata
    return catalog.query({"_guid_type": ["discovery_metadata"]}, limit=len(catalog.records))


def passthrough(server: Server, mid: str) -> dict[str, dict[str, Any]]:
    return {g: {**r["gen3_discovery"], "commons_name": mid} for g, r in discovery(server)}


@dataclass
class Fed:
    a: Server
    b: Server
    c: Server
    dead_url: str
    members: list[dict[str, Any]]
    mappings: dict[str, Any]


@pytest.fixture
async def fed() -> AsyncIterator[Fed]:
    async with AsyncExitStack() as stack:
        a = await start_commons("dg.HA01", 11, 8)
        stack.push_async_callback(a.stop)
        b = await start_commons("dg.HB02", 12, 8)
        stack.push_async_callback(b.stop)
        c = await start_commons("dg.HC03", 13, 8)
        stack.push_async_callback(c.stop)
        dead = f"http://127.0.0.1:{free_port()}"
        members = [member("ha", a.base_url, "gen3", "dg.HA01"), member("hb", b.base_url, "gen3", "dg.HB02"),
                   member("hc", c.base_url, "drs", "dg.HC03"), member("hd", dead, "gen3", "dg.HD04")]
        mappings = {"members": {"hb": {"field_mappings": {**REFCOMMONS_FIELD_MAPPINGS, "commons": "B Commons"}}}}
        yield Fed(a, b, c, dead, members, mappings)


async def expected_listing(gw: Gw, fed: Fed) -> dict[str, dict[str, dict[str, Any]]]:
    """Per listed commons, in order: guid → study, computed independently of the harvester."""
    routes = await gw.app[RESOLVER].directory.routes()
    ref = gw.app[STATE].refcommons
    ref_hits = ref.metadata.query({"_guid_type": ["discovery_metadata"]}, limit=len(ref.metadata.records))
    ref_mapping = compile_mapping("refcommons", refcommons_mapping(routes.members["refcommons"].name))
    b_mapping = compile_mapping("hb", refcommons_mapping("B Commons"))
    return {
        "ha": passthrough(fed.a, "ha"),
        "hb": {g: {**s, "commons_name": "hb"} for g, s in apply_all(b_mapping, discovery(fed.b))},
        "refcommons": {g: {**s, "commons_name": "refcommons"} for g, s in apply_all(ref_mapping, ref_hits)},
    }


def listing(body: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    return {commons: {g: doc["gen3_discovery"] for item in items for g, doc in item.items()}
            for commons, items in body.items()}


def by_id(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["commons"]: row for row in status["sources"]}


async def test_listing_is_the_union_of_every_members_mapped_records(fed, tmp_path, monkeypatch):
    async with discovery_gateway(monkeypatch, {"url": f"sqlite:///{tmp_path / 'gw.sqlite3'}"}, fed.members,
                                 mappings=fed.mappings, tier={"level": "libre"}) as gw:  # no study count hidden
        await gw.harvester.started()
        want = await expected_listing(gw, fed)
        r = await gw.client.get("/mds/aggregate/metadata", params={"limit": 2000})
        assert r.status_code == 200
        got = listing(r.json())
        assert list(got) == ["ha", "hb", "refcommons"]  # member-id order; DRS and dead members not listed
        assert got == want
        assert all(len(v) > 0 for v in want.values())
        assert got["hb"][next(iter(got["hb"]))]["commons"] == "B Commons"  # configured mapping applied
        assert (await gw.client.get("/mds/aggregate/commons")).json() == {"commons": ["ha", "hb", "refcommons"]}

        status = by_id((await gw.client.get("/mds/aggregate/status")).json())
        assert list(status) == ["ha", "hb", "hc", "hd", "refcommons"]
        assert status["ha"]["status"] == "ok" and status["ha"]["count"] == len(want["ha"])
        assert status["ha"]["age"] is not None and status["ha"]["age"] < 60
        assert status["hc"]["status"] == "unsupported" and status["hc"]["count"] == 0
        assert status["hd"]["status"] == "error" and status["hd"]["error"]
        assert status["hd"]["last_success"] is None and status["hd"]["last_attempt"] is not None


async def test_a_member_that_breaks_stays_listed_stale_and_recovers(fed, monkeypatch):
    async with discovery_gateway(monkeypatch, {"url": "sqlite:///:memory:"}, fed.members) as gw:
        h = gw.harvester
        await h.started()
        before = listing((await gw.client.get("/mds/aggregate/metadata", params={"limit": 2000})).json())
        first_success = by_id((await gw.client.get("/mds/aggregate/status")).json())["ha"]["last_success"]
        await fed.a.stop()
        assert await h.run_once(h.current_slot() + 1) == 5
        r = await gw.client.get("/mds/aggregate/metadata", params={"limit": 2000})
        assert listing(r.json()) == before  # never emptied
        row = by_id((await gw.client.get("/mds/aggregate/status")).json())["ha"]
        assert row["status"] == "stale" and row["error"] and row["count"] == len(before["ha"])
        assert row["last_success"] == first_success and row["last_attempt"] > first_success
        assert row["age"] >= 0

        # another failure keeps it stale; when it answers again it is ok with a new success time
        assert await h.run_once(h.current_slot() + 2) == 5
        fed.a = await start_commons("dg.HA01", 11, 8, port=fed.a.port)
        try:
            assert await h.run_once(h.current_slot() + 3) == 5
            row = by_id((await gw.client.get("/mds/aggregate/status")).json())["ha"]
            assert row["status"] == "ok" and row["error"] is None and row["last_success"] > first_success
        finally:
            await fed.a.stop()


async def test_a_member_that_never_answered_is_an_error_and_the_others_are_listed(fed, monkeypatch):
    async with discovery_gateway(monkeypatch, {"url": "sqlite:///:memory:"}, fed.members) as gw:
        await gw.harvester.started()
        body = (await gw.client.get("/mds/aggregate/metadata", params={"flatten": "true", "limit": 2000})).json()
        assert len(body) == sum(len(v) for v in (await expected_listing(gw, fed)).values())
        row = by_id((await gw.client.get("/mds/aggregate/status")).json())["hd"]
        assert row == {**row, "status": "error", "count": 0, "last_success": None, "age": None}
        assert (await gw.client.get("/mds/aggregate/metadata/hd")).json() == []  # configured, no records


@pytest.fixture(params=["sqlite", "redis"])
def shared_store(request, tmp_path) -> dict[str, Any]:
    if request.param == "sqlite":
        return {"url": f"sqlite:///{tmp_path / 'shared.sqlite3'}"}
    url = request.getfixturevalue("redis_url")
    return {"url": url, "key_prefix": request.getfixturevalue("redis_key_prefix")}


async def test_two_replicas_serve_the_same_snapshot_and_harvest_each_member_once(fed, shared_store, monkeypatch):
    async with discovery_gateway(monkeypatch, shared_store, fed.members) as one, discovery_gateway(
            monkeypatch, shared_store, fed.members) as two:
        h1, h2 = one.harvester, two.harvester
        await asyncio.gather(h1.started(), h2.started())
        assert h1.harvested + h2.harvested == 5  # the start-up round: each member once across the replicas
        slot = h1.current_slot() + 1
        counts = await asyncio.gather(h1.run_once(slot), h2.run_once(slot))
        assert sum(counts) == 5 and h1.harvested + h2.harvested == 10
        assert await h1.run_once(slot) == 0  # the slot is taken: nobody harvests again

        params = {"limit": 2000, "pagination": "true"}
        r1 = await one.client.get("/mds/aggregate/metadata", params=params)
        r2 = await two.client.get("/mds/aggregate/metadata", params=params)
        assert r1.status_code == r2.status_code == 200 and r1.json() == r2.json()
        assert r1.json()["pagination"]["hits"] > 0
        s1, s2 = by_id((await one.client.get("/mds/aggregate/status")).json()), by_id(
            (await two.client.get("/mds/aggregate/status")).json())
        assert {k: v["last_success"] for k, v in s1.items()} == {k: v["last_success"] for k, v in s2.items()}

        # replica one sees member ha break; replica two serves that state once it rechecks the store
        await two.client.get("/mds/aggregate/status")  # replica two has a view memoised
        await fed.a.stop()
        assert await h1.run_once(slot + 1) == 5
        h2.recheck = 0.0
        row = by_id((await two.client.get("/mds/aggregate/status")).json())["ha"]
        assert row["status"] == "stale" and row["count"] > 0
        r2 = await two.client.get("/mds/aggregate/metadata", params=params)
        assert r2.json()["pagination"]["hits"] == r1.json()["pagination"]["hits"]

        stored = await one.app[STATE].store.get(NS_SNAPSHOTS, "ha")
        assert stored is not None and stored.doc["status"] == "stale" and stored.doc["count"] == row["count"]


async def test_startup_does_not_wait_for_the_harvest_and_cleanup_stops_it(fed, monkeypatch):
    async with discovery_gateway(monkeypatch, {"url": "sqlite:///:memory:"}, fed.members) as gw:
        h = gw.harvester
        # the app is serving before (or while) the first round runs: members are pending, not missing
        r = await gw.client.get("/mds/aggregate/status")
        assert r.status_code == 200
        assert {row["status"] for row in r.json()["sources"]} <= {"pending", "ok", "error", "unsupported"}
        await h.started()
        task = h._task
        assert task is not None and not task.done()
    assert task.done()  # stopped on app cleanup


def test_merged_doc_keeps_the_last_good_records_and_ignores_older_results():
    m = Member(id="m1", name="M1", base_url="http://m1", kind="gen3", prefixes=("dg.m1",), hostnames=("m1",))
    good = merged_doc(m, None, Outcome(100.0, records=(("g1", {"name": "x"}),)))
    assert good["status"] == "ok" and good["count"] == 1 and good["harvested_at"] == 100.0

    class Found:
        rev = 1
        doc = good

    failed = merged_doc(m, Found, Outcome(200.0, error="boom"))  # type: ignore[arg-type]
    assert failed["status"] == "stale" and failed["records"] == good["records"] and failed["error"] == "boom"
    Found.doc = failed
    assert merged_doc(m, Found, Outcome(50.0, records=())) is failed  # older: ignored  # type: ignore[arg-type]
    empty = merged_doc(m, Found, Outcome(300.0, records=()))  # type: ignore[arg-type]
    assert empty["status"] == "stale" and empty["count"] == 1  # an empty harvest never empties a member
    never = merged_doc(m, None, Outcome(10.0, error="refused"))
    assert never["status"] == "error" and never["count"] == 0 and never["harvested_at"] is None
    unsupported = merged_doc(m, Found, Outcome(400.0, error="no MDS", unsupported=True))  # type: ignore[arg-type]
    assert unsupported["status"] == "unsupported"


async def test_a_mapping_that_cannot_be_compiled_stops_the_gateway_before_it_serves(tmp_path):
    from gateway.app import create_app
    from gateway.discovery.mapping.compiler import MappingError
    from gateway.settings.gateway import Settings

    settings = Settings(store={"url": f"sqlite:///{tmp_path / 'g.sqlite3'}"}, refcommons={"enabled": False},
                        aggregate={"mappings": {"members": {"m1": {"field_mappings": {"summary": "path:$..x"}}}}})
    with pytest.raises(MappingError, match=r"^aggregate\.mappings\.members: member 'm1', field 'summary': bad"):
        await create_app(settings)


def test_gateway_serve_refuses_a_bad_mapping_in_one_line_naming_the_key(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "g.yaml").write_text(
        "refcommons: {enabled: false}\n"
        "aggregate: {mappings: {members: {m1: {field_mappings: {summary: 'path:$..x'}}}}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    proc = subprocess.run([sys.executable, "-m", "gateway", "serve", "--config", "g.yaml", "--port", "0"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert ("gateway: invalid configuration: aggregate.mappings.members: member 'm1', field 'summary': bad selector"
            in proc.stderr)


@pytest.mark.parametrize("mappings", [
    "{members: {m1: {field_mappings: {summary: 'path:$..x'}}}}",
    "{cohort: {m1: {subject: {fields: {'bad name!': sex}}}}}",
])
def test_gateway_config_show_refuses_what_serve_would(tmp_path, mappings):
    """A mapping's meaning is checked by compiling it (the settings are a leaf and only check its shape); the CLI
    compiles it whenever it loads the configuration, so ``config show`` refuses what ``serve`` would."""
    import os
    import subprocess
    import sys

    (tmp_path / "g.yaml").write_text(f"refcommons: {{enabled: false}}\naggregate: {{mappings: {mappings}}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    proc = subprocess.run([sys.executable, "-m", "gateway", "config", "show", "--config", "g.yaml"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "gateway: invalid configuration: aggregate.mappings." in proc.stderr
