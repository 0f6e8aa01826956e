"""Guppy's API on a running reference commons, over real HTTP: totals and histograms equal to direct counts,
every filter operator, accessibility for anonymous and researcher callers, hidden counts under ``regular`` at
the limit's boundary, Guppy's 401 for raw rows, download, pages and sort, ``_mapping``, introspection, and
malformed requests answered as GraphQL errors (or JSON 400s), never 500s."""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from graphql import build_client_schema, get_introspection_query
from servers import Server, start_commons, start_gateway

from gateway.web.errors import error_middleware
from gateway.web.keys import STATE
from refcommons.app import mount
from refcommons.authz.default_policy import ADMIN_USER, RESEARCHER_USER
from refcommons.commons import ReferenceCommons
from refcommons.guppy.index import OUT_OF_SCOPE, TierLevel
from refcommons.guppy.schema import GuppyContext
from refcommons.guppy.service import GuppyService, run
from refcommons.layout import Mount
from refcommons.model import Subject
from refcommons.routes.guppy import GuppyApi
from refcommons.routes.keys import COMMONS
from refcommons.settings import DEFAULT_TIER_LEVEL, DEFAULT_TIER_LIMIT
from refcommons.synth import generate_dataset

pytestmark = pytest.mark.asyncio(loop_scope="module")

GQL = "/guppy/graphql"
ANON = "anonymous"


class Env:
    """The commons under test, its callers' ``Authorization`` headers, and facts about its data."""

    def __init__(self, server: Server, headers: dict[str, dict[str, str]]) -> None:
        self.server = server
        self.client = server.client
        self.headers = headers
        commons = server.commons
        assert commons is not None
        self.commons: ReferenceCommons = commons
        self.dataset = commons.dataset
        projects = {p.project_id: p for p in self.dataset.projects}
        self.authz = {s.id: projects[s.project_id].authz_for(s.consent) for s in self.dataset.subjects}
        self.open_paths = {r.path for r in self.dataset.authz_resources() if r.access == "open"}
        # the default policy: the researcher reads the first controlled study's consent group c1
        self.researcher_paths = self.open_paths | {f"/programs/{self.dataset.projects[1].phs}.c1"}

    def subjects(self, paths: set[str] | None = None, where: Callable[[Subject], bool] = lambda s: True) -> list:
        return [s for s in self.dataset.subjects if (paths is None or self.authz[s.id] in paths) and where(s)]

    def unreadable(self, caller: str) -> set[str]:
        readable = self.open_paths if caller == ANON else self.researcher_paths
        return set(self.authz.values()) - readable


async def _token(server: Server, user: str) -> str:
    assert server.commons is not None
    credentials = await server.commons.fence.create_api_key(user)
    r = await server.client.post("/user/credentials/api/access_token", json=credentials)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory) -> AsyncIterator[Env]:
    server = await start_commons("dg.TST1", seed=7, subjects=40, data_dir=tmp_path_factory.mktemp("guppy"))
    try:
        headers = {ANON: {}}
        for user in (ADMIN_USER, RESEARCHER_USER):
            headers[user] = {"Authorization": f"Bearer {await _token(server, user)}"}
        yield Env(server, headers)
    finally:
        await server.stop()


