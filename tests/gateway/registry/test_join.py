"""Joining over HTTP: the happy path to the GA4GH service registry, every refusal with its status and exact
reason (as an admin making the call and the audit log see it: an anonymous joiner gets one generic refusal, see
test_registry_egress.py), body validation and the per-address rate limit."""

from __future__ import annotations

import time

import pytest
from registry_kit import ADMIN, join_body

SECRET = "member-bearer-SECRET-42"


async def test_join_approve_and_list_in_services(gateway_at, base_settings, commons):
    async with gateway_at(**base_settings) as gw:
        body = join_body(commons.base_url, "Test Commons One", ["DG.TST1"],
                         auth={"type": "bearer", "token": SECRET})
        r = await gw.client.post("/registry/v1/commons", json=body)
        assert r.status_code == 201, r.text
        joined = r.json()
        assert joined["id"] == "test-commons-one" and joined["status"] == "pending"
        assert joined["prefixes"] == ["dg.tst1"]
        assert joined["hostnames"] == [commons.base_url.removeprefix("http://")]
        assert joined["auth"] == {"type": "bearer"}
        # the reference commons has no /_status: the indexd status answered
        assert joined["check"]["path"] == "/index/_status" and joined["check"]["body"] == "healthy"
        assert r.headers["Location"] == "/registry/v1/commons/test-commons-one"

        assert (await gw.client.get("/services")).json() == []
        assert (await gw.client.get("/services/test-commons-one")).status_code == 404
        pending = (await gw.client.get("/registry/v1/commons", params={"status": "pending"})).json()
        assert [m["id"] for m in pending["commons"]] == ["test-commons-one"]

        r = await gw.client.post("/registry/v1/commons/test-commons-one/approve", headers=ADMIN)
        assert r.status_code == 200 and r.json()["status"] == "active"
        r = await gw.client.post("/registry/v1/commons/test-commons-one/approve", headers=ADMIN)
        assert r.status_code == 200, "approving an active member is a no-op"

        services = (await gw.client.get("/services")).json()
        assert len(services) == 1
        service = services[0]
        assert service["id"] == "test-commons-one" and service["url"] == commons.base_url + "/ga4gh/drs/v1"
        assert service["type"] == {"group": "org.ga4gh", "artifact": "drs", "version": "1.2.0"}
        assert service["organization"] == {"name": "Test Commons One", "url": commons.base_url}
        assert service["contactUrl"] == "mailto:ops@example.org"
        assert service["createdAt"] and service["updatedAt"] >= service["createdAt"]
        assert (await gw.client.get("/services/test-commons-one")).json() == service
        assert (await gw.client.get("/services/types")).json() == [service["type"]]
        assert (await gw.client.get("/registry/v1/commons", params={"status": "pending"})).json()["commons"] == []

        r = await gw.client.post("/registry/v1/commons/test-commons-one/suspend", headers=ADMIN)
        assert r.json()["status"] == "suspended"
        assert (await gw.client.get("/services")).json() == []

        for path in ("/registry/v1/commons", "/registry/v1/commons/test-commons-one", "/services/types",
                     "/registry/v1/audit"):
            assert SECRET not in (await gw.client.get(path, headers=ADMIN)).text


@pytest.mark.parametrize(
    ("mode", "fragment"),
    [
        ("e500", "HTTP 500"),
        ("huge", "response too large: Content-Length"),
        ("stream", "response too large: body exceeds 65536 bytes"),
        ("html", "neither a JSON object nor the indexd text 'Healthy'"),
        ("array", "JSON list, expected an object"),
        ("offhost", "redirect off the declared host to elsewhere.invalid refused"),
        ("loop", "more than 3 redirects"),
        ("nothing", "/_status: HTTP 404; /index/_status: HTTP 404; /ga4gh/drs/v1/service-info: HTTP 404"),
    ],
)
async def test_malformed_candidates_are_refused_with_the_reason(gateway_at, base_settings, faults, mode, fragment):
    async with gateway_at(**base_settings) as gw:
        r = await gw.client.post("/registry/v1/commons", json=join_body(f"{faults}/{mode}", mode, ["dg.bad1"]),
                                 headers=ADMIN)
        assert r.status_code == 422, r.text
        assert r.json()["error"].startswith(f"candidate {faults}/{mode} refused: ")
        assert fragment in r.json()["error"]
        assert (await gw.client.get("/registry/v1/commons")).json()["commons"] == []
        entries = (await gw.client.get("/registry/v1/audit", headers=ADMIN)).json()["entries"]
        assert [(e["action"], e["detail"]["reason"]) for e in entries] == [("join_refused", r.json()["error"])]


