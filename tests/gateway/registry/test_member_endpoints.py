"""Real Gen3 deployments as members (issue 16): per-service endpoints, capabilities found at the join and re-checked by
the prober, honest answers for what a member does not offer.

The servers are real: a reference commons in Gen3's one-host layout, indexd alone at its root in front of it (as
uc-cdis/indexd ships: no fence, Flask's HTML 404 elsewhere) and fence alone on another port
(``tests/support/member_layouts.py``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from cohort_kit import sources
from member_layouts import Relay, start_bare_indexd, start_fence_apart
from registry_kit import ADMIN, Candidate, join_body

from gateway.core.member import Member, Status
from gateway.registry.config_members import declared_members
from gateway.settings.gateway import Settings
from gateway.web.keys import HARVESTER, REGISTRY

NO_SERVICES = {"fence": None, "guppy": None, "mds": None, "authz": None, "dictionary": None}


@pytest.fixture
async def bare(commons: Candidate) -> AsyncIterator[Relay]:
    relay = await start_bare_indexd(commons.base_url)
    yield relay
    await relay.stop()


async def first_guid(commons: Candidate) -> str:
    import httpx

    async with httpx.AsyncClient() as client:
        return (await client.get(f"{commons.base_url}/index/index", params={"limit": 1})).json()["records"][0]["did"]


async def joined(gw, body: dict) -> dict:
    r = await gw.client.post("/registry/v1/commons", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    member = r.json()
    r = await gw.client.post(f"/registry/v1/commons/{member['id']}/approve", headers=ADMIN)
    assert r.status_code == 200, r.text
    return r.json()


async def test_indexd_at_its_root_with_the_gen3_defaults_is_refused_naming_the_records_path(
        gateway_at, base_settings, bare):
    async with gateway_at(**base_settings) as gw:
        r = await gw.client.post("/registry/v1/commons", json=join_body(bare.base_url, "Bare", ["dg.TST1"]),
                                 headers=ADMIN)
        assert r.status_code == 422, r.text
        reason = r.json()["error"]
        assert reason.startswith(f"candidate {bare.base_url} refused: its records path does not answer like indexd")
        assert f"GET {bare.base_url}/index/index: HTTP 404" in reason
        assert "endpoints" in reason
        assert "GET /_status" in bare.seen  # the status route answered: it is not enough
        assert (await gw.client.get("/registry/v1/commons")).json()["commons"] == []


async def test_a_bare_indexd_declared_at_its_root_joins_and_serves_records_without_signed_urls(
        gateway_at, base_settings, bare, commons, caplog):
    guid = await first_guid(commons)
    async with gateway_at(**base_settings) as gw:
        member = await joined(gw, join_body(bare.base_url, "Bare", ["dg.TST1"],
                                            endpoints={"indexd": bare.base_url, **NO_SERVICES}))
        assert member["endpoints"] == {"indexd": bare.base_url, "drs": bare.base_url, **NO_SERVICES}
        assert member["hostnames"] == [bare.hostname]
        assert member["capabilities"]["offers"] == ["records", "bulk"]
        assert member["capabilities"]["missing"]["signed_urls"] == "it has no fence service"
        assert member["capabilities"]["checked"]
        listed = (await gw.client.get("/registry/v1/commons")).json()["commons"][0]
        assert listed["endpoints"] == member["endpoints"] and listed["capabilities"] == member["capabilities"]

        r = await gw.client.get(f"/ga4gh/drs/v1/objects/{guid}")
        assert r.status_code == 200, r.text
        methods = r.json()["access_methods"]
        assert methods and all("access_id" not in m for m in methods)
        assert {m["access_url"]["url"].split(":")[0] for m in methods} <= {"s3", "gs", "https"}
        assert (await gw.client.get(f"/index/{guid}")).json()["did"] == guid
        bulk = await gw.client.post("/ga4gh/drs/v1/objects", json={"bulk_object_ids": [guid]})
        assert bulk.status_code == 200 and bulk.json()["resolved_drs_object"][0]["id"] == guid
        assert "POST /bulk/documents" in bare.seen

        asked = len(bare.seen)
        r = await gw.client.get(f"/ga4gh/drs/v1/objects/{guid}/access/s3")
        assert r.status_code == 501, r.text
        assert r.json()["status_code"] == 501
        assert "member commons bare offers no signed URLs (it has no fence service)" in r.json()["msg"]
        r = await gw.client.post("/ga4gh/drs/v1/objects/access",
                                 json={"bulk_object_access_ids": [{"bulk_object_id": guid, "bulk_access_ids": ["s3"]}]})
        assert r.status_code == 200, r.text
        assert r.json()["unresolved_drs_objects"] == [{"error_code": 501, "object_ids": [guid]}]
        assert not any("/access/" in s for s in bare.seen[asked:]), "no access call reaches a member without fence"

        r = await gw.client.post("/api/v4/drs/resolve",
                                 json={"url": f"drs://{guid.replace('/', ':')}", "fields": ["size", "accessUrl"]})
        assert r.status_code == 200, r.text
        assert r.json()["accessUrl"] is None and r.json()["size"] > 0

        # search and discovery skip it, say so, and warn about nothing, round after round
        caplog.set_level(logging.INFO)
        r = await gw.client.post("/search/v1/cohort", json={"index": "subject", "filter": {}, "facets": []})
        assert r.status_code == 503, r.text  # the only member cannot search: no member answered
        assert sources(r.json())["bare"]["status"] == "unsupported"
        assert sources(r.json())["bare"]["error"] == "Guppy GraphQL: not offered (it has no guppy service)"
        harvester = gw.app[HARVESTER]
        for slot in (10, 11, 12):
            await harvester.run_once(slot)
        status = {row["commons"]: row for row in (await gw.client.get("/mds/aggregate/status")).json()["sources"]}
        assert status["bare"]["status"] == "unsupported"
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "bare" in str(r.__dict__)]
        assert not any(s.startswith(("POST /guppy", "GET /mds")) for s in bare.seen)

        status = (await gw.client.get("/_status")).json()
        assert status["members"]["offers"] == {"bare": ["records", "bulk"]}
        assert status["members"]["misconfigured"] == []


async def test_a_member_whose_records_path_stops_answering_is_misconfigured_not_missing(
        gateway_at, base_settings, bare, commons):
    guid = await first_guid(commons)
    async with gateway_at(**base_settings) as gw:
        await joined(gw, join_body(bare.base_url, "Bare", ["dg.TST1"], endpoints={"indexd": bare.base_url,
                                                                                  **NO_SERVICES}))
        assert (await gw.client.get(f"/ga4gh/drs/v1/objects/{guid}")).status_code == 200
        health = gw.app[REGISTRY].health

        bare.broken = True  # the layout changed under the member: its records path answers Flask's HTML 404
        await health.run_once(slot=1)
        member = (await gw.client.get("/registry/v1/commons/bare")).json()
        assert "records" not in member["capabilities"]["offers"]
        assert member["capabilities"]["missing"]["records"].startswith(f"GET {bare.base_url}/index: HTTP 404")
        report = (await gw.client.get("/registry/v1/commons/bare/health")).json()
        assert report["recent_failures"][-1]["detail"].startswith("misconfigured: GET ")
        assert report["misconfigured"] == member["capabilities"]["missing"]["records"]
        assert (await gw.client.get("/_status")).json()["members"]["misconfigured"] == ["bare"]

        r = await gw.client.get(f"/ga4gh/drs/v1/objects/{guid}")
        assert r.status_code == 502, r.text
        assert "member bare is misconfigured: GET " in r.json()["msg"] and "HTTP 404" in r.json()["msg"]
        r = await gw.client.get("/resolver/v1/resolve", params={"id": guid})
        assert r.status_code == 502 and "misconfigured" in r.json()["error"]

        bare.broken = False  # put right: the next round finds the records again
        await health.run_once(slot=2)
        assert (await gw.client.get(f"/ga4gh/drs/v1/objects/{guid}")).status_code == 200
        audit = (await gw.client.get("/registry/v1/audit", headers=ADMIN)).json()["entries"]
        assert [e["actor"] for e in audit if e["action"] == "capabilities"] == ["health", "health"]


async def test_a_transient_failure_does_not_change_what_a_member_offers(gateway_at, base_settings, bare):
    async with gateway_at(**base_settings) as gw:
        await joined(gw, join_body(bare.base_url, "Bare", ["dg.TST1"], endpoints={"indexd": bare.base_url,
                                                                                  **NO_SERVICES}))
        before = (await gw.client.get("/registry/v1/commons/bare")).json()["capabilities"]
        await bare.stop()  # unreachable: nothing learnt about its layout
        await gw.app[REGISTRY].health.run_once(slot=1)
        assert (await gw.client.get("/registry/v1/commons/bare")).json()["capabilities"] == before


async def test_fence_on_its_own_host_and_port_signs_the_urls(gateway_at, base_settings, commons):
    fence = await start_fence_apart(commons.base_url)
    guid = await first_guid(commons)
    try:
        async with gateway_at(**base_settings) as gw:
            member = await joined(gw, join_body(commons.base_url, "Apart", ["dg.TST1"],
                                                endpoints={"fence": fence.base_url}))
            assert member["endpoints"]["fence"] == fence.base_url
            assert member["endpoints"]["indexd"] == f"{commons.base_url}/index"
            assert "signed_urls" in member["capabilities"]["offers"]
            r = await gw.client.get(f"/ga4gh/drs/v1/objects/{guid}")
            assert any(m.get("access_id") for m in r.json()["access_methods"])
            r = await gw.client.get(f"/ga4gh/drs/v1/objects/{guid}/access/s3")
            assert r.status_code == 200, r.text
            assert r.json()["url"]
            assert any(s.startswith("GET /data/download/") and "protocol=s3" in s for s in fence.seen)
    finally:
        await fence.stop()


async def test_endpoints_are_validated_and_egress_checked(gateway_at, base_settings, commons):
    async with gateway_at(**base_settings) as gw:
        for endpoints, fragment in [({"indexd": "ftp://x"}, "endpoints.indexd: the URL must be an http"),
                                    ({"wiki": "http://x"}, "unknown service 'wiki'"),
                                    ({"fence": "http://u:p@x"}, "endpoints.fence: the URL must not carry")]:
            r = await gw.client.post("/registry/v1/commons", headers=ADMIN,
                                     json=join_body(commons.base_url, "Bad", ["dg.TST1"], endpoints=endpoints))
            assert r.status_code == 400, r.text
            assert fragment in r.text
        denying = {**base_settings, "egress": {"deny_networks": ["10.0.0.0/8"]}}
    async with gateway_at(**denying) as gw:
        r = await gw.client.post("/registry/v1/commons", headers=ADMIN, json=join_body(
            commons.base_url, "Inside", ["dg.TST1"], endpoints={"fence": "http://10.1.2.3:8000"}))
        assert r.status_code == 422 and "10.1.2.3" in r.json()["error"]
        member = await joined(gw, join_body(commons.base_url, "Fine", ["dg.TST1"]))
        assert member["capabilities"]["checked"]
        r = await gw.client.patch("/registry/v1/commons/fine", headers=ADMIN,
                                  json={"endpoints": {"fence": "http://10.1.2.3:8000"}})
        assert r.status_code == 422 and "http://10.1.2.3:8000" in r.json()["error"]
        r = await gw.client.patch("/registry/v1/commons/fine", headers=ADMIN, json={"endpoints": {"guppy": None}})
        assert r.status_code == 200, r.text
        assert r.json()["endpoints"]["guppy"] is None and r.json()["capabilities"]["checked"] is None  # found again
        assert "cohort_search" not in r.json()["capabilities"]["offers"]


def test_stored_records_without_endpoints_load_with_the_kinds_defaults():
    old = {"id": "old", "name": "Old", "base_url": "https://data.example.org", "kind": "gen3",
           "prefixes": ["dg.old1"], "hostnames": ["data.example.org"], "status": "active",
           "auth": {"type": "none"}, "source": "api", "created": "", "updated": ""}
    member = Member.from_doc(old)
    assert member.status == Status.active and member.declared_endpoints == () and member.capabilities is None
    assert member.endpoints.indexd == "https://data.example.org/index"
    assert member.endpoints.fence == "https://data.example.org/user"
    assert member.offers("signed_urls") and member.offers("cohort_search")
    assert Member.from_doc(member.to_doc()) == member
    drs = Member.from_doc({**old, "kind": "drs"})
    assert drs.endpoints.to_doc() == {"indexd": None, "drs": "https://data.example.org", "fence": None,
                                      "guppy": None, "mds": None, "authz": None, "dictionary": None}
    assert drs.offers("records") and not drs.offers("cohort_search")


def test_declared_endpoints_in_the_configuration_file():
    settings = Settings(refcommons={"enabled": False}, registry={"members": [
        {"id": "bare", "name": "Bare", "base_url": "http://indexd.example.org:8000/", "kind": "gen3",
         "prefixes": ["dg.BARE"], "endpoints": {"indexd": "http://indexd.example.org:8000/", "fence": None,
                                                "drs": "http://drs.example.org"}}]})
    [member] = declared_members(settings)
    assert member.endpoints.indexd == "http://indexd.example.org:8000"
    assert member.endpoints.fence is None and member.endpoints.guppy == "http://indexd.example.org:8000/guppy"
    assert member.hostnames == ("indexd.example.org:8000", "drs.example.org")
    assert not member.offers("signed_urls")
    assert member.public()["endpoints"]["drs"] == "http://drs.example.org"


async def test_a_service_on_another_host_is_not_followed_off_its_own_origin(gateway_at, base_settings, commons):
    """Redirects are followed only within the origin of the endpoint asked: fence on its own port sending the call to
    the member's main host (another origin) is not followed, whatever the member's base_url."""
    from aiohttp import web
    from registry_kit import serve

    guid = await first_guid(commons)
    hops: list[str] = []

    async def bounce(request: web.Request) -> web.Response:
        hops.append(request.path)
        if request.path.startswith("/data/download/"):  # the join check's probe id answers like fence
            if "00000000-0000-4000-8000-000000000000" in request.path:
                return web.json_response({"error": "no record"}, status=404)
            raise web.HTTPFound(f"{commons.base_url}/user{request.path_qs}")
        return web.json_response({"error": "no"}, status=404)

    app = web.Application()
    app.router.add_get("/{tail:.*}", bounce)
    runner, fence = await serve(app)
    try:
        async with gateway_at(**base_settings) as gw:
            await joined(gw, join_body(commons.base_url, "Bouncy", ["dg.TST1"], endpoints={"fence": fence}))
            r = await gw.client.get(f"/ga4gh/drs/v1/objects/{guid}/access/s3")
            assert r.status_code == 502, r.text
            assert r.json()["msg"] == "member commons bouncy: answered HTTP 302"
            assert len([h for h in hops if guid.split("/")[1] in h]) == 1, "asked once, the redirect not followed"
    finally:
        await runner.cleanup()


def test_what_a_check_finds_is_what_the_member_offers():
    from gateway.core.member import Capabilities
    from gateway.registry.join import Finding, capabilities_from, refusal_for

    found = [Finding("records", "unknown", "GET http://x/index/index: no answer in time"),
             Finding("bulk", "yes"), Finding("signed_urls", "no", "it has no fence service"),
             Finding("cohort_search", "unknown", "GET http://x/guppy/_status: HTTP 503")]
    joined = capabilities_from(found, "t0")
    assert joined.offers == {"records", "bulk"}  # a slow records path is no layout error; anything else unknown: not
    assert dict(joined.missing) == {"signed_urls": "it has no fence service",
                                    "cohort_search": "GET http://x/guppy/_status: HTTP 503"}
    assert refusal_for("http://x", found) is None
    assert "HTTP 404" in str(refusal_for("http://x", [Finding("records", "no", "GET http://x/index/index: HTTP 404")]))
    before = Capabilities(frozenset({"records", "cohort_search"}), (("bulk", "earlier"),), "t0")
    again = capabilities_from([Finding("records", "unknown"), Finding("bulk", "unknown"),
                               Finding("cohort_search", "unknown")], "t1", previous=before)
    assert again.same_as(before) and again.checked == "t1"  # nothing learnt: the last finding stands