async def gql(client: httpx.AsyncClient, headers: dict[str, str], query: str, variables: Any = None) -> dict:
    r = await client.post(GQL, json={"query": query, "variables": variables}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def data(env: Env, caller: str, query: str, variables: Any = None, client: httpx.AsyncClient | None = None):
    body = await gql(client or env.client, env.headers[caller], query, variables)
    assert "errors" not in body, body
    return body["data"]


async def total(env: Env, caller: str, accessibility: str = "all", flt: Any = None, index: str = "subject",
                client: httpx.AsyncClient | None = None) -> int:
    q = (f"query($f: JSON) {{ _aggregation {{ {index}(filter: $f, accessibility: {accessibility}) "
         "{ _totalCount } } }")
    return (await data(env, caller, q, {"f": flt}, client))["_aggregation"][index]["_totalCount"]


async def histogram(env: Env, caller: str, field: str, accessibility: str = "all", flt: Any = None,
                    client: httpx.AsyncClient | None = None, extra: str = "") -> dict[str, int]:
    q = (f"query($f: JSON) {{ _aggregation {{ subject(filter: $f, accessibility: {accessibility}{extra}) "
         f"{{ {field} {{ histogram {{ key count }} }} }} }} }}")
    found = (await data(env, caller, q, {"f": flt}, client))["_aggregation"]["subject"][field]["histogram"]
    return {b["key"]: b["count"] for b in found}


class Tiered:
    """The same commons served with other tier settings (a second app on another port)."""

    def __init__(self, runner: web.AppRunner, client: httpx.AsyncClient) -> None:
        self.runner, self.client = runner, client

    async def close(self) -> None:
        await self.client.aclose()
        await self.runner.cleanup()


async def tiered(commons: ReferenceCommons, level: TierLevel = "regular", limit: int = 50) -> Tiered:
    app = web.Application(middlewares=[error_middleware])
    app[COMMONS] = commons
    mount(app, Mount("guppy", "/guppy"), GuppyApi(level, limit).routes)  # as the gen3 layout serves it
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return Tiered(runner, httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10))


# --- health, mapping, introspection -------------------------------------------------------------------


async def test_defaults_status_and_version(env):
    assert (DEFAULT_TIER_LEVEL, DEFAULT_TIER_LIMIT) == ("regular", 50)
    r = await env.client.get("/guppy/_status")
    assert r.status_code == 200 and r.json() == {
        "statusCode": 200, "warnings": None, "indices": {"refcommons-subject": {"aliases": {}},
                                                          "refcommons-file": {"aliases": {}}}}
    assert set((await env.client.get("/guppy/_version")).json()) == {"version", "commit"}


async def test_mapping(env):
    found = (await data(env, ANON, "{ _mapping { subject file } }"))["_mapping"]
    assert "auth_resource_path" in found["subject"] and found["subject"] == sorted(found["subject"])
    assert {"object_id", "file_name", "file_size", "md5sum", "subject_id"} <= set(found["file"])
    some = await data(env, ANON, '{ _mapping { subject(searchInput: "count$") } }')
    assert some["_mapping"]["subject"] == ["_files_count", "_samples_count"]
    bad = await gql(env.client, {}, '{ _mapping { subject(searchInput: "(") } }')
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_introspection(env):
    body = await gql(env.client, {}, get_introspection_query())
    assert "errors" not in body
    schema = build_client_schema(body["data"])
    for name in ("Subject", "File", "SubjectAggregation", "FileAggregation", "HistogramForString",
                 "HistogramForNumber", "BucketsForNestedStringAgg", "BucketsForNestedNumberAgg", "Mapping",
                 "Accessibility", "JSON"):
        assert schema.get_type(name) is not None, name
    query = schema.query_type
    assert query is not None and {"subject", "file", "_aggregation", "_mapping"} <= set(query.fields)
    assert set(query.fields["subject"].args) == {"offset", "first", "filter", "sort", "accessibility", "format"}


# --- totals and histograms ----------------------------------------------------------------------------


async def test_totals_equal_direct_counts(env):
    assert await total(env, ADMIN_USER) == len(env.dataset.subjects)
    assert await total(env, ADMIN_USER, index="file") == len(env.dataset.files)
    assert await total(env, ANON, "accessible") == len(env.subjects(env.open_paths))
    assert await total(env, RESEARCHER_USER, "accessible") == len(env.subjects(env.researcher_paths))
    open_files = [f for f in env.dataset.files if f.authz in env.open_paths]
    assert await total(env, ANON, "accessible", index="file") == len(open_files)


