"""GA4GH Passports in cohort search and export, end to end (see :mod:`search_eco`): a ``gateway_token`` member gets a
search token naming the granted resources, a ``passport`` member the Passport itself, and what each counts, lists
and exports as accessible is what that member holds for those resources, asked directly."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import pytest_asyncio
from search_eco import Eco, search_eco
from servers import start_gateway

from gateway.access.caller import PassportHolder, SearchCaller
from gateway.core.records import MemberRecord
from gateway.web.keys import COHORT, GATE
from gateway.web.routes.export import PATH as EXPORT_PATH
from gateway.web.routes.search import PATH as COHORT_PATH

pytestmark = pytest.mark.asyncio(loop_scope="module")
MEMBERS = ("tok", "pp")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def eco(tmp_path_factory) -> AsyncIterator[Eco]:
    async with search_eco(tmp_path_factory.mktemp("broker")) as found:
        yield found


async def first_study(eco: Eco, name: str) -> dict[str, Any]:
    return (await eco.controlled(name))[0]


async def c1_grants(eco: Eco) -> dict[str, tuple[str, str]]:
    """Per Passport member: ``(phs, "c1")`` of its first controlled study."""
    return {name: ((await first_study(eco, name))["dbgap_accession"].split(".")[0], "c1") for name in MEMBERS}


def path_of(grant: tuple[str, str]) -> str:
    return f"/programs/{grant[0]}.{grant[1]}"


async def cohort(eco: Eco, body: dict[str, Any], **kw: Any) -> Any:
    return await eco.gateway.client.post(COHORT_PATH, json=body, **kw)


def by_commons(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["commons"]: s for s in doc["sources"]}


async def test_accessible_counts_with_a_c1_passport_are_the_members_own_for_those_resources(eco):
    grants = await c1_grants(eco)
    passport = eco.passport(*grants.values())
    r = await cohort(eco, {"index": "subject", "accessibility": "accessible", "passports": [passport]})
    assert r.status_code == 200, r.text
    got = by_commons(r.json())
    for name in MEMBERS:
        readable = [path_of(grants[name]), *await eco.open_paths(name)]
        want = await eco.direct_count(name, {"in": {"auth_resource_path": readable}})
        assert got[name]["count"] == want and want > 0 and not got[name]["hidden"]
    # the passthrough member is asked anonymously: its open data, as anyone's
    open_pt = {"in": {"auth_resource_path": await eco.open_paths("pt")}}
    assert got["pt"]["count"] == await eco.direct_count("pt", open_pt) > 0


async def test_controlled_data_is_accessible_only_with_the_passport(eco):
    grants = await c1_grants(eco)
    body = {"index": "subject", "accessibility": "accessible"}
    anonymous = by_commons((await cohort(eco, body)).json())
    for name in MEMBERS:
        open_only = await eco.direct_count(name, {"in": {"auth_resource_path": await eco.open_paths(name)}})
        assert anonymous[name]["count"] == open_only  # no Passport: nothing controlled is accessible
        project = (await first_study(eco, name))["project_id"]
        controlled = await cohort(eco, {**body, "filter": {"in": {"project_id": [project]}}})
        assert by_commons(controlled.json())[name]["count"] in (0, None), controlled.text  # 0, or hidden by the member
        with_passport = await cohort(eco, {**body, "passports": [eco.passport(grants[name])]})
        want = open_only + await eco.direct_count(name, {"in": {"auth_resource_path": [path_of(grants[name])]}})
        assert by_commons(with_passport.json())[name]["count"] == want > open_only
        # the same Passport as the bearer token
        bearer = await cohort(eco, body, headers={"Authorization": f"Bearer {eco.passport(grants[name])}"})
        assert by_commons(bearer.json())[name]["count"] == want


async def test_rows_are_only_of_granted_or_open_data(eco):
    grants = await c1_grants(eco)
    passport = eco.passport(*grants.values())
    allowed = {name: {path_of(grants[name]), *await eco.open_paths(name)} for name in MEMBERS}
    rows: list[dict[str, Any]] = []
    cursor = None
    for _ in range(20):
        body = {"index": "subject", "accessibility": "accessible", "passports": [passport],
                "rows": {"limit": 100, "cursor": cursor, "fields": ["subject_id", "auth_resource_path"]}}
        r = await cohort(eco, body)
        assert r.status_code == 200, r.text
        rows += r.json()["rows"]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert cursor is None
    for name in MEMBERS:
        mine = [row for row in rows if row["commons"] == name]
        assert {row["auth_resource_path"] for row in mine} == allowed[name]
        assert len(mine) == await eco.direct_count(name, {"in": {"auth_resource_path": sorted(allowed[name])}})


async def test_an_export_holds_only_granted_or_open_files(eco):
    grants = await c1_grants(eco)
    passport = eco.passport(*grants.values())
    r = await eco.gateway.client.post(EXPORT_PATH, json={"index": "file", "format": "manifest", "delivery": "stream",
                                                         "passports": [passport]})
    assert r.status_code == 200, r.text
    entries = orjson.loads(r.content)
    for name in MEMBERS:
        allowed = {path_of(grants[name]), *await eco.open_paths(name)}
        commons = eco.commons[name].commons
        assert commons is not None
        ids = [e["object_id"] for e in entries if e["object_id"].lower().startswith(commons.settings.prefix.lower())]
        records = [await commons.index.get(i) for i in ids]
        assert records and all(rec is not None and set(rec.authz) <= allowed for rec in records)
        assert len(ids) == await eco.direct_count(name, {"in": {"auth_resource_path": sorted(allowed)}}, index="file")
    anonymous = await eco.gateway.client.post(EXPORT_PATH, json={"index": "file", "format": "manifest",
                                                                 "delivery": "stream"})
    assert anonymous.status_code == 200 and len(orjson.loads(anonymous.content)) < len(entries)


async def member_and_caller(eco: Eco, name: str, passport: str) -> tuple[Any, SearchCaller, Any]:
    gate = eco.gateway.app[GATE]
    member = next(m for m in await eco.gateway.app[COHORT].members() if m.id == name)
    admitted = await gate.admit([passport], has_authorization=False)
    return member, SearchCaller(None, PassportHolder(gate, admitted)), admitted


async def test_a_search_token_is_no_download_token_and_an_object_token_no_search_token(eco):
    grants = await c1_grants(eco)
    passport = eco.passport(grants["tok"])
    member, caller, admitted = await member_and_caller(eco, "tok", passport)
    search = await caller.authorization_for(member)
    assert search is not None and search.startswith("Bearer ")
    commons = eco.commons["tok"]
    assert commons.commons is not None
    record = next(r for r in await commons.commons.index.list(limit=1024) if r.authz == [path_of(grants["tok"])])
    # the search token counts at Guppy, but does not download
    q = "{ _aggregation { subject(accessibility: accessible) { _totalCount } } }"
    counted = await commons.client.post("/guppy/graphql", json={"query": q}, headers={"Authorization": search})
    assert counted.status_code == 200 and counted.json()["data"]["_aggregation"]["subject"]["_totalCount"] > 0
    refused = await commons.client.get(f"/user/data/download/{record.did}", params={"protocol": "s3"},
                                       headers={"Authorization": search})
    assert refused.status_code == 401, refused.text
    # an object token downloads, but Guppy refuses it
    gate = eco.gateway.app[GATE]
    obj = await gate.token(admitted, member, MemberRecord("tok", record.did, "indexd", record.to_json()),
                           int(time.time()) + 60)
    downloads = await commons.client.get(f"/user/data/download/{record.did}", params={"protocol": "s3"},
                                         headers={"Authorization": f"Bearer {obj}"})
    assert downloads.status_code == 200, downloads.text
    guppy = await commons.client.post("/guppy/graphql", json={"query": q}, headers={"Authorization": f"Bearer {obj}"})
    assert guppy.status_code == 401, guppy.text
    assert obj not in guppy.text and search.split()[1] not in refused.text


async def test_what_each_member_is_sent(eco):
    passport = eco.passport(*(await c1_grants(eco)).values())
    _, caller, _ = await member_and_caller(eco, "tok", passport)
    members = {m.id: m for m in await eco.gateway.app[COHORT].members()}
    assert await caller.authorization_for(members["pp"]) == f"Bearer {passport}"
    # a Passport is never forwarded as an ordinary token to a passthrough member
    assert await caller.authorization_for(members["pt"]) is None
    assert await caller.authorization_for(members["px"]) is None
    # one token per member and request while it has time left
    assert await caller.authorization_for(members["tok"]) == await caller.authorization_for(members["tok"])
    # Passports granting nothing: the member is asked anonymously
    _, nothing, _ = await member_and_caller(eco, "tok", eco.broker.passport([]))
    assert await nothing.authorization_for(members["tok"]) is None


async def test_bad_passport_requests(eco):
    grants = await c1_grants(eco)
    good = eco.passport(grants["tok"])
    body = {"index": "subject", "accessibility": "accessible"}
    both = await cohort(eco, {**body, "passports": [good]}, headers={"Authorization": f"Bearer {good}"})
    assert both.status_code == 400 and both.json()["status_code"] == 400
    with_token = await cohort(eco, {**body, "passports": [good]}, headers={"Authorization": "Bearer abc.def.ghi"})
    assert with_token.status_code == 400  # rule 2: Passports and another credential
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    rejected = await cohort(eco, {**body, "passports": [tampered]})
    assert rejected.status_code == 401 and tampered not in rejected.text
    assert rejected.headers.get("WWW-Authenticate")
    empty = await cohort(eco, {**body, "passports": []})
    assert empty.status_code in (400, 401)
    export = await eco.gateway.client.post(EXPORT_PATH, json={"index": "file", "format": "manifest",
                                                              "passports": [tampered]})
    assert export.status_code == 401


async def test_passports_are_ignored_when_not_enabled(eco):
    """With Passports off they are ignored: the answer is the one without them (DRS, export and discovery alike:
    ``tests/gateway/passports/test_passports_off_everywhere.py``)."""
    passport = eco.passport(*(await c1_grants(eco)).values())
    gateway = await start_gateway(store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
                                  aggregate={"harvest": {"enabled": False}})
    try:
        body = {"index": "subject"}
        plain = await gateway.client.post(COHORT_PATH, json=body)
        assert plain.status_code != 400
        r = await gateway.client.post(COHORT_PATH, json={**body, "passports": [passport]})
        assert (r.status_code, r.json()) == (plain.status_code, plain.json())
        bearer = await gateway.client.post(COHORT_PATH, json=body, headers={"Authorization": f"Bearer {passport}"})
        assert (bearer.status_code, bearer.json()) == (plain.status_code, plain.json())
        export_body = {"index": "file"}
        plain_export = await gateway.client.post(EXPORT_PATH, json=export_body)
        export = await gateway.client.post(EXPORT_PATH, json={**export_body, "passports": [passport]})
        assert plain_export.status_code != 400
        assert (export.status_code, export.json()) == (plain_export.status_code, plain_export.json())
    finally:
        await gateway.stop()
