"""The egress policy at the registry's edges, played by an attacker against a real gateway: a joiner naming a host
inside the gateway's network in any spelling, an anonymous joiner mapping that network through refusal texts, an
admin moving a member inside it, and a joiner whose name re-resolves inside it after the join check (DNS
rebinding), which every later call (health probe, member call) must refuse.

``127.0.0.2`` plays a host inside the gateway's network (Linux routes all of 127/8 to loopback); the policy under
test denies it, or all of loopback, through ``egress.deny_networks``.
"""

from __future__ import annotations

from typing import Any

import faults
import pytest
from faults import RebindingDns
from registry_kit import ADMIN, eventually, join_body

from gateway.web.routes.registry import JOIN_REFUSED

LOOPBACK = ["127.0.0.0/8", "::1/128"]
INSIDE = ["127.0.0.2/32"]


def denying(base_settings: dict[str, Any], networks: list[str], **egress: Any) -> dict[str, Any]:
    return {**base_settings, "egress": {"deny_networks": networks, **egress}}


@pytest.mark.parametrize("host", [
    "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",  # IPv4-mapped (refused before this change too)
    "[::127.0.0.1]",  # IPv4-compatible
    "[2002:7f00:1::]",  # 6to4
    "[64:ff9b::7f00:1]", "[64:ff9b:1:7f00:0:100::]",  # NAT64, well-known and local-use prefixes
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo, client 127.0.0.1
    "2130706433", "0x7f.1", "017700000001", "127.1",  # numbers the resolver takes for 127.0.0.1
    "0.0.0.0", "[::]",  # unspecified: connecting to them reaches this host
    "localhost",  # a name: judged on what it resolves to
])
async def test_a_join_naming_a_denied_host_in_any_spelling_is_refused(gateway_at, base_settings, host):
    async with faults.serve(faults.flaky(0)) as candidate, gateway_at(**denying(base_settings, LOOPBACK)) as gw:
        port = candidate.url.rsplit(":", 1)[1]
        body = join_body(f"http://{host}:{port}", "Inside", ["dg.in1"])
        r = await gw.client.post("/registry/v1/commons", json=body, headers=ADMIN)
        assert r.status_code == 422, r.text
        assert "inside a denied network" in r.json()["error"] and "egress.deny_networks" in r.json()["error"]
        assert candidate.hits == [], "nothing was sent to the candidate"
        assert (await gw.client.get("/registry/v1/commons")).json()["commons"] == []


async def test_an_anonymous_joiner_learns_nothing_of_the_gateways_network(gateway_at, base_settings, faults):
    """Closed port, HTTP 404, malformed answer, hanging server, denied address: one and the same answer for an
    anonymous joiner (with a reference), while the audit log and an admin making the call see why."""
    from registry_kit import free_port

    settings = denying({**base_settings, "registry": {"join_probe_timeout": 0.5, "join_rate_limit": 100}}, INSIDE)
    candidates = {
        "closed": f"http://127.0.0.1:{free_port()}",
        "nothing": f"{faults}/nothing",
        "html": f"{faults}/html",
        "hang": f"{faults}/hang",
        "inside": "http://127.0.0.2:8080",
    }
    async with gateway_at(**settings) as gw:
        answers, details = {}, {}
        for name, url in candidates.items():
            r = await gw.client.post("/registry/v1/commons", json=join_body(url, name, [f"dg.{name}1"]))
            assert r.status_code == 422, r.text
            reference = r.headers["X-Request-Id"]
            answers[name] = r.json()["error"].replace(reference, "<ref>")
            admin = await gw.client.post("/registry/v1/commons", json=join_body(url, name, [f"dg.{name}1"]),
                                         headers=ADMIN)
            assert admin.status_code == 422
            details[name] = admin.json()["error"]
        assert set(answers.values()) == {f"{JOIN_REFUSED} (reference <ref>)"}
        assert "connection refused" in details["closed"] and "HTTP 404" in details["nothing"]
        assert "malformed answer" in details["html"] and "no answer" in details["hang"]
        assert "127.0.0.2 is inside a denied network" in details["inside"]

        entries = (await gw.client.get("/registry/v1/audit", headers=ADMIN)).json()["entries"]
        refused = [e for e in entries if e["action"] == "join_refused"]
        assert len(refused) == 2 * len(candidates)
        first = refused[0]
        assert first["member_id"] == "closed" and first["detail"]["base_url"] == candidates["closed"]
        assert "connection refused" in first["detail"]["reason"] and first["detail"]["request_id"]
        assert first["actor"].startswith("join:")
        assert (await gw.client.get("/registry/v1/commons")).json()["commons"] == []