async def test_histograms_equal_direct_counts(env):
    assert await histogram(env, ADMIN_USER, "sex") == Counter(s.sex for s in env.dataset.subjects)
    consent = await histogram(env, ADMIN_USER, "consent")
    assert consent == {**Counter(s.consent for s in env.dataset.subjects if s.consent),
                       "no data": sum(s.consent is None for s in env.dataset.subjects)}
    assert list(consent)[-1] == "no data"
    q = "{ _aggregation { file { data_format { histogram { key count } } } } }"
    formats = (await data(env, ADMIN_USER, q))["_aggregation"]["file"]["data_format"]["histogram"]
    assert {b["key"]: b["count"] for b in formats} == Counter(f.data_format for f in env.dataset.files)
    q = ("{ _aggregation { subject { age_at_enrollment { histogram { key count min max avg } "
         "asTextHistogram { key count } } } } }")
    age = (await data(env, ADMIN_USER, q))["_aggregation"]["subject"]["age_at_enrollment"]
    ages = [s.age_at_enrollment for s in env.dataset.subjects]
    assert age["histogram"] == [{"key": [min(ages), max(ages)], "count": len(ages), "min": min(ages),
                                 "max": max(ages), "avg": pytest.approx(sum(ages) / len(ages))}]
    assert {b["key"]: b["count"] for b in age["asTextHistogram"]} == {str(k): v for k, v in Counter(ages).items()}
    q = "{ _aggregation { subject { bmi { histogram(rangeStart: 10, rangeStep: 10) { key count } } } } }"
    bmi = (await data(env, ADMIN_USER, q))["_aggregation"]["subject"]["bmi"]["histogram"]
    assert sum(b["count"] for b in bmi) == len(env.dataset.subjects)
    assert all(b["key"][1] - b["key"][0] == 10 for b in bmi)


async def test_filter_self_false_keeps_every_value_of_the_field(env):
    female = {"=": {"sex": "female"}}
    assert set(await histogram(env, ADMIN_USER, "sex", flt=female)) == {"female"}
    everyone = await histogram(env, ADMIN_USER, "sex", flt=female, extra=", filterSelf: false")
    assert everyone == Counter(s.sex for s in env.dataset.subjects)


async def test_nested_agg_fields(env):
    q = ('{ _aggregation { subject(nestedAggFields: {termsFields: ["sex"], missingFields: ["consent"]}) '
         "{ project_id { histogram { key count termsFields { field count terms { key count } } "
         "missingFields { field count } } } } } }")
    buckets = (await data(env, ADMIN_USER, q))["_aggregation"]["subject"]["project_id"]["histogram"]
    for b in buckets:
        members = env.subjects(where=lambda s, key=b["key"]: s.project_id == key)
        assert b["count"] == len(members)
        assert {t["key"]: t["count"] for t in b["termsFields"][0]["terms"]} == Counter(s.sex for s in members)
        assert b["missingFields"] == [{"field": "consent", "count": sum(s.consent is None for s in members)}]


FILTERS: list[tuple[dict[str, Any], Callable[[Subject], bool]]] = [
    ({"=": {"sex": "female"}}, lambda s: s.sex == "female"),
    ({"eq": {"population": "EUR"}}, lambda s: s.population == "EUR"),
    ({"IN": {"population": ["AFR", "EAS"]}}, lambda s: s.population in ("AFR", "EAS")),
    ({"in": {"consent": ["c2", "no data"]}}, lambda s: s.consent in ("c2", None)),
    ({"!=": {"sex": "male"}}, lambda s: s.sex != "male"),
    ({"excludes_any": {"smoking_status": ["never", "former"]}}, lambda s: s.smoking_status not in ("never", "former")),
    ({">=": {"age_at_enrollment": 50}}, lambda s: s.age_at_enrollment >= 50),
    ({"gt": {"age_at_enrollment": 50}}, lambda s: s.age_at_enrollment > 50),
    ({"<": {"bmi": 25}}, lambda s: s.bmi < 25),
    ({"lte": {"bmi": 25.5}}, lambda s: s.bmi <= 25.5),
    ({"!=": {"age_at_enrollment": 52}}, lambda s: s.age_at_enrollment != 52),
    ({"AND": [{"=": {"sex": "female"}}, {"<": {"age_at_enrollment": 60}}]},
     lambda s: s.sex == "female" and s.age_at_enrollment < 60),
    ({"or": [{"=": {"phenotype": "control"}}, {">": {"bmi": 30}}]}, lambda s: s.phenotype == "control" or s.bmi > 30),
    ({"search": {"keyword": "HISPANIC", "fields": "ethnicity"}}, lambda s: "hispanic" in s.ethnicity.lower()),
]


