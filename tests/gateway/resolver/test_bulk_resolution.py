"""``Resolver.resolve_many`` against real members on loopback, with every request they receive counted: one
upstream bulk call per member, one per member for the fan-out group, the conventional prefix spelling asked
again in one more call, cached second calls that reach no member (in-process and Redis caches), an unhealthy
member that answers 503 for its own ids only and is never asked, and ``POST /resolver/v1/resolve`` taking the
same path."""

from __future__ import annotations

import asyncio
import math
from urllib.parse import quote

import pytest
from drs_fakes import STATE, count, fault_everywhere
from resolver_federation import DRS, cache_settings, strict_guids
from resolver_federation import resolver_federation as federation

from gateway.core.deadline import Deadline
from gateway.members.gen3 import BULK_CHUNK
from gateway.resolver.identifiers import InvalidIdentifier
from gateway.resolver.outcomes import Resolution, ResolutionError
from gateway.web.routes.resolver import MAX_BULK

MISSING = "00000000-0000-4000-8000-0000000000dd"
STRICT = strict_guids(4)
"""GUIDs of the case-sensitive member (dg.CS01)."""


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
    cache = cache_settings(request, backend, "c:")
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

        def lookups() -> int:
            """Calls the member's adapter made other than its health probe: each carries a traceparent (the
            capability re-check after every probe, the join check's calls, carries none, and runs on its own clock)."""
            return sum(1 for _, path, headers in sick.hits
                       if path not in probes and any(k.lower() == "traceparent" for k in headers))

        asked = lookups()
        xs = fed.guids(fed.x, 2)
        raws = ["dg.uw01/a", "dg.UW01/b", xs[0], xs[1].split("/", 1)[1], MISSING]
        out = await fed.resolver.resolve_many(raws, Deadline.after(5))
        for raw in raws[:2]:
            assert isinstance(out[raw], ResolutionError) and out[raw].status == 503, raw
            assert "unhealthy" in out[raw].message
        assert resolved(out[xs[0]]).member.id == "x"
        assert resolved(out[raws[3]]).record.id == xs[1]
        # x, y, s answered without it, but uw01 (which may hold it) was not asked: not a definitive 404 (issue 14)
        assert isinstance(out[MISSING], ResolutionError) and out[MISSING].status == 503
        assert "3 member" in out[MISSING].message and "uw01" in out[MISSING].message
        assert out[MISSING].retry_after is not None
        # the same through the DRS API
        r = await fed.gateway.client.get(f"{DRS}/objects/dg.uw01/a")
        assert r.status_code == 503 and r.json()["status_code"] == 503 and "unhealthy" in r.json()["msg"]
        r = await fed.gateway.client.post(f"{DRS}/objects", json={"bulk_object_ids": ["dg.uw01/c", xs[0]]})
        assert r.status_code == 200 and r.json()["unresolved_drs_objects"] == [
            {"error_code": 503, "object_ids": ["dg.uw01/c"]}]
        assert lookups() == asked, "the unhealthy member was asked"


