"""The in-process reference adapter's search: exact counts (nothing hidden: the gateway tiers), the caller's rows,
the in-process MDS; and agreement with the Gen3 adapter over HTTP on the same commons where Guppy hides nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from adapter_support import bearer, expected, member
from servers import Server, start_commons

import gateway.app.inprocess as reference
from gateway.app.inprocess import ReferenceAdapter
from gateway.core.deadline import Deadline
from gateway.core.egress import OPEN
from gateway.core.errors import AccessDenied, MemberTimeout
from gateway.members.gen3 import Gen3Adapter
from gateway.members.guppy_wire import InvalidQuery
from gateway.members.protocols import CohortSearch, StudyDiscovery
from gateway.members.search import CohortQuery, Count
from refcommons.authz.default_policy import ADMIN_USER, RESEARCHER_USER
from refcommons.guppy.index import AUTH_FIELD, build_indices

FACETS = ("sex", "project_id", "consent", "race", "age_at_enrollment")


@pytest.fixture
async def big() -> AsyncIterator[Server]:
    server = await start_commons("dg.TST3", seed=5, subjects=200)
    yield server
    await server.stop()


@pytest.fixture
def ref(big) -> ReferenceAdapter:
    return ReferenceAdapter(member(big.base_url, kind="reference"), big.commons)


def deadline() -> Deadline:
    return Deadline.after(10)


async def test_it_is_searchable(ref):
    assert isinstance(ref, CohortSearch) and isinstance(ref, StudyDiscovery)


@pytest.mark.parametrize("user", [None, RESEARCHER_USER, ADMIN_USER])
async def test_counts_are_exact_and_nothing_is_hidden(big, ref, user):
    auth = await bearer(big, user) if user else None
    got = await ref.cohort_counts(CohortQuery("subject", None, FACETS), deadline(), authorization=auth)
    assert not got.hidden and not got.partial
    assert got.total.all == len(big.commons.dataset.subjects)
    assert got.total.accessible == sum(c.accessible for c in expected(big, user, "sex").values())
    for facet in FACETS:
        assert got.histograms[facet] == expected(big, user, facet), facet
    if user is None:  # cells Guppy over HTTP hides (inaccessible part under 50) are here, exact
        assert any(0 < c.inaccessible < 50 for c in got.histograms["consent"].values())
    if user == ADMIN_USER:
        assert got.total.inaccessible == 0


async def test_a_filter_and_the_file_index(big, ref):
    got = await ref.cohort_counts(CohortQuery("subject", {"=": {"sex": "male"}}, ("sex",)), deadline())
    assert got.histograms == {"sex": {"male": got.total}}
    assert got.total == expected(big, None, "sex")["male"]
    files = await ref.cohort_counts(CohortQuery("file", None, ("data_type",)), deadline())
    assert files.total.all == len(big.commons.dataset.files)
    assert sum(c.all for c in files.histograms["data_type"].values()) == len(big.commons.dataset.files)


async def test_rows_are_the_callers_accessible_rows(big, ref):
    auth = await bearer(big, RESEARCHER_USER)
    principal = big.commons.fence.principal_for(RESEARCHER_USER)
    mine = sorted(r["subject_id"] for r in build_indices(big.commons.dataset)["subject"].rows
                  if principal.allows("read", [r[AUTH_FIELD]], "guppy"))
    first = await ref.cohort_rows(CohortQuery("subject"), ["subject_id"], 0, 50, deadline(), authorization=auth)
    rest = await ref.cohort_rows(CohortQuery("subject"), ["subject_id"], 50, 1000, deadline(), authorization=auth)
    assert first.total == rest.total == len(mine) > 50
    assert first.next_offset == 50 and rest.next_offset is None
    assert sorted(r["subject_id"] for r in first.rows + rest.rows) == mine
    with pytest.raises(InvalidQuery):
        await ref.cohort_rows(CohortQuery("subject"), ["subject_id }"], 0, 10, deadline())


async def test_discovery_records_from_the_in_process_mds(big, ref, config):
    records = await ref.discovery_records(deadline())
    assert sorted(g for g, _ in records) == sorted(p.project_id for p in big.commons.dataset.projects)
    records[0][1]["gen3_discovery"]["name"] = "changed"  # a copy: the commons' catalogue is untouched
    assert big.commons.metadata.get(records[0][0])["gen3_discovery"]["name"] != "changed"
    gen3 = Gen3Adapter(member(big.base_url), config, OPEN)
    gen3.discovery_page = 2
    try:
        assert sorted(await gen3.discovery_records(deadline())) == sorted(await ref.discovery_records(deadline()))
    finally:
        await gen3.close()


async def test_agrees_with_gen3_over_http_where_nothing_is_hidden(big, ref, config):
    """The admin reads everything, so Guppy hides nothing: both adapters give the same answers."""
    gen3 = Gen3Adapter(member(big.base_url), config, OPEN)
    auth = await bearer(big, ADMIN_USER)
    try:
        for query in (CohortQuery("subject", None, FACETS),
                      CohortQuery("subject", {"IN": {"race": ["White", "Asian"]}}, ("sex", "project_id")),
                      CohortQuery("file", {"=": {"data_format": "CRAM"}}, ("data_type", "project_id"))):
            over_http = await gen3.cohort_counts(query, deadline(), authorization=auth)
            in_process = await ref.cohort_counts(query, deadline(), authorization=auth)
            assert over_http == in_process and not over_http.hidden, query
            assert over_http.total.all > 0
        query = CohortQuery("subject", {"=": {"sex": "female"}})
        for offset in (0, 40):
            assert await gen3.cohort_rows(query, ["subject_id", "bmi"], offset, 40, deadline(), authorization=auth) \
                == await ref.cohort_rows(query, ["subject_id", "bmi"], offset, 40, deadline(), authorization=auth)
        # and for anyone, where a cell is shown over HTTP it equals the exact in-process count
        researcher = await bearer(big, RESEARCHER_USER)
        shown = await gen3.cohort_counts(CohortQuery("subject", None, FACETS), deadline(), authorization=researcher)
        exact = await ref.cohort_counts(CohortQuery("subject", None, FACETS), deadline(), authorization=researcher)
        assert shown.hidden and not exact.hidden
        for facet, cells in shown.histograms.items():
            assert cells == {k: c for k, c in exact.histograms[facet].items() if (facet, k) not in shown.hidden}
        assert {(f, k) for f, c in exact.histograms.items() for k in c} == \
            {(f, k) for f, c in shown.histograms.items() for k in c} | shown.hidden
    finally:
        await gen3.close()


async def test_unknown_facets_make_a_partial_answer(ref):
    got = await ref.cohort_counts(CohortQuery("subject", None, ("sex", "shoe_size")), deadline())
    assert got.partial and set(got.histograms) == {"sex"} and isinstance(got.total, Count)


async def test_a_bad_token_is_denied(ref):
    with pytest.raises(AccessDenied) as err:
        await ref.cohort_counts(CohortQuery("subject"), deadline(), authorization="Bearer nope")
    assert err.value.status == 401


async def test_the_deadline_is_respected(ref, monkeypatch):
    for call in (lambda d: ref.cohort_counts(CohortQuery("subject"), d),
                 lambda d: ref.cohort_rows(CohortQuery("subject"), ["subject_id"], 0, 10, d),
                 ref.discovery_records):
        with pytest.raises(MemberTimeout):
            await call(Deadline.after(0))

    def slow(*args):
        time.sleep(0.5)
        return {}

    monkeypatch.setattr(reference, "run", slow)
    loop = asyncio.get_running_loop()
    start = loop.time()
    with pytest.raises(MemberTimeout):
        await ref.cohort_counts(CohortQuery("subject"), Deadline.after(0.1))
    assert loop.time() - start < 0.4
