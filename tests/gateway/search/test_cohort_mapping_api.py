"""Cohort-search field mappings end to end: a gateway in front of two reference commons and a member whose subject
index calls ``sex`` ``gender`` with values ``F``/``female``/``M``/``U`` (the reference commons' own Guppy code over
its data with that field renamed), mapped with ``aggregate.mappings.cohort``. Expected values come from asking each
member directly in its own names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from cohort_kit import GQL, PATH, direct, gen3, start_all, start_search_gateway
from servers import Server, _serve, free_port

from refcommons.commons import ReferenceCommons
from refcommons.guppy.index import Field, GuppyIndex, build_indices
from refcommons.guppy.schema import GuppyContext, build_schema
from refcommons.guppy.service import GuppyService, run
from refcommons.settings import CommonsSettings

pytestmark = pytest.mark.asyncio(loop_scope="module")

COMMONS = (("dg.AAA1", 1), ("dg.BBB2", 2))
SUBJECTS = 200
RENAMED = "ren"
RENAMED_LIMIT = 20
"""The renamed member's own Guppy tier limit: small, so that its rare ``F`` buckets are hidden and ``female`` not."""
MAPPING = {"fields": {"sex": "gender"}, "values": {"sex": {"F": "female", "M": "male", "U": "unknown"}}}
OPEN = [f"{p.split('.')[1]}-OPEN" for p, _ in (*COMMONS, ("dg.REN3", 3))]
OPEN_FILTER = {"in": {"project_id": OPEN}}
FEMALE = ["F", "female"]
"""What the gateway's ``female`` is at the renamed member (written out by hand, not by the translation)."""


def renamed_index(commons: ReferenceCommons) -> dict[str, GuppyIndex]:
    """The commons' indices with ``sex`` → ``gender``: every 10th female ``F``, the others ``female``; male ``M``,
    unknown ``U``."""
    indices = build_indices(commons.dataset, "renamed")
    subject = indices["subject"]
    rows, females = [], 0
    for row in subject.rows:
        out = {k: v for k, v in row.items() if k != "sex"}
        if row.get("sex") == "female":
            females += 1
            out["gender"] = "F" if females % 10 == 0 else "female"
        elif row.get("sex") is not None:
            out["gender"] = {"male": "M", "unknown": "U"}[row["sex"]]
        rows.append(out)
    fields = tuple(Field("gender", "String") if f.name == "sex" else f for f in subject.fields)
    return {"subject": GuppyIndex("subject", "renamed-subject", fields, tuple(rows)), "file": indices["file"]}


async def start_renamed_guppy(commons: ReferenceCommons) -> Server:
    """``POST /guppy/graphql`` over :func:`renamed_index` (``regular``, limit :data:`RENAMED_LIMIT`), callers by
    the commons' fence."""
    indices = renamed_index(commons)
    service = GuppyService(indices, build_schema(indices),
                           frozenset().union(*(i.resources() for i in indices.values())))

    async def graphql(request: web.Request) -> web.Response:
        body = await request.json()
        principal = await commons.fence.principal(request.headers.get("Authorization"))
        ctx = GuppyContext(service.access(principal), "regular", RENAMED_LIMIT)
        return web.json_response(run(service.schema, ctx, body["query"], body.get("variables"), None))

    app = web.Application()
    app.router.add_post(GQL, graphql)
    port = free_port()
    runner, client, base = await _serve(app, port)
    return Server(base, port, client, runner, app)


@dataclass
class Env:
    gateway: Server
    libre: Server
    commons: dict[str, Server]
    renamed: Server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env() -> AsyncIterator[Env]:
    async with AsyncExitStack() as stack:
        commons = await start_all(stack, COMMONS, SUBJECTS)
        source = await ReferenceCommons.open(CommonsSettings(prefix="dg.REN3", seed=3, subjects=SUBJECTS))
        stack.push_async_callback(source.close)
        renamed = await start_renamed_guppy(source)
        stack.push_async_callback(renamed.stop)
        members = [gen3(mid, s.base_url, f"dg.{mid}") for mid, s in commons.items()]
        members.append(gen3(RENAMED, renamed.base_url, "dg.REN3"))
        mappings = {"cohort": {RENAMED: {"subject": MAPPING}}}
        gateway = await start_search_gateway(members, mappings=mappings)
        stack.push_async_callback(gateway.stop)
        libre = await start_search_gateway(members, mappings=mappings, tier={"level": "libre"})
        stack.push_async_callback(libre.stop)
        yield Env(gateway, libre, commons, renamed)


