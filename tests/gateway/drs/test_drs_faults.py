"""Members that misbehave, behind the gateway's DRS API: 500s, bodies that are not JSON, truncated bodies,
429 with Retry-After, 202 with Retry-After, records that cannot be DRS objects, and members that never
answer, for single and bulk calls. The gateway answers the right DRS error (502, 504, a member's 202
passed on), never a 500, within the request's deadline; bulk answers keep what the other members
answered; and nothing keeps running upstream after the answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
from drs_fakes import STATE, drs_doc, drs_member, fault_everywhere, indexd_doc, serve, strict_indexd
from drs_fakes import Server as FakeServer
from servers import Server, start_commons, start_gateway

from gateway.web.keys import STATE as GATEWAY_STATE

pytestmark = pytest.mark.asyncio(loop_scope="module")

DRS = "/ga4gh/drs/v1"
DEADLINE = 1.0
SLACK = 0.8
"""How much later than the deadline an answer may come (scheduling, a loaded CI machine)."""
FAULTS = ("500", "garbage", "truncated", "list", "429")
STATUS = {"500": 502, "garbage": 502, "truncated": 502, "list": 502, "429": 503}
"""What the gateway answers for each fault: 502, but 503 (with the member's Retry-After) for a 429 whose
Retry-After does not fit in the deadline (the client did nothing wrong)."""
SAYS = {"500": "answered HTTP 500", "garbage": "sent a malformed answer", "truncated": "unreachable",
        "list": "sent a malformed answer", "429": "answered HTTP 429"}
"""What the error message says about each fault: a generic kind, never the member's words (tests/gateway/web/
test_error_leaks.py)."""
ACCESS_FAULTS = ("500", "garbage", "truncated", "429", "202", "hang")
MISSING = "00000000-0000-4000-8000-0000000000ee"
PROBES = ("/_status", "/index/_status", f"{DRS}/service-info")


@dataclass
class Faulty:
    gateway: Server
    ok: Server
    """dg.OK01: a healthy reference commons (gen3)."""
    members: dict[str, FakeServer] = field(default_factory=dict)
    """member id → its fake server; the member's prefix is ``dg.<member id>``."""

    @property
    def client(self) -> httpx.AsyncClient:
        return self.gateway.client

    @property
    def ref_guid(self) -> str:
        return self.gateway.app[GATEWAY_STATE].refcommons.dataset.files[0].guid


def assert_drs_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"msg", "status_code"} and body["status_code"] == status and body["msg"], body
    return body


async def timed(coro) -> tuple[httpx.Response, float]:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    r = await coro
    return r, time.monotonic() - started


def upstream_hung(server: FakeServer) -> tuple[int, int]:
    """(handlers that hung, handlers cancelled since) on ``server``."""
    state = server.app[STATE]
    return state.get("hanging", 0), state.get("cancelled", 0)


