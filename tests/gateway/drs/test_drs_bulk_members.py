"""Bulk DRS over members that fail, lie or send what makes no DRS object, under each output profile and with the
cache off: the failures are answered per id as before (and not cached: the next request asks again), a liar wins
nothing, and every object found is the bytes ``GET /objects/{id}`` answers for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from drs_fakes import STATE, count, drs_doc, drs_member, lying_member, serve
from drs_fakes import Server as FakeServer
from servers import Server, start_commons, start_gateway

DRS = "/ga4gh/drs/v1"
GOOD = {f"dg.BX01/ok-{i}": drs_doc(f"dg.BX01/ok-{i}") for i in range(3)}
BAD = {"dg.BX01/no-checksum": drs_doc("dg.BX01/no-checksum", checksums=[]),
       "dg.BX01/negative": drs_doc("dg.BX01/negative", size=-1)}


@dataclass
class Setup:
    gateway: Server
    commons: Server
    bx: FakeServer
    liar: FakeServer


@asynccontextmanager
async def setup(**gateway: Any) -> AsyncIterator[Setup]:
    async with AsyncExitStack() as stack:
        commons = await start_commons("dg.GA01", 4, 6)
        stack.push_async_callback(commons.stop)
        bx = await stack.enter_async_context(serve(drs_member({**GOOD, **BAD}, bulk=4)))
        liar = await stack.enter_async_context(serve(lying_member("dg.GA01")))  # claims the Gen3 member's ids
        gw = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False}, upstream={"retries": 0},
            registry={"members": [
                {"id": "ga", "name": "GA", "base_url": commons.base_url, "kind": "gen3", "prefixes": ["dg.GA01"]},
                {"id": "bx", "name": "BX", "base_url": bx.url, "kind": "drs", "prefixes": ["dg.BX01"]},
                {"id": "liar", "name": "Liar", "base_url": liar.url, "kind": "drs", "prefixes": ["dg.LIAR"]},
            ]}, **gateway)
        stack.push_async_callback(gw.stop)
        yield Setup(gw, commons, bx, liar)


def guids(s: Setup, n: int) -> list[str]:
    return [f.guid for f in s.commons.commons.dataset.files[:n]]


async def post(s: Setup, ids: list[str]) -> tuple[dict[str, Any], bytes]:
    r = await s.gateway.client.post(f"{DRS}/objects", json={"bulk_object_ids": ids})
    assert r.status_code == 200, r.text
    return r.json(), r.content


async def singles(s: Setup, ids: list[str]) -> list[bytes]:
    out = []
    for raw in ids:
        r = await s.gateway.client.get(f"{DRS}/objects/{quote(raw, safe='')}")
        assert r.status_code == 200, (raw, r.text)
        out.append(r.content)
    return out


def spliced(parts: list[bytes]) -> bytes:
    return b'"resolved_drs_object":[' + b",".join(parts) + b"]"


@pytest.mark.parametrize("settings", [{}, {"drs_profile": "1.2"}, {"resolver": {"cache": False}},
                                      {"drs_profile": "1.2", "resolver": {"cache": False}}],
                         ids=["1.5", "1.2", "1.5-uncached", "1.2-uncached"])
async def test_bulk_parts_equal_single_gets_under_each_profile_and_cache_setting(settings):
    async with setup(**settings) as s:
        bare = [g.split("/", 1)[1] for g in guids(s, 3)]  # asked of every member: the liar claims them too
        ids = [*guids(s, 2), *GOOD, *bare]
        body, raw = await post(s, ids)
        assert body["summary"] == {"requested": len(ids), "resolved": len(ids), "unresolved": 0}
        assert [o["id"] for o in body["resolved_drs_object"]] == [*guids(s, 2), *GOOD, *guids(s, 3)]
        assert spliced(await singles(s, ids)) in raw
        if settings.get("drs_profile") == "1.2":
            assert all("cloud" not in m for o in body["resolved_drs_object"] for m in o.get("access_methods", []))
        assert (await post(s, ids))[1] == raw  # again (from the cache where it is on): the same bytes


async def test_records_that_make_no_drs_object_fail_alone_and_are_not_cached():
    async with setup() as s:
        ids = [*BAD, *GOOD, guids(s, 1)[0]]
        body, raw = await post(s, ids)
        assert body["summary"] == {"requested": 6, "resolved": 4, "unresolved": 2}
        assert body["unresolved_drs_objects"] == [{"error_code": 502, "object_ids": list(BAD)}]
        for bad in BAD:
            r = await s.gateway.client.get(f"{DRS}/objects/{quote(bad, safe='')}")
            assert r.status_code == 502 and "not a valid DRS object" in r.json()["msg"], r.text
        assert spliced(await singles(s, ids[2:])) in raw


async def test_a_member_failing_its_bulk_fails_only_its_ids_and_nothing_of_it_is_cached():
    async with setup() as s:
        theirs, ours = list(GOOD), guids(s, 2)
        s.bx.app[STATE]["faults"]["bulk"] = "garbage"  # 200 with a body that is not JSON
        body, _ = await post(s, [*theirs, *ours])
        assert body["summary"] == {"requested": 5, "resolved": 2, "unresolved": 3}
        assert body["unresolved_drs_objects"] == [{"error_code": 502, "object_ids": theirs}]
        assert [o["id"] for o in body["resolved_drs_object"]] == ours
        s.bx.app[STATE]["faults"].clear()
        asked = count(s.bx.app, "POST")
        body, raw = await post(s, [*theirs, *ours])
        assert count(s.bx.app, "POST") == asked + 1  # its ids were not cached as failures: asked again, in one call
        assert body["summary"] == {"requested": 5, "resolved": 5, "unresolved": 0}
        assert spliced(await singles(s, [*theirs, *ours])) in raw


async def test_a_liar_claiming_anothers_ids_in_a_bulk_wins_nothing():
    async with setup() as s:
        bare = [g.split("/", 1)[1] for g in guids(s, 4)]
        body, raw = await post(s, bare)
        assert count(s.liar.app, "GET", f"{DRS}/objects/") > 0  # it was asked, and claimed them
        assert body["summary"] == {"requested": 4, "resolved": 4, "unresolved": 0}
        assert [o["id"] for o in body["resolved_drs_object"]] == guids(s, 4)
        assert all(o["self_uri"].startswith(f"drs://{s.gateway.hostname}/dg.GA01%2F")
                   for o in body["resolved_drs_object"])
        assert spliced(await singles(s, bare)) in raw
        assert orjson.loads(raw)["resolved_drs_object"] == [orjson.loads(b) for b in await singles(s, guids(s, 4))]
