"""Counts a Gen3 member hid itself, end to end: real standalone reference commons whose own Guppy runs the
``regular`` tier (it answers ``-1`` for an ``all`` count whose inaccessible part is small, never for an
``accessible`` one), reached over HTTP through the gateway's Guppy wire. Asked for accessible data, the gateway shows
the caller's own part of such a count; asked for everything, it keeps the count hidden and underivable.

Every expected number comes from asking the members directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from cohort_kit import direct, gen3, search, sources, start_all, start_search_gateway
from servers import Server

pytestmark = pytest.mark.asyncio(loop_scope="module")

COMMONS = (("dg.AAA1", 1), ("dg.BBB2", 2))
SUBJECTS = 200
FACETS = ["race", "project_id"]


@dataclass
class Env:
    gateway: Server
    commons: dict[str, Server]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env() -> AsyncIterator[Env]:
    async with AsyncExitStack() as stack:
        commons = await start_all(stack, COMMONS, SUBJECTS)  # tier_access_level "regular", limit 50 (the default)
        assert all(s.commons is not None and s.commons.settings.tier_access_level == "regular"
                   for s in commons.values())
        gateway = await start_search_gateway([gen3(mid, s.base_url, f"dg.{mid}") for mid, s in commons.items()])
        stack.push_async_callback(gateway.stop)
        yield Env(gateway, commons)


def histogram(answer: dict[str, Any], facet: str) -> dict[str, int]:
    return {b["key"]: b["count"] for b in answer[facet]["asTextHistogram"]}


async def member_hidden_race(env: Env) -> tuple[str, str]:
    """A member and a race it hides in its ``all`` answer while part of that race is accessible to the caller."""
    for mid, s in env.commons.items():
        everything = histogram(await direct(s, None, ["race"], "all"), "race")
        accessible = histogram(await direct(s, None, ["race"], "accessible"), "race")
        for key, n in everything.items():
            if n == -1 and accessible.get(key, 0) > 0:
                return mid, key
    raise AssertionError("the members' data has no hidden race with accessible records")


async def expected(env: Env, flt: Any) -> tuple[int, dict[str, int], dict[str, dict[str, int]]]:
    """Accessible total, each member's accessible total, and every facet's summed accessible buckets."""
    total, per_member, facets = 0, {}, {f: {} for f in FACETS}
    for mid, s in env.commons.items():
        mine = await direct(s, flt, FACETS, "accessible")
        assert mine["_totalCount"] >= 0  # Guppy never hides an accessible count
        total += mine["_totalCount"]
        per_member[mid] = mine["_totalCount"]
        for f in FACETS:
            for key, n in histogram(mine, f).items():
                assert n >= 0
                facets[f][key] = facets[f].get(key, 0) + n
    return total, per_member, facets


async def test_accessible_counts_include_buckets_a_member_hid_in_its_all_answer(env):
    _, race = await member_hidden_race(env)
    r = await search(env.gateway, {"index": "subject", "facets": FACETS, "accessibility": "accessible"})
    assert r.status_code == 200, r.text
    doc = r.json()
    total, per_member, facets = await expected(env, None)
    assert doc["total"] == {"count": total, "hidden": False, "below": False}
    for mid, n in per_member.items():
        assert sources(doc)[mid]["count"] == n and not sources(doc)[mid]["hidden"]
    for f in FACETS:
        got = {b["key"]: b for b in doc["facets"][f]}
        assert not any(b["hidden"] for b in got.values()), f
        assert {k: b["count"] for k, b in got.items() if b["count"]} == {k: n for k, n in facets[f].items() if n}
    assert next(b for b in doc["facets"]["race"] if b["key"] == race)["count"] == facets["race"][race] > 0


async def test_an_accessible_total_a_member_hid_in_its_all_answer_is_shown(env):
    mid, race = await member_hidden_race(env)
    flt = {"=": {"race": race}}
    assert (await direct(env.commons[mid], flt, [], "all"))["_totalCount"] == -1  # the member hides this total
    doc = (await search(env.gateway, {"index": "subject", "filter": flt, "facets": FACETS,
                                      "accessibility": "accessible"})).json()
    total, per_member, facets = await expected(env, flt)
    assert doc["total"] == {"count": total, "hidden": False, "below": False} and per_member[mid] > 0
    assert {s: (v["count"], v["hidden"]) for s, v in sources(doc).items()} == {
        m: (n, False) for m, n in per_member.items()}
    for f in FACETS:
        assert {b["key"]: b["count"] for b in doc["facets"][f] if b["count"]} == {
            k: n for k, n in facets[f].items() if n}


@pytest.mark.parametrize("flt", [None, "race"])
async def test_the_same_cells_stay_hidden_and_underivable_in_all_and_unaccessible_modes(env, flt):
    mid, race = await member_hidden_race(env)
    question = {"index": "subject", "facets": FACETS, "filter": {"=": {"race": race}} if flt else None}
    docs = {mode: (await search(env.gateway, {**question, "accessibility": mode})).json()
            for mode in ("all", "unaccessible")}
    for mode, doc in docs.items():
        got = {b["key"]: b for b in doc["facets"]["race"]}
        assert got[race] == {"key": race, "count": None, "hidden": True, "below": False}, mode
        if flt:
            assert doc["total"] == {"count": None, "hidden": True, "below": False} and sources(doc)[mid]["hidden"], mode
        # no subtraction gives the hidden bucket back: the total is hidden, or so is another bucket of the facet
        for f in FACETS:
            if not doc["total"]["hidden"]:
                assert sum(b["hidden"] for b in doc["facets"][f]) != 1, (mode, f)
        if not doc["total"]["hidden"]:
            assert sum(s["hidden"] for s in doc["sources"]) != 1, mode

    def hidden_cells(doc: dict[str, Any]) -> set[tuple[str, ...]]:
        cells = {("total",)} if doc["total"]["hidden"] else set()
        cells |= {("member", s["commons"]) for s in doc["sources"] if s["hidden"]}
        return cells | {(f, b["key"]) for f, h in doc["facets"].items() for b in h if b["hidden"]}

    assert hidden_cells(docs["all"]) == hidden_cells(docs["unaccessible"])  # comparing modes gives nothing away