async def test_post_resolve_goes_through_the_bulk_path():
    """``POST /resolver/v1/resolve`` with 1,000 bare UUIDs (a few held by x or y, the rest by nobody; one given
    twice) asks each
    member once per chunk of ids (indexd: 100, the DRS member: its maxBulkRequestLength) and nothing one by one,
    and answers each id as ``GET /resolver/v1/resolve`` answers it alone."""
    async with federation(resolver={"cache": False}) as fed:
        held = [g.split("/", 1)[1] for g in fed.guids(fed.x, 6) + fed.guids(fed.y, 6)]
        ids = held + [f"00000000-0000-4000-8000-{n:012x}" for n in range(MAX_BULK - 1 - len(held))]
        body = [*ids[:500], ids[0], *ids[500:]]  # one id twice: answered twice, asked once
        before = fed.calls()
        r = await fed.gateway.client.post("/resolver/v1/resolve", json={"ids": body})
        assert r.status_code == 200
        calls = fed.calls()
        chunks = math.ceil(len(ids) / BULK_CHUNK)
        drs_chunks = math.ceil(len(ids) / fed.y.commons.settings.max_bulk_request_length)
        assert {k: calls[k] - before[k] for k in calls} == {
            "x_bulk": chunks, "x_get": 0, "y_bulk": drs_chunks, "y_get": 0, "s_bulk": chunks, "s_get": 0}
        asked_s = [i for bulk in fed.s.app[STATE]["bulk_bodies"] for i in bulk]
        assert sorted(asked_s) == sorted(ids)  # each distinct id once

        results = r.json()["results"]
        assert len(results) == len(body)
        assert results[500] == results[0]
        by_id = dict(zip(body, results))
        assert [by_id[i]["status"] for i in held] == [200] * len(held)
        assert {by_id[i]["member"]["id"] for i in held} == {"x", "y"}
        for raw in [*held, *ids[len(held):len(held) + 5]]:
            alone = await fed.gateway.client.get("/resolver/v1/resolve", params={"id": raw})
            if alone.status_code == 200:
                assert by_id[raw] == {"status": 200, **alone.json()}, raw
            else:
                assert by_id[raw] == {"id": raw, "status": alone.status_code, "error": alone.json()["error"]}, raw
                assert alone.status_code == 404


async def test_one_id_is_a_batch_of_one():
    """``resolve(id)`` and ``resolve_many([id])`` are the same pipeline: the same answer, and the same requests to
    the members (a lone id is asked with the member's single-record call, as the single path always did)."""
    async with federation(resolver={"cache": False}) as fed:
        x0, x1 = fed.guids(fed.x, 2)
        lower = next(iter(STRICT)).replace("dg.CS01", "dg.cs01")
        forms = [x0, fed.guids(fed.y, 1)[0], x1.split("/", 1)[1], f"drs://{fed.x.hostname}/{quote(x0, safe='')}",
                 lower, f"dg.RX01/{MISSING}", MISSING, "dg.NONE/x", "drs://nowhere.example/x"]
        for raw in forms:
            before = fed.calls()
            try:
                single: Resolution | ResolutionError = await fed.resolver.resolve(raw)
            except ResolutionError as exc:
                single = exc
            middle = fed.calls()
            many = (await fed.resolver.resolve_many([raw]))[raw]
            after = fed.calls()
            assert {k: middle[k] - before[k] for k in middle} == {k: after[k] - middle[k] for k in after}, raw
            assert all(after[k] == middle[k] for k in after if k.endswith("_bulk")), raw
            assert type(single) is type(many), raw
            if isinstance(single, Resolution):
                assert (single.member, single.record, single.route) == (many.member, many.record, many.route), raw
            else:
                assert (single.status, single.message) == (many.status, many.message), raw
        assert fed.s.app[STATE]["bulk_bodies"] == []


async def test_no_id_behind_the_gateways_own_hostname():
    """``drs://<the gateway>/<text>`` is resolved as ``<text>``: text that is no identifier is the single path's
    InvalidIdentifier, and a 400 in a batch (with the other ids answered)."""
    async with federation() as fed:
        raw = f"drs://{fed.gateway.hostname}/drs:abc"  # → drs:abc: a DRS URI without '//' (once abc%25zz, whose
        with pytest.raises(InvalidIdentifier, match="missing '//'"):  # '%' rule 9 now refuses on the outside)
            await fed.resolver.resolve(raw)
        x0 = fed.guids(fed.x, 1)[0]
        out = await fed.resolver.resolve_many([raw, f"drs://{fed.gateway.hostname}/{quote(x0, safe='')}"])
        bad = out[raw]
        assert isinstance(bad, ResolutionError) and bad.status == 400 and "missing '//'" in bad.message
        assert resolved(out[f"drs://{fed.gateway.hostname}/{quote(x0, safe='')}"]).record.id == x0
