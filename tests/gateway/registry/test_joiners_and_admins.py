"""Joiners and admins, played as the attacker would, against a real gateway over HTTP (docs/security.md, "Joiners
and admins"): a squatter's pending join never blocks the legitimate one (conflicts are decided at approval); pending
joins expire; anonymous joining can be switched off; admins are named, hashed, added and revoked without a restart,
and the audit log says which one acted; approval shows what the member will receive and claim."""

from __future__ import annotations

import asyncio
import hashlib
import json

import pytest
from registry_kit import ADMIN, BOTH_BACKENDS, join_body

from gateway.cli.main import main
from gateway.registry.repository import RegistryRepository
from gateway.store import open_store
from gateway.web.keys import REGISTRY


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def audit(gw) -> list[dict]:
    return (await gw.client.get("/registry/v1/audit", headers=ADMIN, params={"limit": 1000})).json()["entries"]


# --- a pending claim never blocks ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BOTH_BACKENDS, indirect=True)
async def test_a_squatters_pending_join_never_blocks_the_legitimate_one(gateway_at, base_settings, commons_factory,
                                                                         faults):
    legit = await commons_factory("dg.XYZ")
    legit_host = legit.base_url.removeprefix("http://")
    async with gateway_at(**base_settings) as gw:
        c = gw.client
        # the squatter asks first, for the legitimate commons' prefix and its DRS hostname
        r = await c.post("/registry/v1/commons", json=join_body(f"{faults}/ok", "Squatter", ["dg.XYZ"],
                                                                hostnames=[legit_host]))
        assert r.status_code == 201 and r.json()["status"] == "pending", r.text
        # the legitimate join of the same prefix and hostname is not refused
        r = await c.post("/registry/v1/commons", json=join_body(legit.base_url, "Legit", ["dg.XYZ"]))
        assert r.status_code == 201, r.text
        assert r.json()["status"] == "pending" and r.json()["hostnames"] == [legit_host]
        listed = {m["id"]: m for m in (await c.get("/registry/v1/commons")).json()["commons"]}
        assert {m: listed[m]["status"] for m in listed} == {"squatter": "pending", "legit": "pending"}
        # conflicts are shown (two pending asks for one prefix), none of them blocking yet
        assert {(x["kind"], x["value"], x["member"], x["blocking"]) for x in listed["legit"]["conflicts"]} == {
            ("prefix", "dg.xyz", "squatter", False), ("hostname", legit_host, "squatter", False)}
        # nothing routes to a pending member's asks
        r = await c.get("/resolver/v1/resolve", params={"id": "dg.xyz/9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d"})
        assert r.status_code == 404, r.text
        # an admin is not blocked either: an active member may be given a prefix a pending join only asks for
        r = await c.post("/registry/v1/commons", json=join_body(f"{faults}/hop", "Other", ["dg.oth"],
                                                                hostnames=["other.example.org"]))
        assert r.status_code == 201
        assert (await c.post("/registry/v1/commons/other/approve", headers=ADMIN)).status_code == 200
        r = await c.post("/registry/v1/commons", json=join_body(f"{faults}/indexonly", "Asker", ["dg.asked"],
                                                                hostnames=["asker.example.org"]))
        assert r.status_code == 201
        r = await c.patch("/registry/v1/commons/other", headers=ADMIN, json={"prefixes": ["dg.oth", "dg.asked"]})
        assert r.status_code == 200, r.text

        # the admin approves the legitimate one: it claims the prefix and the hostname
        r = await c.post("/registry/v1/commons/legit/approve", headers=ADMIN)
        assert r.status_code == 200 and r.json()["status"] == "active", r.text
        registry = gw.app[REGISTRY]
        assert await registry.repository.owner("prefix", "dg.xyz") == "legit"
        assert await registry.repository.owner("hostname", legit_host) == "legit"
        # the squatter's approval now fails, naming the owner; nothing of it was claimed
        r = await c.post("/registry/v1/commons/squatter/approve", headers=ADMIN)
        assert r.status_code == 409, r.text
        assert r.json()["error"] == "prefix dg.xyz is already owned by member 'legit'"
        assert (await c.get("/registry/v1/commons/squatter")).json()["status"] == "pending"
        preview = (await c.get("/registry/v1/commons/squatter/approval", headers=ADMIN)).json()
        assert preview["approvable"] is False
        assert {(x["kind"], x["member"], x["status"], x["blocking"]) for x in preview["conflicts"]} == {
            ("prefix", "legit", "active", True), ("hostname", "legit", "active", True)}
        r = await c.post("/registry/v1/commons/asker/approve", headers=ADMIN)
        assert r.status_code == 409 and r.json()["error"] == "prefix dg.asked is already owned by member 'other'"
        # a join asking for what an admitted member owns is still refused at once, naming the owner
        r = await c.post("/registry/v1/commons", json=join_body(f"{faults}/ok", "Late", ["dg.xyz"],
                                                                hostnames=["late.example.org"]))
        assert r.status_code == 409 and r.json()["error"] == "prefix dg.xyz is already owned by member 'legit'"


