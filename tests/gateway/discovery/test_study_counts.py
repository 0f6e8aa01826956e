"""Tiered study counts at ``/mds/aggregate/*``, end to end (see :mod:`search_eco`; tier ``regular``, limit 50): a
study's counts are shown when the caller may read every one of its ``authz`` resources at its member (the member's
``/user/user`` for a token forwarded to it; the resource map for Passports; for everyone, what the member's
``/authz/mapping`` lets anyone read: see test_open_study_counts.py for small open studies), otherwise hidden in
``(0, 50)`` and further so that none follows from the others; on every route that returns studies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from search_eco import Eco, search_eco

from gateway.access.readable import UserAuthz, from_authz_map
from gateway.cache import open_cache
from gateway.cache.redis import RedisCache
from gateway.web.keys import COHORT
from gateway.web.routes.discovery import COUNTED_FIELDS
from refcommons.authz.default_policy import MEMBER_USER

pytestmark = pytest.mark.asyncio(loop_scope="module")
AGG = "/mds/aggregate"
LIMIT = 50


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def eco(tmp_path_factory) -> AsyncIterator[Eco]:
    async with search_eco(tmp_path_factory.mktemp("broker")) as found:
        yield found


async def get(eco: Eco, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
    r = await eco.gateway.client.get(AGG + path, params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def studies_of(body: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """``(commons, guid) → study`` of any listing shape (grouped, flattened, paginated)."""
    results = body["results"] if isinstance(body, dict) and "pagination" in body else body
    items = results if isinstance(results, list) else [i for lst in results.values() for i in lst]
    return {(doc["gen3_discovery"]["commons_name"], guid): doc["gen3_discovery"]
            for item in items for guid, doc in item.items()}


async def truth(eco: Eco) -> dict[tuple[str, str], dict[str, Any]]:
    """Every member's studies as its own MDS has them (``px`` is ``pt`` behind the proxy)."""
    out = {}
    for name, source in (("tok", "tok"), ("pp", "pp"), ("pt", "pt"), ("px", "pt")):
        for guid, study in (await eco.studies(source)).items():
            out[(name, guid)] = study
    return out


async def open_studies(eco: Eco) -> set[tuple[str, str]]:
    """The studies anyone may read, by each member's own anonymous ``/authz/mapping``."""
    real = await truth(eco)
    out = set()
    for name, source in (("tok", "tok"), ("pp", "pp"), ("pt", "pt"), ("px", "pt")):
        r = await eco.commons[source].client.get("/authz/mapping")
        assert r.status_code == 200, r.text
        readable = from_authz_map(r.json())
        out |= {k for k, s in real.items() if k[0] == name and readable.covers_all(s["authz"])}
    assert out
    return out


RAW = {"_subjects_count": "subjects_count", "_samples_count": "samples_count", "_files_count": "files_count"}


def check_tiering(got: dict[tuple[str, str], dict[str, Any]], real: dict[tuple[str, str], dict[str, Any]],
                  mine: set[tuple[str, str]]) -> set[tuple[str, str, str]]:
    """Every count shown is the member's own; the caller's studies show all; others hide what is in (0, limit),
    and no member has a single hidden count next to other inaccessible shown ones. The hidden cells."""
    hidden = set()
    for key, study in got.items():
        listed = study.get("_hidden_counts", [])
        for field in COUNTED_FIELDS:
            value = real[key][RAW[field]]
            if study[field] is None:
                assert field in listed and key not in mine
                hidden.add((*key, field))
            else:
                assert study[field] == value and field not in listed
                assert key in mine or not 0 < value < LIMIT
    for commons in {c for c, _ in got}:
        for field in COUNTED_FIELDS:
            theirs = [k for k in got if k[0] == commons and k not in mine]
            n = sum(1 for k in theirs if (*k, field) in hidden)
            assert n != 1 or len(theirs) == 1, (commons, field)  # one hidden alone would follow from the total
    return hidden


async def test_anonymous_callers_get_tiered_counts_and_cost_at_most_one_cached_member_call(eco):
    real = await truth(eco)
    before = len(eco.proxied)
    body = await get(eco, "/metadata", limit=2000)
    got = studies_of(body)
    assert set(got) == set(real)
    # the open studies are everyone's; px was asked what anyone may read there at most once (then cached)
    assert eco.proxied[before:] in ([], ["/authz/mapping"])
    before = len(eco.proxied)
    hidden = check_tiering(got, real, await open_studies(eco))
    assert hidden  # some controlled studies are small
    assert any(study["_files_count"] is not None for study in got.values())  # large counts are shown
    # every route answers the same counts
    assert studies_of(await get(eco, "/metadata", limit=2000, flatten="true")) == got
    paged = await get(eco, "/metadata", limit=2, offset=1, pagination="true")
    assert paged["pagination"]["hits"] == len(real)
    assert all(got[k] == v for k, v in studies_of(paged).items())
    for name in ("tok", "pp", "pt", "px"):
        listed = await get(eco, f"/metadata/{name}")
        for doc in listed:
            study = doc["gen3_discovery"]
            assert got[(name, study["_unique_id"])] == study
    for key in got:
        by_guid = await get(eco, f"/metadata/guid/{key[1]}")
        first = next(k for k in got if k[1] == key[1])
        assert by_guid["gen3_discovery"] == got[first]
    assert studies_of(await get(eco, "/search", q="study", limit=2000)).items() <= got.items()
    assert len(eco.proxied) == before  # anonymous, mapping cached: no call at all to the member