@pytest.mark.parametrize("flt,where", FILTERS, ids=[str(f)[:50] for f, _ in FILTERS])
async def test_each_filter_operator(env, flt, where):
    expected = env.subjects(where=where)
    assert await total(env, ADMIN_USER, flt=flt) == len(expected)
    q = "query($f: JSON) { subject(filter: $f, first: 1000) { subject_id } }"
    rows = (await data(env, ADMIN_USER, q, {"f": flt}))["subject"]
    assert [r["subject_id"] for r in rows] == [s.id for s in expected]


# --- accessibility and tiers --------------------------------------------------------------------------


@pytest.mark.parametrize("caller", [ANON, RESEARCHER_USER])
async def test_accessibility_modes(env, caller):
    readable = env.open_paths if caller == ANON else env.researcher_paths
    accessible = env.subjects(readable)
    unaccessible = env.subjects(env.unreadable(caller))
    assert len(accessible) + len(unaccessible) == len(env.dataset.subjects)
    assert await total(env, caller, "accessible") == len(accessible)
    assert await total(env, caller, "unaccessible") == (len(unaccessible) if len(unaccessible) >= 50 else -1)
    assert await total(env, caller, "all") == (len(env.dataset.subjects) if len(unaccessible) >= 50 else -1)
    assert await histogram(env, caller, "sex", "accessible") == Counter(s.sex for s in accessible)  # never hidden
    shown = await histogram(env, caller, "project_id", "all")
    for project in env.dataset.projects:
        mine = [s for s in env.dataset.subjects if s.project_id == project.project_id]
        others = [s for s in mine if s in unaccessible]
        assert shown[project.project_id] == (-1 if 0 < len(others) < 50 else len(mine))


async def test_hidden_counts_at_the_limit_boundary(env):
    unaccessible = env.subjects(env.unreadable(ANON))
    females = [s for s in unaccessible if s.sex == "female"]
    n, f = len(unaccessible), len(females)
    assert n > f + 1 > 1
    # hidden exactly when the unaccessible part is in (0, limit)
    for limit, hidden_total, hidden_female in ((f, False, False), (f + 1, False, True), (n, False, True),
                                               (n + 1, True, True)):
        server = await tiered(env.commons, "regular", limit)
        try:
            got = await total(env, ANON, client=server.client)
            assert got == (-1 if hidden_total else len(env.dataset.subjects)), limit
            counts = await histogram(env, ANON, "sex", client=server.client)
            assert counts["female"] == (-1 if hidden_female else sum(s.sex == "female" for s in env.dataset.subjects))
            assert await total(env, ANON, "unaccessible", client=server.client) == (-1 if hidden_total else n)
            assert await total(env, ANON, "accessible", client=server.client) == len(env.subjects(env.open_paths))
            # a number histogram's buckets are guarded too
            q = "{ _aggregation { subject { age_at_enrollment { histogram { count } } } } }"
            age = await data(env, ANON, q, client=server.client)
            assert age["_aggregation"]["subject"]["age_at_enrollment"]["histogram"][0]["count"] == (
                -1 if hidden_total else len(env.dataset.subjects))
        finally:
            await server.close()