async def search(server: Server, body: dict[str, Any]) -> dict[str, Any]:
    r = await server.client.post(PATH, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def buckets(answer: dict[str, Any], facet: str) -> dict[str, int]:
    return {b["key"]: b["count"] for b in answer[facet]["asTextHistogram"]}


def gateway_key(key: str) -> str:
    return MAPPING["values"]["sex"].get(key, key)


async def expected_sex(env: Env, flt: Any, accessibility: str) -> tuple[int, dict[str, int | None]]:
    """The total and the ``sex`` buckets the gateway should show, from each member asked in its own names
    (``None``: a member hid part of the bucket, in its ``all`` answer, which the gateway also asks for; asked for
    accessible data, nothing is: the members' accessible answers are never hidden, so neither is the sum)."""
    total, sex = 0, {}
    asked = [(s, "sex", flt) for s in env.commons.values()] + [(env.renamed, "gender", flt)]
    for server, field, member_filter in asked:
        mine = await direct(server, member_filter, [field], accessibility)
        everything = buckets(await direct(server, member_filter, [field], "all"), field)
        total += mine["_totalCount"]
        counts = buckets(mine, field)
        for key in dict.fromkeys([*counts, *(k for k, n in everything.items() if n == -1)]):
            k = gateway_key(key) if field == "gender" else key
            hidden = accessibility != "accessible" and (
                counts.get(key) == -1 or everything.get(key) == -1 or sex.get(k, 0) is None)
            sex[k] = None if hidden else sex.get(k, 0) + counts.get(key, 0)
    return total, sex


async def test_the_renamed_member_merges_into_the_gateway_schema(env):
    mine = await direct(env.renamed, OPEN_FILTER, ["gender"], "all")
    assert {"F", "female", "M"} <= set(buckets(mine, "gender"))  # the member really speaks another dialect
    doc = await search(env.gateway, {"index": "subject", "filter": OPEN_FILTER, "facets": ["sex", "project_id"]})
    total, sex = await expected_sex(env, OPEN_FILTER, "all")
    assert None not in sex.values()  # open data only: nothing hidden
    assert doc["total"] == {"count": total, "hidden": False, "below": False}
    assert {b["key"]: b["count"] for b in doc["facets"]["sex"]} == sex
    assert "F" not in sex and "M" not in sex
    src = {s["commons"]: s for s in doc["sources"]}
    assert src[RENAMED]["status"] == "ok" and src[RENAMED]["count"] == mine["_totalCount"]
    assert any(b["key"] == "REN3-OPEN" for b in doc["facets"]["project_id"])  # unmapped fields pass through


@pytest.mark.parametrize("gateway_filter, member_filter", [
    ({"=": {"sex": "female"}}, {"IN": {"gender": FEMALE}}),
    ({"!=": {"sex": "female"}}, {"EXCLUDES_ANY": {"gender": FEMALE}}),
    ({"IN": {"sex": ["male", "unknown"]}}, {"IN": {"gender": ["M", "U"]}}),
    ({"OR": [{"=": {"sex": "unknown"}}, {"AND": [{"=": {"sex": "male"}}, {"<": {"age_at_enrollment": 40}}]}]},
     {"OR": [{"=": {"gender": "U"}}, {"AND": [{"=": {"gender": "M"}}, {"<": {"age_at_enrollment": 40}}]}]}),
])
async def test_filters_on_a_mapped_field_count_what_the_member_has_under_its_own_values(env, gateway_filter,
                                                                                       member_filter):
    flt = {"AND": [OPEN_FILTER, gateway_filter]}
    doc = await search(env.gateway, {"index": "subject", "filter": flt, "facets": ["sex"]})
    expected = 0
    for s in env.commons.values():
        expected += (await direct(s, {"AND": [OPEN_FILTER, gateway_filter]}, [], "all"))["_totalCount"]
    renamed = (await direct(env.renamed, {"AND": [OPEN_FILTER, member_filter]}, [], "all"))["_totalCount"]
    assert renamed > 0
    assert doc["total"] == {"count": expected + renamed, "hidden": False, "below": False}
    src = {s["commons"]: s for s in doc["sources"]}
    assert src[RENAMED]["count"] == renamed


async def test_accessible_counts_over_everything(env):
    doc = await search(env.gateway, {"index": "subject", "facets": ["sex"], "accessibility": "accessible"})
    total, sex = await expected_sex(env, None, "accessible")
    everything = buckets(await direct(env.renamed, None, ["gender"], "all"), "gender")
    assert everything["F"] == -1  # a member-hidden part: its accessible part comes from the member's own answer
    assert doc["total"]["count"] == total
    assert {b["key"]: b["count"] for b in doc["facets"]["sex"]} == sex


async def test_a_member_hidden_bucket_hides_the_gateway_bucket_it_becomes_part_of(env):
    mine = buckets(await direct(env.renamed, None, ["gender"], "all"), "gender")
    assert mine["F"] == -1 and mine["female"] > 0  # the member hides its few F, not its many female
    doc = await search(env.libre, {"index": "subject", "facets": ["sex"]})
    got = {b["key"]: b for b in doc["facets"]["sex"]}
    assert got["female"] == {"key": "female", "count": None, "hidden": True, "below": False}
    _, sex = await expected_sex(env, None, "all")
    for key, n in sex.items():
        if n is None:
            assert got[key]["hidden"], key
        elif not got[key]["hidden"]:  # libre: visible unless suppressed to protect a hidden one
            assert got[key]["count"] == n


async def test_rows_come_back_in_the_gateway_names_and_values(env):
    body = {"index": "subject", "accessibility": "accessible", "filter": {"=": {"sex": "female"}},
            "rows": {"limit": 100, "fields": ["subject_id", "sex"]}}
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        body["rows"]["cursor"] = cursor
        doc = await search(env.gateway, body)
        rows += doc["rows"]
        cursor = doc["next_cursor"]
        if cursor is None:
            break
    assert rows and all(r["sex"] == "female" and "gender" not in r for r in rows)
    q = ("query($f: JSON) { subject(filter: $f, first: 1000, accessibility: accessible) { subject_id gender } }")
    direct_rows = (await env.renamed.client.post(GQL, json={"query": q, "variables": {
        "f": {"IN": {"gender": FEMALE}}}})).json()["data"]["subject"]
    assert {r["gender"] for r in direct_rows} == set(FEMALE)  # the member's rows under both of its values
    assert sorted(r["subject_id"] for r in rows if r["commons"] == RENAMED) == sorted(
        r["subject_id"] for r in direct_rows)


@pytest.mark.parametrize("flt, words", [
    ({">": {"sex": "female"}}, "whose values are mapped"),
    ({"search": {"keyword": "fem", "fields": ["sex"]}}, "whose values are mapped"),
    ({"=": {"gender": "F"}}, "no field 'gender'"),
])
async def test_what_a_member_cannot_be_asked_exactly_is_a_400_before_anyone_is_asked(env, flt, words):
    r = await env.gateway.client.post(PATH, json={"index": "subject", "filter": flt, "facets": ["sex"]})
    assert r.status_code == 400, r.text
    doc = r.json()
    assert doc["status_code"] == 400 and words in doc["error"] and f"member {RENAMED!r}" in doc["error"]


async def test_the_file_index_is_not_mapped(env):
    doc = await search(env.gateway, {"index": "file", "facets": ["data_type"], "accessibility": "accessible"})
    assert {s["status"] for s in doc["sources"]} == {"ok"}


async def test_a_cohort_mapping_that_cannot_be_compiled_stops_the_gateway_before_it_serves(tmp_path):
    from gateway.app import create_app
    from gateway.search.mapping.model import CohortMappingError
    from gateway.settings.gateway import Settings

    settings = Settings(store={"url": f"sqlite:///{tmp_path / 'g.sqlite3'}"}, refcommons={"enabled": False},
                        aggregate={"mappings": {"cohort": {"m1": {"subject": {"values": {"sex": {}}}}}}})
    with pytest.raises(CohortMappingError, match=r"^aggregate\.mappings\.cohort: member 'm1', index 'subject', values"):
        await create_app(settings)
