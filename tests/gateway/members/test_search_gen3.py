"""The Gen3 adapter's search over real HTTP: Guppy counts and rows and MDS discovery records from a standalone
reference commons (tier ``regular``, limit 50), for anonymous, researcher and admin callers; and fault servers
(404, GraphQL errors, garbage, hanging) for what a member that cannot answer looks like."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import faults
import pytest
from adapter_support import bearer, expected, member
from aiohttp import web
from faults import serve
from servers import Server, start_commons

from gateway.core.deadline import Deadline
from gateway.core.egress import OPEN
from gateway.core.errors import AccessDenied, MemberTimeout, MemberUnavailable
from gateway.core.member import MemberAuth
from gateway.members.drs import DrsAdapter
from gateway.members.gen3 import Gen3Adapter
from gateway.members.guppy_wire import GuppyQueryError
from gateway.members.protocols import CohortSearch, StudyDiscovery
from gateway.members.search import TOTAL, CohortQuery, Count, SearchUnsupported
from refcommons.authz.default_policy import ADMIN_USER, RESEARCHER_USER
from refcommons.guppy.index import AUTH_FIELD, build_indices
from refcommons.settings import DEFAULT_TIER_LIMIT

FACETS = ("sex", "project_id", "consent", "race")


@pytest.fixture
async def big() -> AsyncIterator[Server]:
    """200 subjects: enough that most totals are shown under the limit of 50, while small buckets are hidden."""
    server = await start_commons("dg.TST2", seed=7, subjects=200)
    yield server
    await server.stop()


@pytest.fixture
async def adapter(big, config) -> AsyncIterator[Gen3Adapter]:
    gen3 = Gen3Adapter(member(big.base_url), config, OPEN)
    yield gen3
    await gen3.close()


def deadline() -> Deadline:
    return Deadline.after(10)


def shown_and_hidden(cells: dict[str, Count], facet: str) -> tuple[dict[str, Count], set]:
    """What Guppy under ``regular`` shows and hides: a cell whose inaccessible part is in (0, limit) is hidden."""
    shown = {k: c for k, c in cells.items() if not 0 < c.inaccessible < DEFAULT_TIER_LIMIT}
    return shown, {(facet, k) for k in cells if k not in shown}


async def test_it_is_searchable(adapter):
    assert isinstance(adapter, CohortSearch) and isinstance(adapter, StudyDiscovery)


@pytest.mark.parametrize("user", [None, RESEARCHER_USER, ADMIN_USER])
async def test_counts_are_the_callers(big, adapter, user):
    auth = await bearer(big, user) if user else None
    got = await adapter.cohort_counts(CohortQuery("subject", None, FACETS), deadline(), authorization=auth)
    subjects = len(big.commons.dataset.subjects)
    accessible = sum(1 for r in build_indices(big.commons.dataset)["subject"].rows
                     if big.commons.fence.principal_for(user).allows("read", [r[AUTH_FIELD]], "guppy"))
    assert subjects - accessible >= DEFAULT_TIER_LIMIT or user == ADMIN_USER  # the total is shown
    assert got.total == Count(subjects, accessible) and TOTAL not in got.hidden and not got.partial
    hidden: set = set()
    for facet in FACETS:
        shown, gone = shown_and_hidden(expected(big, user, facet), facet)
        assert got.histograms[facet] == shown, facet
        hidden |= gone
    assert got.hidden == hidden
    if user == ADMIN_USER:
        assert not hidden
    else:
        assert hidden  # small inaccessible buckets exist for anyone but the admin
    if user is None:
        assert 0 < accessible < subjects


async def test_a_filter_narrows_the_counts(big, adapter):
    query = CohortQuery("subject", {"=": {"sex": "female"}}, ("sex",))
    got = await adapter.cohort_counts(query, deadline(), authorization=await bearer(big, ADMIN_USER))
    females = expected(big, ADMIN_USER, "sex")["female"]
    assert got.total == females and got.histograms == {"sex": {"female": females}}


async def test_the_gateways_own_credentials_are_never_used(big, config):
    """A member configured with the admin's token still counts an anonymous caller as anonymous."""
    admin = (await bearer(big, ADMIN_USER)).removeprefix("Bearer ")
    gen3 = Gen3Adapter(member(big.base_url, auth=MemberAuth("bearer", token=admin)), config, OPEN)
    try:
        got = await gen3.cohort_counts(CohortQuery("subject", None, ("consent",)), deadline())
        rows = await gen3.cohort_rows(CohortQuery("subject"), ["subject_id"], 0, 1000, deadline())
    finally:
        await gen3.close()
    anonymous = expected(big, None, "consent")
    assert got.total.accessible == sum(c.accessible for c in anonymous.values()) < got.total.all
    assert got.hidden
    assert rows.total == len(rows.rows) == got.total.accessible