async def test_raw_rows_out_of_scope_is_guppys_401(env):
    for accessibility in ("all", "unaccessible"):
        body = await gql(env.client, {}, f"{{ subject(accessibility: {accessibility}) {{ subject_id }} }}")
        assert body["data"] == {"subject": None}
        [error] = body["errors"]
        assert error["message"] == OUT_OF_SCOPE == ("You don't have access to all the data you are querying. "
                                                    "Try using 'accessibility: accessible' in your query")
        assert error["extensions"]["code"] == 401 and error["path"] == ["subject"]
    rows = (await data(env, ANON, "{ subject(accessibility: accessible, first: 100) { auth_resource_path } }"))
    assert rows["subject"] and {r["auth_resource_path"] for r in rows["subject"]} <= env.open_paths
    assert len(rows["subject"]) == len(env.subjects(env.open_paths))
    # a filter that stays within what the caller may read needs no accessibility argument
    own = {"IN": {"auth_resource_path": sorted(env.researcher_paths)}}
    rows = await data(env, RESEARCHER_USER, "query($f: JSON) { subject(filter: $f, first: 100) { subject_id } }",
                      {"f": own})
    assert len(rows["subject"]) == len(env.subjects(env.researcher_paths))
    # the admin reads everything
    rows = await data(env, ADMIN_USER, "{ subject(first: 1000) { subject_id } }")
    assert len(rows["subject"]) == len(env.dataset.subjects)


async def test_private_and_libre_levels(env):
    private = await tiered(env.commons, "private")
    libre = await tiered(env.commons, "libre")
    try:
        open_count = len(env.subjects(env.open_paths))
        assert await total(env, ANON, client=private.client) == open_count
        rows = await data(env, ANON, "{ subject(first: 1000) { subject_id } }", client=private.client)
        assert len(rows["subject"]) == open_count
        assert await total(env, ANON, client=libre.client) == len(env.dataset.subjects)
        rows = await data(env, ANON, "{ subject(first: 1000) { subject_id } }", client=libre.client)
        assert len(rows["subject"]) == len(env.dataset.subjects)
    finally:
        await private.close()
        await libre.close()
    with pytest.raises(ValueError):
        GuppyApi("public")  # type: ignore[arg-type]


# --- raw rows: pages and sort -------------------------------------------------------------------------


async def test_pagination_and_sort(env):
    ordered = sorted(env.dataset.subjects, key=lambda s: s.bmi, reverse=True)
    q = "{ subject(first: 5, offset: 3, sort: [{bmi: desc}]) { subject_id bmi } }"
    rows = (await data(env, ADMIN_USER, q))["subject"]
    assert [r["bmi"] for r in rows] == [s.bmi for s in ordered[3:8]]
    rows = (await data(env, ADMIN_USER, "{ subject { subject_id } }"))["subject"]
    assert len(rows) == 10  # Guppy's default page
    q = '{ subject(first: 3, sort: {sex: "asc", age_at_enrollment: "desc"}) { sex age_at_enrollment } }'
    rows = (await data(env, ADMIN_USER, q))["subject"]
    expected = sorted(env.dataset.subjects, key=lambda s: (s.sex, -s.age_at_enrollment))[:3]
    assert [(r["sex"], r["age_at_enrollment"]) for r in rows] == [(s.sex, s.age_at_enrollment) for s in expected]
    for q in ("{ subject(first: 10000, offset: 1) { sex } }", '{ subject(sort: [{nope: "asc"}]) { sex } }',
              "{ subject(first: -1) { sex } }"):
        body = await gql(env.client, env.headers[ADMIN_USER], q)
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT" and body["data"] == {"subject": None}