async def test_a_pending_join_never_blocks_a_declared_member(gateway_at, base_settings, faults, tmp_path):
    async with gateway_at(**base_settings) as gw:
        r = await gw.client.post("/registry/v1/commons", json=join_body(
            f"{faults}/ok", "Declared", ["dg.decl"], id="declared", hostnames=["data.example.org"]))
        assert r.status_code == 201
        r = await gw.client.post("/registry/v1/commons", json=join_body(
            f"{faults}/hop", "Asker", ["dg.decl"], hostnames=["data.example.org"]))
        assert r.status_code == 201
    declared = {"id": "declared", "name": "Declared", "base_url": "https://data.example.org", "kind": "gen3",
                "prefixes": ["dg.decl"]}
    async with gateway_at(**{**base_settings, "registry": {"members": [declared]}}) as gw:
        member = (await gw.client.get("/registry/v1/commons/declared")).json()
        assert member["source"] == "config" and member["status"] == "active"
        asker = (await gw.client.get("/registry/v1/commons", params={"status": "pending"})).json()["commons"]
        assert [(m["id"], [(x["member"], x["blocking"]) for x in m["conflicts"]]) for m in asker] == [
            ("asker", [("declared", True), ("declared", True)])]
        assert [(e["actor"], e["action"]) for e in await audit(gw)][-2:] == [("config", "remove"),
                                                                              ("config", "create")]


async def test_approvals_race_on_an_in_process_store():
    """The approval storm of ``test_repository`` (one owner per key) on the in-process backend (SQLite
    ``:memory:``): one store, two repositories."""
    from test_repository import approval_storm

    store = await open_store("sqlite://:memory:")
    try:
        await approval_storm([RegistryRepository(store), RegistryRepository(store)])
    finally:
        await store.close()


# --- pending joins expire ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BOTH_BACKENDS, indirect=True)
async def test_an_expired_pending_join_disappears(gateway_at, base_settings, faults):
    settings = {**base_settings, "registry": {**base_settings["registry"], "pending_ttl": 0.5}}
    async with gateway_at(**settings) as gw, gateway_at(**settings) as replica:
        c = gw.client
        r = await c.post("/registry/v1/commons", json=join_body(f"{faults}/ok", "Stale", ["dg.stale"]))
        assert r.status_code == 201 and r.json()["expires"] > r.json()["created"]
        assert (await c.post("/registry/v1/commons", json=join_body(f"{faults}/hop", "Kept", ["dg.kept"],
                                                                    hostnames=["kept.example.org"]))).status_code == 201
        assert (await c.post("/registry/v1/commons/kept/approve", headers=ADMIN)).status_code == 200
        await asyncio.sleep(0.7)
        # both replicas meet it at once: it is gone for both, and removed exactly once
        got = await asyncio.gather(c.get("/registry/v1/commons/stale"), replica.client.get("/registry/v1/commons"))
        assert got[0].status_code == 404
        assert [m["id"] for m in got[1].json()["commons"]] == ["kept"], "an approved member never expires"
        assert (await c.post("/registry/v1/commons/stale/approve", headers=ADMIN)).status_code == 404
        expired = [e for e in await audit(gw) if e["action"] == "expired"]
        assert [(e["actor"], e["member_id"]) for e in expired] == [("expiry", "stale")]
        r = await replica.client.post("/registry/v1/commons", json=join_body(f"{faults}/ok", "Stale", ["dg.stale"]))
        assert r.status_code == 201, "its id is free again"


# --- anonymous joining can be switched off -------------------------------------------------------------------------