async def test_a_bad_token_is_denied(adapter):
    with pytest.raises(AccessDenied) as err:
        await adapter.cohort_counts(CohortQuery("subject"), deadline(), authorization="Bearer not-a-token")
    assert err.value.status == 401


async def test_unknown_facets_are_dropped_and_the_answer_is_partial(adapter):
    got = await adapter.cohort_counts(CohortQuery("subject", None, ("sex", "no_such_field")), deadline())
    assert got.partial and set(got.histograms) == {"sex"} and got.total.all == 200


async def test_rows_are_the_callers_accessible_rows_in_pages(big, adapter):
    auth = await bearer(big, RESEARCHER_USER)
    principal = big.commons.fence.principal_for(RESEARCHER_USER)
    mine = {r["subject_id"] for r in build_indices(big.commons.dataset)["subject"].rows
            if principal.allows("read", [r[AUTH_FIELD]], "guppy")}
    seen: list[str] = []
    offset: int | None = 0
    pages = 0
    while offset is not None:
        page = await adapter.cohort_rows(CohortQuery("subject"), ["subject_id", "sex"], offset, 30, deadline(),
                                         authorization=auth)
        assert page.total == len(mine) and len(page.rows) <= 30
        assert all(set(r) == {"subject_id", "sex"} for r in page.rows)
        seen += [r["subject_id"] for r in page.rows]
        offset, pages = page.next_offset, pages + 1
    assert sorted(seen) == sorted(mine) and pages == -(-len(mine) // 30)
    females = await adapter.cohort_rows(CohortQuery("subject", {"=": {"sex": "female"}}), ["sex"], 0, 1000,
                                        deadline(), authorization=auth)
    assert females.rows and {r["sex"] for r in females.rows} == {"female"} and females.next_offset is None


async def test_discovery_records_page_through_mds(commons, config):
    gen3 = Gen3Adapter(member(commons.base_url), config, OPEN)
    gen3.discovery_page = 2
    try:
        records = await gen3.discovery_records(deadline())
    finally:
        await gen3.close()
    projects = commons.commons.dataset.projects
    assert len(projects) > 2  # more than one page
    assert sorted(g for g, _ in records) == sorted(p.project_id for p in projects)
    for guid, record in records:
        assert record["_guid_type"] == "discovery_metadata" and record["gen3_discovery"]["project_id"] == guid
    assert commons.count("GET", "/mds/metadata") == len(projects) // 2 + 1  # until a short page


def one_route(method: str, path: str, body, status: int = 200) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        if isinstance(body, bytes):
            return web.Response(body=body, status=status, content_type="application/json")
        return web.json_response(body, status=status)

    return faults.recording_app([web.route(method, path, handler)])


async def test_a_member_without_guppy_or_mds_is_unsupported(config):
    async with serve(faults.flaky(10**6, status=404)) as server:
        gen3 = Gen3Adapter(member(server.url), config, OPEN)
        try:
            with pytest.raises(SearchUnsupported):
                await gen3.cohort_counts(CohortQuery("subject"), deadline())
            with pytest.raises(SearchUnsupported):
                await gen3.cohort_rows(CohortQuery("subject"), ["subject_id"], 0, 10, deadline())
            with pytest.raises(SearchUnsupported):
                await gen3.discovery_records(deadline())
        finally:
            await gen3.close()
        assert server.count("/guppy/graphql", "POST") == 2 and server.count("/mds/metadata", "GET") == 1


async def test_drs_members_are_unsupported(config):
    drs = DrsAdapter(member("http://127.0.0.1:9", kind="drs"), config, OPEN)
    try:
        assert isinstance(drs, CohortSearch) and isinstance(drs, StudyDiscovery)
        with pytest.raises(SearchUnsupported) as err:
            await drs.cohort_counts(CohortQuery("subject"), deadline())
        assert err.value.status == 501
        with pytest.raises(SearchUnsupported):
            await drs.cohort_rows(CohortQuery("subject"), ["subject_id"], 0, 10, deadline())
        with pytest.raises(SearchUnsupported):
            await drs.discovery_records(deadline())
    finally:
        await drs.close()


@pytest.mark.parametrize("status", [200, 400])
async def test_graphql_errors_are_a_clear_error(config, status):
    errors = {"errors": [{"message": "Elasticsearch is down", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}],
              "data": None}
    async with serve(one_route("POST", "/guppy/graphql", errors, status)) as server:
        gen3 = Gen3Adapter(member(server.url), config, OPEN)
        try:
            with pytest.raises(GuppyQueryError, match="Guppy GraphQL: answered errors") as err:
                await gen3.cohort_counts(CohortQuery("subject", None, ("sex",)), deadline())
            assert isinstance(err.value, MemberUnavailable) and err.value.status == 502
            assert "Elasticsearch is down" in err.value.detail
            with pytest.raises(GuppyQueryError):
                await gen3.cohort_rows(CohortQuery("subject"), ["subject_id"], 0, 10, deadline())
        finally:
            await gen3.close()


async def test_a_facet_that_errored_makes_the_answer_partial(config):
    body = {"data": {
        "all": {"subject": {"_totalCount": 9, "sex": {"asTextHistogram": [{"key": "f", "count": 9}]}, "race": None}},
        "accessible": {"subject": {"_totalCount": 4, "sex": {"asTextHistogram": [{"key": "f", "count": 4}]},
                                   "race": None}},
    }, "errors": [{"message": "race failed", "path": ["all", "subject", "race"]}]}
    async with serve(one_route("POST", "/guppy/graphql", body)) as server:
        gen3 = Gen3Adapter(member(server.url), config, OPEN)
        try:
            got = await gen3.cohort_counts(CohortQuery("subject", None, ("sex", "race")), deadline())
        finally:
            await gen3.close()
    assert got.partial and got.total == Count(9, 4) and got.histograms == {"sex": {"f": Count(9, 4)}}


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"[1, 2]", b'{"data": 3}'])
async def test_garbage_is_unavailable(config, body):
    async with serve(one_route("*", "/{tail:.*}", body)) as server:
        gen3 = Gen3Adapter(member(server.url), config, OPEN)
        try:
            with pytest.raises(MemberUnavailable):
                await gen3.cohort_counts(CohortQuery("subject"), deadline())
            with pytest.raises(MemberUnavailable):
                await gen3.cohort_rows(CohortQuery("subject"), ["subject_id"], 0, 10, deadline())
            with pytest.raises(MemberUnavailable):
                await gen3.discovery_records(deadline())
        finally:
            await gen3.close()