async def all_cancelled(*servers: FakeServer, within: float = 1.0) -> bool:
    """Every hung handler on ``servers`` was cancelled (its client went away) within ``within`` seconds."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        if all(h == c for h, c in map(upstream_hung, servers)):
            return True
        await asyncio.sleep(0.02)
    return False


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def faulty() -> AsyncIterator[Faulty]:
    async with AsyncExitStack() as stack:
        ok = await start_commons("dg.OK01", 4, 8)
        stack.push_async_callback(ok.stop)
        fakes: dict[str, tuple[FakeServer, str]] = {}

        async def add(member_id: str, app, kind: str) -> None:  # type: ignore[no-untyped-def]
            fakes[member_id] = (await stack.enter_async_context(serve(app)), kind)

        for mode in (*FAULTS, "hang"):
            await add(f"gen3-{mode}", fault_everywhere(mode), "gen3")
            await add(f"drs-{mode}", fault_everywhere(mode), "drs")
        for mode in ACCESS_FAULTS:
            oid = f"dg.acc-{mode}/o1"
            await add(f"acc-{mode}", drs_member({oid: drs_doc(oid)}, access=mode), "drs")
        await add("obj-202", drs_member({}, object="202"), "drs")
        await add("bad-drs", drs_member({"dg.bad-drs/x": drs_doc("dg.bad-drs/x", checksums=[]),
                                         "dg.bad-drs/y": drs_doc("dg.bad-drs/y", size=-1)}), "drs")
        await add("bad-gen3", strict_indexd({"dg.bad-gen3/x": indexd_doc("dg.bad-gen3/x", hashes={}),
                                             "dg.bad-gen3/y": indexd_doc("dg.bad-gen3/y", size=None)}), "gen3")
        members = [{"id": "ok", "name": "OK", "base_url": ok.base_url, "kind": "gen3", "prefixes": ["dg.OK01"]}]
        members += [{"id": mid, "name": mid, "base_url": srv.url, "kind": kind, "prefixes": [f"dg.{mid}"]}
                    for mid, (srv, kind) in fakes.items()]
        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"subjects": 8, "data_dir": None},
            registry={"members": members}, drs={"deadline": DEADLINE},
            upstream={"retries": 1, "backoff": 0.05, "read_timeout": 30.0},
            health={"interval": 3600.0}, aggregate={"harvest": {"enabled": False}},  # count only DRS calls
        )
        stack.push_async_callback(gateway.stop)
        yield Faulty(gateway, ok, {mid: srv for mid, (srv, _) in fakes.items()})


# --- single objects ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gen3", "drs"])
@pytest.mark.parametrize("mode", FAULTS)
async def test_a_failing_member_is_a_502(faulty, kind, mode):
    member_id = f"{kind}-{mode}"
    oid = f"dg.{member_id}/obj-1"
    for call in (faulty.client.get(f"{DRS}/objects/{oid}"), faulty.client.post(f"{DRS}/objects/{oid}", json={}),
                 faulty.client.request("OPTIONS", f"{DRS}/objects/{oid}"),
                 faulty.client.get(f"{DRS}/objects/{oid}/access/s3")):
        r, took = await timed(call)
        body = assert_drs_error(r, STATUS[mode])
        assert member_id in body["msg"] and SAYS[mode] in body["msg"], body
        assert took < DEADLINE, took  # no waiting: a 429 whose Retry-After is past the deadline is not retried
        assert r.headers.get("Retry-After") == ("3600" if mode == "429" else None)


@pytest.mark.parametrize("oid", ["dg.bad-drs/x", "dg.bad-drs/y", "dg.bad-gen3/x", "dg.bad-gen3/y"])
async def test_a_record_that_cannot_be_a_drs_object_is_a_502(faulty, oid):
    body = assert_drs_error(await faulty.client.get(f"{DRS}/objects/{oid}"), 502)
    assert "not a valid DRS object" in body["msg"]
    assert_drs_error(await faulty.client.get(f"{DRS}/objects/{oid}/access/s3"), 502)
    bulk = (await faulty.client.post(f"{DRS}/objects", json={"bulk_object_ids": [oid]})).json()
    assert bulk["unresolved_drs_objects"] == [{"error_code": 502, "object_ids": [oid]}]


async def test_a_members_202_is_passed_on_with_its_retry_after(faulty):
    r = await faulty.client.get(f"{DRS}/objects/dg.obj-202/x")
    assert_drs_error(r, 202)
    assert r.headers["Retry-After"] == "7"
    r = await faulty.client.get(f"{DRS}/objects/dg.acc-202/o1/access/s3")
    assert_drs_error(r, 202)
    assert r.headers["Retry-After"] == "7"
    r = await faulty.client.post(f"{DRS}/objects/dg.acc-202%2Fo1/access/s3", json={"passports": ["x"]})
    assert r.status_code == 202 and r.headers["Retry-After"] == "7"
    bulk = await faulty.client.post(f"{DRS}/objects/access", json={"bulk_object_access_ids": [
        {"bulk_object_id": "dg.acc-202/o1", "bulk_access_ids": ["s3"]}]})
    assert bulk.status_code == 200
    assert bulk.json()["unresolved_drs_objects"] == [{"error_code": 202, "object_ids": ["dg.acc-202/o1"]}]


@pytest.mark.parametrize("mode", ["500", "garbage", "truncated", "429"])
async def test_a_failing_access_call_is_a_502(faulty, mode):
    oid = f"dg.acc-{mode}/o1"
    assert (await faulty.client.get(f"{DRS}/objects/{oid}")).status_code == 200
    r, took = await timed(faulty.client.get(f"{DRS}/objects/{oid}/access/s3"))
    assert f"acc-{mode}" in assert_drs_error(r, STATUS[mode])["msg"] and took < DEADLINE
    assert r.headers.get("Retry-After") == ("3600" if mode == "429" else None)
    bulk = await faulty.client.post(f"{DRS}/objects/access", json={"bulk_object_access_ids": [
        {"bulk_object_id": oid, "bulk_access_ids": ["s3"]},
        {"bulk_object_id": faulty.ref_guid, "bulk_access_ids": ["s3"]}]})
    assert bulk.status_code == 200
    assert bulk.json()["summary"] == {"requested": 2, "resolved": 1, "unresolved": 1}
    assert bulk.json()["unresolved_drs_objects"] == [{"error_code": STATUS[mode], "object_ids": [oid]}]


# --- members that never answer -------------------------------------------------------------------------------


async def test_a_hanging_member_is_a_504_at_the_deadline(faulty):
    servers = [faulty.members["gen3-hang"], faulty.members["drs-hang"]]
    before = [upstream_hung(s)[0] for s in servers]
    calls = [call for kind in ("gen3", "drs") for call in (
        faulty.client.get(f"{DRS}/objects/dg.{kind}-hang/x"),
        faulty.client.post(f"{DRS}/objects/dg.{kind}-hang%2Fx", json={"passports": ["p"]}),
        faulty.client.request("OPTIONS", f"{DRS}/objects/dg.{kind}-hang/x"),
        faulty.client.get(f"{DRS}/objects/dg.{kind}-hang/x/access/s3"))]
    for r, took in await asyncio.gather(*map(timed, calls)):  # all at once: each ends at its own deadline
        assert_drs_error(r, 504)
        assert DEADLINE - 0.05 <= took <= DEADLINE + SLACK, took
    assert [upstream_hung(s)[0] - b for s, b in zip(servers, before)] >= [4, 4]
    assert await all_cancelled(*servers), [upstream_hung(s) for s in servers]


async def test_a_hanging_access_call_is_a_504(faulty):
    server = faulty.members["acc-hang"]
    assert (await faulty.client.get(f"{DRS}/objects/dg.acc-hang/o1")).status_code == 200
    before = upstream_hung(server)[0]
    r, took = await timed(faulty.client.get(f"{DRS}/objects/dg.acc-hang/o1/access/s3"))
    assert_drs_error(r, 504)
    assert took <= DEADLINE + SLACK
    ok_guid = next(f.guid for f in faulty.ok.commons.dataset.files if "/projects/" in f.authz)
    r, took = await timed(faulty.client.post(f"{DRS}/objects/access", json={"bulk_object_access_ids": [
        {"bulk_object_id": "dg.acc-hang/o1", "bulk_access_ids": ["s3"]},
        {"bulk_object_id": ok_guid, "bulk_access_ids": ["s3", "gs"]},
        {"bulk_object_id": faulty.ref_guid, "bulk_access_ids": ["gs"]}]}))
    assert r.status_code == 504 and took <= DEADLINE + SLACK, (r.status_code, took)
    body = r.json()
    assert body["status_code"] == 504 and body["msg"]
    assert body["summary"] == {"requested": 4, "resolved": 3, "unresolved": 1}
    assert body["unresolved_drs_objects"] == [{"error_code": 504, "object_ids": ["dg.acc-hang/o1"]}]
    assert sorted((u["drs_object_id"], u["drs_access_id"]) for u in body["resolved_drs_object_access_urls"]) == \
        sorted([(ok_guid, "s3"), (ok_guid, "gs"), (faulty.ref_guid, "gs")])
    assert upstream_hung(server)[0] - before == 2  # the single call and the bulk one reached the member
    assert await all_cancelled(server), upstream_hung(server)


async def test_bulk_keeps_what_the_other_members_answered(faulty):
    hang_g, hang_d = faulty.members["gen3-hang"], faulty.members["drs-hang"]
    ok_guid = faulty.ok.commons.dataset.files[1].guid
    ids = [ok_guid, "dg.gen3-hang/a", faulty.ref_guid, "dg.drs-hang/b", "dg.gen3-500/c", f"dg.OK01/{MISSING}",
           "dg.bad-drs/x", "no such thing"]
    before = [upstream_hung(hang_g)[0], upstream_hung(hang_d)[0]]
    r, took = await timed(faulty.client.post(f"{DRS}/objects", json={"bulk_object_ids": ids}))
    assert r.status_code == 504, r.text
    assert took <= DEADLINE + SLACK, took
    body = r.json()
    assert set(body) == {"summary", "unresolved_drs_objects", "resolved_drs_object", "msg", "status_code"}
    assert body["status_code"] == 504 and body["msg"]
    assert body["summary"] == {"requested": 8, "resolved": 2, "unresolved": 6}
    assert [o["id"] for o in body["resolved_drs_object"]] == [ok_guid, faulty.ref_guid]
    assert body["unresolved_drs_objects"] == [
        {"error_code": 400, "object_ids": ["no such thing"]},
        {"error_code": 404, "object_ids": [f"dg.OK01/{MISSING}"]},
        {"error_code": 502, "object_ids": ["dg.gen3-500/c", "dg.bad-drs/x"]},
        {"error_code": 504, "object_ids": ["dg.gen3-hang/a", "dg.drs-hang/b"]},
    ]
    assert upstream_hung(hang_g)[0] > before[0] and upstream_hung(hang_d)[0] > before[1]
    assert await all_cancelled(hang_g, hang_d), (upstream_hung(hang_g), upstream_hung(hang_d))
    # bulk OPTIONS likewise
    r, took = await timed(faulty.client.request("OPTIONS", f"{DRS}/objects", json={"bulk_object_ids": ids[:4]}))
    assert r.status_code == 504 and took <= DEADLINE + SLACK
    assert [a["drs_object_id"] for a in r.json()["resolved_drs_object"]] == [ok_guid, faulty.ref_guid]
    assert await all_cancelled(hang_g, hang_d)


async def test_failures_in_bulk_stay_with_their_member(faulty):
    ok_guid = faulty.ok.commons.dataset.files[2].guid
    ids = [ok_guid] + [f"dg.{kind}-{mode}/z" for kind in ("gen3", "drs") for mode in FAULTS] + [faulty.ref_guid]
    r, took = await timed(faulty.client.post(f"{DRS}/objects", json={"bulk_object_ids": ids}))
    assert r.status_code == 200 and took < DEADLINE, (r.status_code, took)
    assert [o["id"] for o in r.json()["resolved_drs_object"]] == [ok_guid, faulty.ref_guid]
    assert r.json()["unresolved_drs_objects"] == [
        {"error_code": 502, "object_ids": [i for i in ids[1:-1] if "429" not in i]},
        {"error_code": 503, "object_ids": ["dg.gen3-429/z", "dg.drs-429/z"]},
    ]


async def test_a_bare_uuid_is_found_although_some_members_hang(faulty):
    """Fan-out: hanging members are waited for until the deadline (no member wins by answering first), not past it:
    the member that has it is answered then (single id)."""
    f = faulty.ok.commons.dataset.files[3]
    uuid = f.guid.split("/", 1)[1]
    r, took = await timed(faulty.client.get(f"{DRS}/objects/{uuid}"))
    assert r.status_code == 200 and r.json()["id"] == f.guid
    assert took <= DEADLINE + SLACK, took
    r, took = await timed(faulty.client.get(f"{DRS}/objects/{MISSING}"))
    assert_drs_error(r, 504)  # nobody had it, some never answered
    assert DEADLINE - 0.05 <= took <= DEADLINE + SLACK
    assert await all_cancelled(faulty.members["gen3-hang"], faulty.members["drs-hang"])


async def test_a_bare_uuid_in_bulk_is_kept_although_some_members_hang(faulty):
    """The bulk fan-out group: a member that answered in time has its objects in the 504 body too."""
    f = faulty.ok.commons.dataset.files[4]
    uuid = f.guid.split("/", 1)[1]
    r, took = await timed(faulty.client.post(f"{DRS}/objects", json={"bulk_object_ids": [uuid, faulty.ref_guid]}))
    assert took <= DEADLINE + SLACK, took
    assert r.status_code in (200, 504)
    assert [o["id"] for o in r.json()["resolved_drs_object"]] == [f.guid, faulty.ref_guid], r.json()


async def test_a_429_is_retried_after_its_retry_after_within_the_deadline():
    oid = "dg.slow/o1"
    async with serve(drs_member({oid: drs_doc(oid)}, object="429-once")) as member:
        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False}, drs={"deadline": 5.0},
            registry={"members": [{"id": "slow", "name": "slow", "base_url": member.url, "kind": "drs",
                                   "prefixes": ["dg.slow"]}]},
            upstream={"retries": 2, "backoff": 0.05}, health={"interval": 3600.0},
        )
        try:
            r, took = await timed(gateway.client.get(f"{DRS}/objects/{oid}"))
            assert r.status_code == 200 and r.json()["id"] == oid
            assert 1.0 <= took < 3.0, took
            gets = [p for m, p, _ in member.hits if m == "GET" and p.startswith(f"{DRS}/objects/")]
            assert len(gets) == 2
        finally:
            await gateway.stop()