async def test_anonymous_joining_switched_off(gateway_at, base_settings, faults):
    settings = {**base_settings, "registry": {**base_settings["registry"], "anonymous_join": False}}
    async with gateway_at(**settings) as gw:
        body = join_body(f"{faults}/ok", "Anon", ["dg.anon"])
        r = await gw.client.post("/registry/v1/commons", json=body)
        assert r.status_code == 403, r.text
        assert r.json()["error"] == ("anonymous joining is switched off on this gateway: an administrator registers "
                                     "new members")
        assert (await gw.client.get("/registry/v1/commons")).json()["commons"] == []
        r = await gw.client.post("/registry/v1/commons", json=body, headers=bearer("wrong"))
        assert r.status_code == 401
        r = await gw.client.post("/registry/v1/commons", json=body, headers=ADMIN)
        assert r.status_code == 201 and r.json()["status"] == "pending"
        assert [(e["actor"], e["action"]) for e in await audit(gw)] == [("admin:bootstrap", "create")]


# --- named admins --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BOTH_BACKENDS, indirect=True)
async def test_named_admins_are_hashed_audited_and_revoked_at_once(gateway_at, base_settings, faults):
    async with gateway_at(**base_settings) as gw, gateway_at(**base_settings) as replica:
        c = gw.client
        r = await c.post("/registry/v1/admins", headers=ADMIN, json={"name": "alice"})
        assert r.status_code == 201, r.text
        alice = r.json()["token"]
        assert r.json()["name"] == "alice" and len(alice) > 40
        assert (await c.post("/registry/v1/admins", headers=ADMIN, json={"name": "alice"})).status_code == 409
        r = await c.post("/registry/v1/admins", headers=bearer(alice), json={"name": "bob"})
        bob = r.json()["token"]
        # stored hashed: the store holds the token's SHA-256, never the token
        from gateway.registry.admins import NS_ADMINS

        stored = await gw.app[REGISTRY].repository.store.get(NS_ADMINS, "alice")
        assert alice not in json.dumps(stored.doc)
        assert stored.doc["sha256"] == hashlib.sha256(alice.encode()).hexdigest()
        listed = (await replica.client.get("/registry/v1/admins", headers=bearer(bob))).json()
        assert [(a["name"], a["created_by"]) for a in listed["admins"]] == [("alice", "admin:bootstrap"),
                                                                            ("bob", "admin:alice")]
        assert alice not in str(listed) and bob not in str(listed) and listed["bootstrap"] is True

        # every action records who acted
        await c.post("/registry/v1/commons", json=join_body(f"{faults}/ok", "Who", ["dg.who"]))
        assert (await c.post("/registry/v1/commons/who/approve", headers=bearer(alice))).status_code == 200
        assert (await replica.client.post("/registry/v1/commons/who/suspend", headers=bearer(bob))).status_code == 200
        assert (await c.patch("/registry/v1/commons/who", headers=ADMIN, json={"name": "W"})).status_code == 200
        entries = await audit(gw)
        assert [(e["actor"], e["action"]) for e in entries if e.get("member_id") == "who"] == [
            ("join:127.0.0.1", "create"), ("admin:alice", "active"), ("admin:bob", "suspended"),
            ("admin:bootstrap", "update")]
        assert [(e["actor"], e["action"], e["admin"]) for e in entries if "admin" in e] == [
            ("admin:bootstrap", "admin.add", "alice"), ("admin:alice", "admin.add", "bob")]

        # revoked: refused at once, on every replica, without a restart
        r = await replica.client.delete("/registry/v1/admins/alice", headers=bearer(bob))
        assert r.status_code == 200 and r.json() == {"revoked": "alice"}
        for client in (c, replica.client):
            r = await client.post("/registry/v1/commons/who/approve", headers=bearer(alice))
            assert r.status_code == 401 and r.json()["error"] == "invalid admin token"
        assert (await c.delete("/registry/v1/admins/alice", headers=bearer(bob))).status_code == 404
        assert (await c.post("/registry/v1/admins", headers=ADMIN, json={"name": "bootstrap"})).status_code == 400
        assert (await c.post("/registry/v1/admins", headers=ADMIN, json={"name": "Bad Name"})).status_code == 400