async def test_search_highlights(env):
    q = '{ subject(accessibility: accessible, first: 100, filter: {search: {keyword: "hisp", fields: "ethnicity"}}) ' \
        "{ ethnicity _matched { field highlights } } }"
    rows = (await data(env, ANON, q))["subject"]
    assert rows and all(r["_matched"] == [{"field": "ethnicity", "highlights": [r["ethnicity"].replace(
        "Hisp", "<em>Hisp</em>")]}] for r in rows)


# --- download -----------------------------------------------------------------------------------------


async def test_download(env):
    body = {"type": "subject", "fields": ["subject_id", "consent", "auth_resource_path"], "accessibility": "accessible",
            "sort": [{"subject_id": "asc"}]}
    r = await env.client.post("/guppy/download", json=body)
    assert r.status_code == 200, r.text
    rows = r.json()
    expected = sorted(env.subjects(env.open_paths), key=lambda s: s.id)
    assert [row["subject_id"] for row in rows] == [s.id for s in expected]
    assert all(set(row) == {"subject_id", "auth_resource_path"} for row in rows)  # open subjects: no consent
    r = await env.client.post("/guppy/download", json={"type": "file"}, headers=env.headers[RESEARCHER_USER])
    assert r.status_code == 401 and r.json() == {"error": OUT_OF_SCOPE, "status_code": 401}
    within = {"type": "file", "filter": {"IN": {"auth_resource_path": sorted(env.researcher_paths)}}}
    r = await env.client.post("/guppy/download", json=within, headers=env.headers[RESEARCHER_USER])
    files = [f for f in env.dataset.files if f.authz in env.researcher_paths]
    assert r.status_code == 200 and [row["object_id"] for row in r.json()] == [f.guid for f in files]
    assert set(r.json()[0]) <= set((await data(env, ANON, "{ _mapping { file } }"))["_mapping"]["file"])
    r = await env.client.post("/guppy/download", json={"type": "subject"}, headers=env.headers[ADMIN_USER])
    assert r.status_code == 200 and len(r.json()) == len(env.dataset.subjects)


@pytest.mark.parametrize("body,message", [
    ({"type": "case"}, 'Invalid es type: "case"'),
    ({"fields": ["sex"]}, "Invalid es type"),
    ({"type": "subject", "fields": ["sex", "nope"]}, 'Invalid fields: "nope"'),
    ({"type": "subject", "filter": {"like": {"sex": "x"}}}, 'Invalid operation "like"'),
    ({"type": "subject", "sort": [{"sex": "sideways"}]}, "Invalid sort argument"),
    ({"type": "subject", "accessibility": "some"}, "accessibility must be one of"),
    ([1], "JSON object"),
])
async def test_download_rejects_bad_bodies(env, body, message):
    r = await env.client.post("/guppy/download", json=body)
    assert r.status_code == 400 and set(r.json()) == {"error", "status_code"} and message in r.json()["error"]


# --- malformed requests -------------------------------------------------------------------------------


@pytest.mark.parametrize("query,variables,code", [
    ("{ subject(first: 1) { sex }", None, "GRAPHQL_PARSE_FAILED"),
    ("{" * 3000, None, "GRAPHQL_PARSE_FAILED"),
    ("{ subject { nope } }", None, "GRAPHQL_VALIDATION_FAILED"),
    ("{ subject(accessibility: everyone) { sex } }", None, "GRAPHQL_VALIDATION_FAILED"),
    ("query($n: Int) { subject(first: $n) { sex } }", {"n": "ten"}, "BAD_USER_INPUT"),
    ('{ subject(filter: {eq: {nope: "x"}}) { sex } }', None, "BAD_USER_INPUT"),
    ("query($f: JSON) { _aggregation { subject(filter: $f) { _totalCount } } }", {"f": {"IN": {"sex": "f"}}},
     "BAD_USER_INPUT"),
    ("{ _aggregation { subject { bmi { histogram(rangeStep: 0) { count } } } } }", None, "BAD_USER_INPUT"),
    ("{ subject(filter: {eq: {age_at_enrollment: %s}}) { sex } }" % ("9" * 400), None, "BAD_USER_INPUT"),
    ("{ subject(filter: {eq: {sex: %s}}) { sex } }" % ("9" * 5000), None, "BAD_USER_INPUT"),
    ("{ subject(filter: {gt: {bmi: 1e400}}) { sex } }", None, "BAD_USER_INPUT"),
    ("{ _aggregation { subject(nestedAggFields: {termsFields: [\"nope\"]}) { sex { histogram { key } } } } }",
     None, "BAD_USER_INPUT"),
])
async def test_malformed_queries_are_graphql_errors(env, query, variables, code):
    body = await gql(env.client, env.headers[ADMIN_USER], query, variables)
    assert body["errors"] and body["errors"][0]["extensions"]["code"] == code, body
    assert all(isinstance(e["message"], str) and e["message"] for e in body["errors"])