async def test_an_admin_cannot_move_a_member_inside_a_denied_network(gateway_at, base_settings, commons):
    async with gateway_at(**denying(base_settings, INSIDE)) as gw:
        r = await gw.client.post("/registry/v1/commons", json=join_body(commons.base_url, "Moving", ["dg.tst1"]))
        assert r.status_code == 201, r.text
        for url in ("http://127.0.0.2:8080", "http://[::ffff:127.0.0.2]:8080", "http://[64:ff9b::7f00:2]",
                    "http://2130706434:8080", "http://0x7f.0.0.2"):
            r = await gw.client.patch("/registry/v1/commons/moving", json={"base_url": url}, headers=ADMIN)
            assert r.status_code == 422, (url, r.text)
            assert "inside a denied network" in r.json()["error"] and "egress.deny_networks" in r.json()["error"]
        assert (await gw.client.get("/registry/v1/commons/moving")).json()["base_url"] == commons.base_url
        moved = commons.base_url.replace("127.0.0.1", "localhost")
        r = await gw.client.patch("/registry/v1/commons/moving", json={"base_url": moved}, headers=ADMIN)
        assert r.status_code == 200 and r.json()["base_url"] == moved


async def test_a_member_rebound_inside_the_network_after_joining_is_refused_at_every_call(
        gateway_at, base_settings, commons, monkeypatch, caplog):
    """The joiner's name resolves to its honest commons for the join check, then to a host inside the gateway's
    network (same port). The health probe and every member call resolve it again, and are refused."""
    async with faults.serve(faults.flaky(0), host="127.0.0.2", port=commons.port) as internal, \
            gateway_at(**denying(base_settings, INSIDE)) as gw:
        dns = RebindingDns("rebind.test", "127.0.0.1").install(monkeypatch)
        body = join_body(f"http://rebind.test:{commons.port}", "Rebinder", ["dg.tst1"])
        r = await gw.client.post("/registry/v1/commons", json=body)
        assert r.status_code == 201, r.text

        dns.answer = "127.0.0.2"
        assert (await gw.client.post("/registry/v1/commons/rebinder/approve", headers=ADMIN)).status_code == 200

        async def probed() -> bool:
            health = (await gw.client.get("/registry/v1/commons/rebinder/health")).json()
            return bool(health["recent_failures"])

        await eventually(probed)
        health = (await gw.client.get("/registry/v1/commons/rebinder/health")).json()
        # the anonymous health view names the kind only; the policy's refusal is in the log
        assert health["recent_failures"][-1]["detail"] == "unreachable"
        assert "127.0.0.2" not in str(health)
        assert any("refused by the egress policy" in str(getattr(r, "detail", "")) for r in caplog.records)

        r = await gw.client.get("/ga4gh/drs/v1/objects/dg.tst1/0b5f4c2e-0000-4000-8000-000000000001")
        assert r.status_code == 502, r.text
        assert "rebinder" in r.json()["msg"] and "127.0.0.2" not in r.text
        r = await gw.client.get("/resolver/v1/resolve", params={"id": "dg.tst1/0b5f4c2e-0000-4000-8000-000000000002"})
        assert r.status_code == 502, r.text
        assert "127.0.0.2" not in r.text
        assert internal.hits == [], "the host inside the network was never reached"
        assert dns.asked >= 2


async def test_exceptions_reach_declared_members_only(gateway_at, base_settings):
    """``egress.allow_networks`` opens a denied network for members the configuration declares; a joiner naming
    the very same address is refused, so no outsider can aim the gateway through the exception."""
    async with faults.serve(faults.flaky(0), host="127.0.0.2") as private:
        declared = {"id": "private", "name": "Private", "base_url": private.url, "prefixes": ["dg.prv1"]}
        settings = denying({**base_settings, "registry": {"members": [declared], "join_probe_timeout": 2.0}},
                           ["127.0.0.0/8"], allow_networks=["127.0.0.2/32"])
        async with gateway_at(**settings) as gw:
            r = await gw.client.get("/ga4gh/drs/v1/objects/dg.prv1/0b5f4c2e-0000-4000-8000-000000000003")
            assert private.count("/index/index/") == 1, r.text  # reached: an (empty) answer from the member
            body = join_body(private.url + "/x", "Joiner", ["dg.j1"], hostnames=["joiner.example"])
            r = await gw.client.post("/registry/v1/commons", json=body, headers=ADMIN)
            assert r.status_code == 422 and "inside a denied network" in r.json()["error"]
            assert private.count("/x") == 0