async def test_named_admins_without_a_bootstrap_token(gateway_at, base_settings, tmp_path, capsys, monkeypatch):
    """``gateway admin add|list|revoke`` write to the gateway's store: a running gateway accepts (and stops
    accepting) the token at once; no ``admin_token`` is needed at all."""
    config = tmp_path / "gateway.yaml"
    config.write_text(json.dumps({"store": base_settings["store"]}))
    monkeypatch.delenv("GATEWAY_CONFIG", raising=False)

    async def cli(*argv: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, ["admin", *argv, "--config", str(config)])
        out, err = capsys.readouterr()
        return code, out, err

    async with gateway_at(**{**base_settings, "admin_token": None}) as gw:
        r = await gw.client.get("/registry/v1/audit", headers=ADMIN)
        assert r.status_code == 403 and r.json()["error"].startswith("admin disabled")
        code, out, err = await cli("add", "carol")
        assert code == 0, err
        token = out.strip()
        assert token.startswith("gwadm_") and "shown once" in err
        r = await gw.client.get("/registry/v1/audit", headers=bearer(token))
        assert r.status_code == 200
        assert [(e["actor"], e["action"], e["admin"]) for e in r.json()["entries"]] == [
            ("cli", "admin.add", "carol")]
        code, out, _ = await cli("list")
        assert code == 0 and out.startswith("carol  ") and token not in out
        code, _, err = await cli("add", "carol")
        assert code == 1 and "already exists" in err
        code, out, _ = await cli("revoke", "carol")
        assert code == 0 and out == "revoked: carol\n"
        assert (await gw.client.get("/registry/v1/audit", headers=bearer(token))).status_code in (401, 403)
        code, _, err = await cli("revoke", "carol")
        assert code == 1 and "no admin named 'carol'" in err


# --- approval shows what the member will receive -------------------------------------------------------------------


async def test_approval_shows_passthrough_claims_and_conflicts(gateway_at, base_settings, commons, faults):
    async with gateway_at(**base_settings) as gw:
        c = gw.client
        host = commons.base_url.removeprefix("http://")
        body = join_body(commons.base_url, "Greedy", ["dg.tst1"], auth={"type": "passthrough"},
                         hostnames=[host, "drs.example.org"])
        assert (await c.post("/registry/v1/commons", json=body)).status_code == 201
        r = await c.post("/registry/v1/commons", json=join_body(f"{faults}/ok", "Rival", ["dg.tst1"],
                                                                hostnames=["drs.example.org"]))
        assert r.status_code == 201
        assert (await c.get("/registry/v1/commons/greedy/approval")).status_code == 401, "admin only"
        preview = (await c.get("/registry/v1/commons/greedy/approval", headers=ADMIN)).json()
        assert preview["auth"]["type"] == "passthrough" and preview["auth"]["forwards_caller_credentials"] is True
        assert "passthrough: callers' bearer tokens will be sent to this member" in preview["auth"]["summary"]
        assert preview["claims"] == {"prefixes": ["dg.tst1"], "hostnames": [host, "drs.example.org"]}
        assert sorted((x["kind"], x["value"], x["member"], x["status"], x["blocking"])
                      for x in preview["conflicts"]) == [("hostname", "drs.example.org", "rival", "pending", False),
                                                        ("prefix", "dg.tst1", "rival", "pending", False)]
        assert preview["acknowledgement"] == "accept_passthrough" and preview["approvable"] is True
        assert preview["member"]["id"] == "greedy"

        # passthrough is accepted explicitly, or the approval is refused
        r = await c.post("/registry/v1/commons/greedy/approve", headers=ADMIN)
        assert r.status_code == 422, r.text
        assert "accept_passthrough" in r.json()["error"] and "callers' bearer tokens" in r.json()["error"]
        r = await c.post("/registry/v1/commons/greedy/approve", headers=ADMIN, json={"accept_passthrough": False})
        assert r.status_code == 422
        assert (await c.get("/registry/v1/commons/greedy")).json()["status"] == "pending"
        r = await c.post("/registry/v1/commons/greedy/approve", headers=ADMIN, json={"accept_passthrough": True})
        assert r.status_code == 200, r.text
        approved = r.json()
        assert approved["status"] == "active"
        assert approved["approval"]["claims"] == {"prefixes": ["dg.tst1"], "hostnames": [host, "drs.example.org"]}
        assert "callers' bearer tokens will be sent" in approved["approval"]["auth"]["summary"]
        # a member that forwards nothing needs no acknowledgement
        r = await c.post("/registry/v1/commons", json=join_body(f"{faults}/hop", "Plain", ["dg.plain"],
                                                                hostnames=["plain.example.org"]))
        preview = (await c.get("/registry/v1/commons/plain/approval", headers=ADMIN)).json()
        assert preview["acknowledgement"] is None and preview["auth"]["forwards_caller_credentials"] is False
        assert preview["auth"]["summary"].startswith("none: ")
        assert (await c.post("/registry/v1/commons/plain/approve", headers=ADMIN)).status_code == 200