@pytest.mark.parametrize("content,status", [
    (b"{not json", 400), (b"[]", 400), (b"{}", 400), (b'{"query": 1}', 400), (b'{"query": "  "}', 400),
    (b'{"query": "{ _mapping { file } }", "variables": [1]}', 400),
    (b'{"query": "{ _mapping { file } }", "operationName": 3}', 400),
])
async def test_bad_http_bodies_are_json_400s(env, content, status):
    r = await env.client.post(GQL, content=content, headers={"content-type": "application/json"})
    assert r.status_code == status and set(r.json()) == {"error", "status_code"}, r.text


async def test_a_resolver_bug_is_masked():
    """An unexpected exception is logged and answered as a GraphQL error without internals, never a 500."""
    service = GuppyService.build_from(generate_dataset(prefix="dg.TST9", seed=1, subjects=5))
    broken = GuppyContext(None, "regular", 50)  # type: ignore[arg-type]
    body = run(service.schema, broken, "{ subject { sex } _mapping { file } }", None, None)
    assert body["errors"] == [{"message": "internal server error", "locations": [{"line": 1, "column": 3}],
                               "path": ["subject"], "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]
    assert body["data"]["subject"] is None and body["data"]["_mapping"]["file"]


async def test_bad_token_is_401(env):
    r = await env.client.post(GQL, json={"query": "{ _mapping { file } }"}, headers={"Authorization": "Bearer x.y.z"})
    assert r.status_code == 401 and r.json()["status_code"] == 401


async def test_operation_name_selects_an_operation(env):
    q = "query A { _mapping { file } } query B { _aggregation { file { _totalCount } } }"
    body = await gql(env.client, env.headers[ADMIN_USER], q)  # two operations and no operationName: an error
    assert body["errors"] and "data" not in body
    r = await env.client.post(GQL, json={"query": q, "operationName": "B"}, headers=env.headers[ADMIN_USER])
    assert r.json() == {"data": {"_aggregation": {"file": {"_totalCount": len(env.dataset.files)}}}}


# --- in the gateway ------------------------------------------------------------------------------------


async def test_served_under_the_gateways_mount():
    gateway = await start_gateway(store={"url": "sqlite:///:memory:"}, refcommons={"subjects": 12, "data_dir": None})
    try:
        commons = gateway.app[STATE].refcommons
        open_paths = {r.path for r in commons.dataset.authz_resources() if r.access == "open"}
        projects = {p.project_id: p for p in commons.dataset.projects}
        expected = sum(projects[s.project_id].authz_for(s.consent) in open_paths for s in commons.dataset.subjects)
        q = "{ _aggregation { subject(accessibility: accessible) { _totalCount } } }"
        r = await gateway.client.post(f"/refcommons{GQL}", json={"query": q})
        assert r.status_code == 200 and r.json() == {"data": {"_aggregation": {"subject": {"_totalCount": expected}}}}
        assert (await gateway.client.get("/refcommons/guppy/_status")).status_code == 200
    finally:
        await gateway.stop()