async def test_counts_fields_are_tiered_too(eco):
    real = await truth(eco)
    got = studies_of(await get(eco, "/metadata", limit=2000, counts="consent_groups,data_types"))
    for key, study in got.items():
        for field in ("consent_groups", "data_types"):
            n = len(real[key][field])
            assert study[field] == n or (study[field] is None and 0 < n < LIMIT and field in study["_hidden_counts"])
    assert any(s["data_types"] is None for s in got.values())


async def test_a_filter_cannot_reveal_a_hidden_count(eco):
    real = await truth(eco)
    got = studies_of(await get(eco, "/metadata", limit=2000))
    key = next(k for k, s in got.items() if s["_subjects_count"] is None)
    value = real[key]["subjects_count"]
    found = await get(eco, "/search", _subjects_count=str(value), pagination="true", limit=2000)
    assert key not in studies_of(found)
    shown = next(k for k, s in got.items() if s["_subjects_count"] is not None)
    again = await get(eco, "/search", _subjects_count=str(real[shown]["subjects_count"]), limit=2000)
    assert shown in studies_of(again)  # a shown count still filters


async def test_info_and_tags_carry_no_study_counts(eco):
    anonymous = await get(eco, "/tags")
    with_token = await get(eco, "/tags", headers={"Authorization": f"Bearer {eco.token('pt')}"})
    assert anonymous == with_token
    assert set(await get(eco, "/info/tok")) == {"commons_url"}
    schema = await get(eco, "/info/schema")
    assert "_subjects_count" in schema and "_hidden_counts" not in schema


async def test_a_token_caller_sees_the_studies_its_member_grants_it(eco):
    real = await truth(eco)
    token = eco.token("pt", MEMBER_USER)
    user = await eco.commons["pt"].client.get("/user/user", headers={"Authorization": f"Bearer {token}"})
    readable = from_authz_map(user.json()["authz"])
    mine = {k for k, s in real.items() if k[0] == "pt" and readable.covers_all(s["authz"])}
    assert mine  # the consortium's study (and the open one)
    before = len(eco.proxied)
    got = studies_of(await get(eco, "/metadata", limit=2000, headers={"Authorization": f"Bearer {token}"}))
    check_tiering(got, real, mine | await open_studies(eco))
    assert all(got[k]["_subjects_count"] == real[k]["subjects_count"] for k in mine)
    # px (pt behind a proxy) did not issue this token: it is not sent there, and nothing is asked of it
    assert not any(p == "/user/user" for p in eco.proxied[before:])


async def test_a_passport_caller_sees_its_studies_at_passport_members(eco):
    real = await truth(eco)
    study = (await eco.controlled("tok"))[0]
    phs = study["dbgap_accession"].split(".")[0]
    passport = eco.passport(*((phs, c) for c in study["consent_groups"]))
    got = studies_of(await get(eco, "/metadata", limit=2000, headers={"Authorization": f"Bearer {passport}"}))
    mine = {("tok", study["project_id"])} | await open_studies(eco)
    hidden = check_tiering(got, real, mine)
    assert got[("tok", study["project_id"])]["_subjects_count"] == study["subjects_count"]
    # the member's other small study stays hidden (and check_tiering: none follows from the others)
    others = [k for k in got if k[0] == "tok" and k not in mine]
    assert others and any((*k, "_subjects_count") in hidden for k in others)
    # one consent group of two: not the caller's study (all of its authz is needed)
    partial = eco.passport((phs, study["consent_groups"][0]))
    one = await get(eco, f"/metadata/guid/{study['project_id']}", headers={"Authorization": f"Bearer {partial}"})
    assert one["gen3_discovery"]["_subjects_count"] is None


async def test_user_authz_is_shared_through_redis_and_never_keyed_by_the_token(eco, redis_url, redis_key_prefix):
    token = f"Bearer {eco.token('pt', MEMBER_USER)}"
    member = next(m for m in await eco.gateway.app[COHORT].members() if m.id == "pt")
    adapter_of = eco.gateway.app[COHORT].directory.adapter
    one = await open_cache(redis_url, key_prefix=redis_key_prefix)
    two = await open_cache(redis_url, key_prefix=redis_key_prefix)
    try:
        first = await UserAuthz(one, adapter_of).readable(member, token)
        assert first and first.trees
        key = UserAuthz.key(member, token)
        assert token.split()[1] not in key
        # another replica, whose member lookups would all fail: served from the shared cache
        assert await UserAuthz(two, lambda m: object()).readable(member, token) == first
        assert isinstance(one, RedisCache)
        assert 0 < await one.client.ttl(redis_key_prefix + key) <= 60
        # an expired token reads nothing and costs no call
        commons = eco.commons["pt"].commons
        assert commons is not None
        expired = commons.fence.tokens.issue_access_token(MEMBER_USER, now=1, ttl=60)
        assert not await UserAuthz(two, lambda m: object()).readable(member, f"Bearer {expired}")
    finally:
        await one.close()
        await two.close()