@pytest.mark.parametrize(("mode", "path"), [("hop", "/_status"), ("indexonly", "/index/_status")])
async def test_same_host_redirects_and_fallback_paths_pass(gateway_at, base_settings, faults, mode, path):
    async with gateway_at(**base_settings) as gw:
        r = await gw.client.post("/registry/v1/commons", json=join_body(f"{faults}/{mode}", mode, ["dg.ok1"]))
        assert r.status_code == 201, r.text
        assert r.json()["check"]["path"] == path
        if mode == "hop":
            assert r.json()["check"]["redirects"] == [f"{faults}/ok/_status"]


async def test_unreachable_and_hanging_candidates(gateway_at, base_settings, faults):
    from registry_kit import free_port

    settings = {**base_settings, "registry": {"join_probe_timeout": 0.5}}
    async with gateway_at(**settings) as gw:
        closed = f"http://127.0.0.1:{free_port()}"
        r = await gw.client.post("/registry/v1/commons", json=join_body(closed, "gone", ["dg.gone"]), headers=ADMIN)
        assert r.status_code == 422
        assert r.json()["error"] == f"candidate {closed} refused: /_status: unreachable: connection refused"

        started = time.monotonic()
        r = await gw.client.post("/registry/v1/commons", json=join_body(f"{faults}/hang", "hang", ["dg.hang"]),
                                 headers=ADMIN)
        assert time.monotonic() - started < 2.0, "the check runs under one deadline"
        assert r.status_code == 422
        assert "unreachable: no answer" in r.json()["error"]