async def test_a_malformed_or_endless_mds_is_unavailable(config):
    async with serve(one_route("GET", "/mds/metadata", {"a": {"x": 1}, "b": "not a record"})) as server:
        gen3 = Gen3Adapter(member(server.url), config, OPEN)
        try:
            with pytest.raises(MemberUnavailable, match="MDS"):
                await gen3.discovery_records(deadline())
        finally:
            await gen3.close()
    async with serve(one_route("GET", "/mds/metadata", {"a": {}, "b": {}})) as server:
        gen3 = Gen3Adapter(member(server.url), config, OPEN)
        gen3.discovery_page, gen3.discovery_max_pages = 2, 3
        try:
            with pytest.raises(MemberUnavailable, match="more than 3 pages"):
                await gen3.discovery_records(deadline())
        finally:
            await gen3.close()
        assert server.count("/mds/metadata") == 3


async def test_a_hanging_member_runs_out_of_the_deadline(config):
    async with serve(faults.hanging()) as server:
        gen3 = Gen3Adapter(member(server.url), config, OPEN)
        try:
            for call in (lambda d: gen3.cohort_counts(CohortQuery("subject"), d),
                         lambda d: gen3.cohort_rows(CohortQuery("subject"), ["subject_id"], 0, 10, d),
                         gen3.discovery_records):
                start = time.monotonic()
                with pytest.raises(MemberTimeout):
                    await call(Deadline.after(0.4))
                assert time.monotonic() - start < 1.5
        finally:
            await gen3.close()
