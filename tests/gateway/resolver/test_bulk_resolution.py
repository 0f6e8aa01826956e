"""``Resolver.resolve_many`` against real members on loopback, with every request they receive counted: one
upstream bulk call per member, one per member for the fan-out group, the conventional prefix spelling asked
again in one more call, cached second calls that reach no member (in-process and Redis caches), and an
unhealthy member that answers 503 for its own ids only and is never asked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from drs_fakes import STATE, count, fault_everywhere, indexd_doc, serve, start_recorded_commons, strict_indexd
from servers import Server, start_gateway

from gateway.core.deadline import Deadline
from gateway.resolver.service import Resolution, ResolutionError, Resolver
from gateway.web.routes.resolver import RESOLVER

DRS = "/ga4gh/drs/v1"
INDEXD_BULK = "/index/bulk/documents"
MISSING = "00000000-0000-4000-8000-0000000000dd"
STRICT = {f"dg.CS01/{n}0000000-0000-4000-8000-000000000000": n for n in range(1, 5)}
"""GUIDs of the case-sensitive member (dg.CS01) → an index."""


@dataclass
class Fed:
    gateway: Server
    resolver: Resolver
    x: Server
    """dg.RX01, a reference commons as a Gen3 member."""
    y: Server
    """dg.RY02, a reference commons as a DRS member."""
    s: Any
    """dg.CS01, a Gen3 indexd that matches ids exactly (fake)."""
    extra: dict[str, Any]

    def guids(self, server: Server, n: int, start: int = 0) -> list[str]:
        return [f.guid for f in server.commons.dataset.files[start:start + n]]

    def calls(self) -> dict[str, int]:
        """Requests each member received so far, but health probes."""
        return {
            "x_bulk": count(self.x.app, "POST", INDEXD_BULK), "x_get": count(self.x.app, "GET", "/index/index/"),
            "y_bulk": count(self.y.app, "POST", f"{DRS}/objects"),
            "y_get": count(self.y.app, "GET", f"{DRS}/objects/"),
            "s_bulk": count(self.s.app, "POST", INDEXD_BULK), "s_get": count(self.s.app, "GET", "/index/index/"),
        }


@asynccontextmanager
async def federation(*, cache: dict[str, Any] | None = None, extra_members: dict[str, Any] | None = None,
                     **settings: Any) -> AsyncIterator[Fed]:
    async with AsyncExitStack() as stack:
        x = await start_recorded_commons("dg.RX01", 11, 8)
        stack.push_async_callback(x.stop)
        y = await start_recorded_commons("dg.RY02", 12, 8)
        stack.push_async_callback(y.stop)
        s = await stack.enter_async_context(serve(strict_indexd({g: indexd_doc(g) for g in STRICT})))
        extra = {mid: await stack.enter_async_context(serve(app)) for mid, app in (extra_members or {}).items()}
        members = [
            {"id": "x", "name": "X", "base_url": x.base_url, "kind": "gen3", "prefixes": ["dg.RX01"]},
            {"id": "y", "name": "Y", "base_url": y.base_url, "kind": "drs", "prefixes": ["dg.RY02"]},
            {"id": "s", "name": "S", "base_url": s.url, "kind": "gen3", "prefixes": ["dg.CS01"]},
        ] + [{"id": mid, "name": mid, "base_url": srv.url, "kind": "gen3", "prefixes": [f"dg.{mid}"]}
             for mid, srv in extra.items()]
        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False}, registry={"members": members},
            upstream={"retries": 0}, **({"cache": cache} if cache else {}),
            **{"health": {"interval": 3600.0}, "aggregate": {"harvest": {"enabled": False}}, **settings},
        )  # no study harvest: the tests count what resolution asks the members
        stack.push_async_callback(gateway.stop)
        yield Fed(gateway, gateway.app[RESOLVER], x, y, s, extra)


def resolved(outcome: Resolution | ResolutionError) -> Resolution:
    assert isinstance(outcome, Resolution), f"{outcome.status}: {outcome.message}"  # type: ignore[union-attr]
    return outcome


async def test_each_member_is_asked_once_for_all_of_its_ids():
    async with federation() as fed:
        xs, ys, ss = fed.guids(fed.x, 5), fed.guids(fed.y, 5), list(STRICT)[:2]
        x_uuid = xs[1].split("/", 1)[1]
        raws = [xs[0], f"drs://dg.RX01:{x_uuid}", f"drs://{fed.x.hostname}/{quote(xs[2], safe='')}",
                quote(xs[3], safe=""), xs[4].replace("dg.RX01", "DG.rx01"),
                *ys, *ss, f"dg.RX01/{MISSING}", f"dg.RY02/{MISSING}"]
        before = fed.calls()
        out = await fed.resolver.resolve_many(raws, Deadline.after(5))
        assert set(out) == set(raws)
        for raw, guid in zip(raws, xs + ys + ss):
            r = resolved(out[raw])
            assert r.record.id == guid, raw
            assert r.member.id == {"dg.RX01": "x", "dg.RY02": "y", "dg.CS01": "s"}[guid.split("/")[0]]
            assert not r.cached
        for raw in raws[-2:]:
            assert isinstance(out[raw], ResolutionError) and out[raw].status == 404
        calls = fed.calls()
        assert {k: calls[k] - before[k] for k in calls} == {
            "x_bulk": 1, "x_get": 0, "y_bulk": 1, "y_get": 0, "s_bulk": 1, "s_get": 0}
        assert count(fed.y.app, "GET", f"{DRS}/service-info") <= 1  # its bulk length, asked once


async def test_routes_are_reported_per_id():
    """An id that reached its member by its DRS hostname says so, as a single resolution does, even when
    another id of the same member came by prefix."""
    async with federation() as fed:
        a, b, c = fed.guids(fed.x, 3)
        single = await fed.resolver.resolve(f"drs://{fed.x.hostname}/{quote(c, safe='')}")
        by_host = f"drs://{fed.x.hostname}/{quote(b, safe='')}"
        out = await fed.resolver.resolve_many([a, by_host], Deadline.after(5))
        assert (resolved(out[a]).route, single.route) == ("prefix", "hostname")
        assert resolved(out[by_host]).route == "hostname"


async def test_the_fan_out_group_is_one_bulk_call_per_member():
    async with federation() as fed:
        x_uuid, y_uuid = fed.guids(fed.x, 1)[0].split("/", 1)[1], fed.guids(fed.y, 1)[0].split("/", 1)[1]
        before = fed.calls()
        out = await fed.resolver.resolve_many([x_uuid, y_uuid, MISSING, x_uuid], Deadline.after(5))
        assert (resolved(out[x_uuid]).member.id, resolved(out[x_uuid]).route) == ("x", "fanout")
        assert resolved(out[x_uuid]).record.id == fed.guids(fed.x, 1)[0]
        assert (resolved(out[y_uuid]).member.id, resolved(out[y_uuid]).record.id) == ("y", fed.guids(fed.y, 1)[0])
        missing = out[MISSING]
        assert isinstance(missing, ResolutionError) and missing.status == 404 and "3 member" in missing.message
        calls = fed.calls()
        assert {k: calls[k] - before[k] for k in calls} == {
            "x_bulk": 1, "x_get": 0, "y_bulk": 1, "y_get": 0, "s_bulk": 1, "s_get": 0}
        bodies = fed.s.app[STATE]["bulk_bodies"]
        assert sorted(bodies[-1]) == sorted([x_uuid, y_uuid, MISSING])  # each distinct id once


async def test_a_prefix_in_another_case_is_asked_again_in_gen3_spelling():
    async with federation() as fed:
        g1, g2, g3 = list(STRICT)[:3]
        raws = [g1.replace("dg.CS01", "dg.cs01"), g2, g3.replace("dg.CS01", "Dg.Cs01"), f"dg.cs01/{MISSING}"]
        out = await fed.resolver.resolve_many(raws, Deadline.after(5))
        assert [resolved(out[r]).record.id for r in raws[:3]] == [g1, g2, g3]
        assert isinstance(out[raws[3]], ResolutionError) and out[raws[3]].status == 404
        bodies = fed.s.app[STATE]["bulk_bodies"]
        assert bodies == [raws, [g1, g3, f"dg.CS01/{MISSING}"]]  # as given, then only the misses respelled
        assert count(fed.s.app, "GET", "/index/index/") == 0


@pytest.mark.parametrize("backend", ["memory", "redis"])
async def test_a_second_call_is_answered_from_the_cache(request, backend):
    cache = None
    if backend == "redis":
        cache = {"url": request.getfixturevalue("redis_url"),
                 "key_prefix": request.getfixturevalue("redis_key_prefix") + "c:"}
    async with federation(cache=cache) as fed:
        raws = [*fed.guids(fed.x, 3), *fed.guids(fed.y, 3), next(iter(STRICT)).replace("dg.CS01", "dg.cs01"),
                fed.guids(fed.x, 1, start=5)[0].split("/", 1)[1], f"dg.RX01/{MISSING}", MISSING]
        first = await fed.resolver.resolve_many(raws, Deadline.after(5))
        before = fed.calls()
        second = await fed.resolver.resolve_many(raws, Deadline.after(5))
        assert fed.calls() == before, "the second call reached a member"
        for raw in raws[:-2]:
            assert resolved(second[raw]).cached and not resolved(first[raw]).cached
            assert second[raw].record == first[raw].record and second[raw].member == first[raw].member
        for raw in raws[-2:]:
            assert isinstance(second[raw], ResolutionError) and second[raw].status == 404
        single = await fed.resolver.resolve(raws[0])  # the single-id path shares the entries
        assert single.cached and fed.calls() == before


async def test_an_unhealthy_member_answers_503_for_its_ids_only():
    async with federation(extra_members={"uw01": fault_everywhere("500")},
                          health={"interval": 0.05, "timeout": 0.5, "failure_threshold": 1}) as fed:
        sick = fed.extra["uw01"]
        for _ in range(100):
            if "uw01" in await fed.resolver.directory.unhealthy():
                break
            await asyncio.sleep(0.05)
        assert "uw01" in await fed.resolver.directory.unhealthy()
        probes = ("/index/_status", "/_status")
        asked = sum(1 for _, path, _ in sick.hits if path not in probes)
        xs = fed.guids(fed.x, 2)
        raws = ["dg.uw01/a", "dg.UW01/b", xs[0], xs[1].split("/", 1)[1], MISSING]
        out = await fed.resolver.resolve_many(raws, Deadline.after(5))
        for raw in raws[:2]:
            assert isinstance(out[raw], ResolutionError) and out[raw].status == 503, raw
            assert "unhealthy" in out[raw].message
        assert resolved(out[xs[0]]).member.id == "x"
        assert resolved(out[raws[3]]).record.id == xs[1]
        assert isinstance(out[MISSING], ResolutionError) and out[MISSING].status == 404
        assert "3 member" in out[MISSING].message  # x, y, s: not the unhealthy one
        # the same through the DRS API
        r = await fed.gateway.client.get(f"{DRS}/objects/dg.uw01/a")
        assert r.status_code == 503 and r.json()["status_code"] == 503 and "unhealthy" in r.json()["msg"]
        r = await fed.gateway.client.post(f"{DRS}/objects", json={"bulk_object_ids": ["dg.uw01/c", xs[0]]})
        assert r.status_code == 200 and r.json()["unresolved_drs_objects"] == [
            {"error_code": 503, "object_ids": ["dg.uw01/c"]}]
        assert sum(1 for _, path, _ in sick.hits if path not in probes) == asked, "the unhealthy member was asked"