async def test_owned_prefix_hostname_and_id_conflict(gateway_at, base_settings, commons, commons_factory):
    other = await commons_factory("dg.TST2")
    async with gateway_at(**base_settings) as gw:
        assert (await gw.client.post("/registry/v1/commons",
                                     json=join_body(commons.base_url, "First", ["dg.tst1"]))).status_code == 201
        # admitted, it owns its keys (a pending join only asks: test_joiners_and_admins)
        assert (await gw.client.post("/registry/v1/commons/first/approve", headers=ADMIN)).status_code == 200
        cases = [
            (join_body(other.base_url, "Second", ["dg.TST1"]), "prefix dg.tst1 is already owned by member 'first'"),
            (join_body(other.base_url, "Second", ["dg.tst2"], hostnames=[commons.base_url[7:]]),
             f"hostname {commons.base_url[7:]} is already owned by member 'first'"),
            (join_body(other.base_url, "First", ["dg.tst2"]), "member id 'first' is already registered"),
        ]
        for body, message in cases:
            r = await gw.client.post("/registry/v1/commons", json=body)
            assert r.status_code == 409, r.text
            assert r.json()["error"] == message
        assert len((await gw.client.get("/registry/v1/commons")).json()["commons"]) == 1


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"base_url": "http://user:pw@127.0.0.1:1"}, "must not carry credentials"),
        ({"base_url": "http://127.0.0.1:1/?x=1"}, "must not have a query or a fragment"),
        ({"base_url": "http://127.0.0.1:1/#top"}, "must not have a query or a fragment"),
        ({"base_url": "ftp://127.0.0.1/"}, "http:// or https://"),
        ({"base_url": "http://127.0.0.1:99999"}, "invalid port"),
        ({"prefixes": []}, "must own at least one GUID prefix"),
        ({"prefixes": ["nope.1234"]}, "is not a GUID prefix"),
        ({"hostnames": ["bad host"]}, "is not a hostname"),
        ({"id": "Has Spaces"}, "id must be"),
        ({"kind": "ftp"}, "kind"),
        ({"kind": "reference"}, "join it as kind 'gen3'"),
        ({"auth": {"type": "api_key", "credentials_file": "/etc/passwd"}}, "accepted only from an administrator"),
        ({"auth": {"type": "bearer"}}, "auth type bearer needs a token"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_invalid_join_bodies_are_400(gateway_at, base_settings, change, fragment):
    async with gateway_at(**base_settings) as gw:
        r = await gw.client.post("/registry/v1/commons",
                                 json={**join_body("http://127.0.0.1:1", "Bad", ["dg.bad1"]), **change})
        assert r.status_code == 400, r.text
        assert fragment in r.json()["error"]
        assert "/etc/passwd" not in r.text


async def test_drs_members_need_no_prefix_and_ids_derive_from_names(gateway_at, base_settings, commons):
    async with gateway_at(**base_settings) as gw:
        body = {"name": "  Ünïcode DRS  ✓ #7 ", "base_url": commons.base_url + "/", "kind": "drs"}
        r = await gw.client.post("/registry/v1/commons", json=body)
        assert r.status_code == 201, r.text
        assert r.json()["id"] == "unicode-drs-7"
        assert r.json()["base_url"] == commons.base_url and r.json()["prefixes"] == []


async def test_joins_are_rate_limited_per_address(gateway_at, base_settings):
    settings = {**base_settings, "registry": {"join_rate_limit": 2}}
    async with gateway_at(**settings) as gw:
        bad = {"name": "x"}
        assert [(await gw.client.post("/registry/v1/commons", json=bad)).status_code for _ in range(2)] == [400, 400]
        r = await gw.client.post("/registry/v1/commons", json=bad)
        assert r.status_code == 429
        assert "at most 2 per hour" in r.json()["error"]
        assert 0 < int(r.headers["Retry-After"]) <= 3601
        assert (await gw.client.get("/registry/v1/commons")).status_code == 200, "only joins are limited"


@pytest.mark.parametrize("host", [
    "169.254.169.254", "10.1.2.3", "192.168.0.10", "172.20.0.1",
    "[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]", "[::ffff:10.1.2.3]",  # IPv4-mapped IPv6 reaches the same hosts
])
async def test_candidates_inside_denied_networks_are_refused(gateway_at, base_settings, host):
    """Cloud metadata and private ranges are never called by the join check (loopback stays allowed)."""
    async with gateway_at(**base_settings) as gw:
        r = await gw.client.post("/registry/v1/commons", json=join_body(f"http://{host}:8080", "Inside", ["dg.in1"]),
                                 headers=ADMIN)
        assert r.status_code == 422, r.text
        assert "egress.deny_networks" in r.json()["error"] and host.strip("[]") in r.json()["error"]


async def test_the_check_itself_never_connects_inside_a_denied_network():
    """Past the up-front refusal (a name can resolve elsewhere a moment later), every connection the check opens
    goes through the same egress policy."""
    import faults

    from gateway.core.egress import OPEN, EgressPolicy
    from gateway.registry.join import CandidateRefused, check_candidate

    async with faults.serve(faults.flaky(0)) as server:
        with pytest.raises(CandidateRefused) as err:
            await check_candidate(server.url, timeout=2.0, max_bytes=65_536,
                                  egress=EgressPolicy.denying(["127.0.0.0/8"]))
        assert server.hits == []
        assert str(err.value) == (f"candidate {server.url} refused: /_status: refused by the egress policy: "
                                  "127.0.0.1 is inside a denied network")
        assert (await check_candidate(server.url, timeout=2.0, max_bytes=65_536, egress=OPEN)).path == "/_status"
