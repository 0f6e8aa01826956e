"""Stale authorization (issue 14), played for real: reference commons on loopback whose records change through
their own indexd ``PUT /index/index/{guid}``, a real gateway in front.

* Where the gateway decides access itself (Passports, ``gateway_token`` and ``passport`` members), it decides on a
  record fetched no longer ago than ``drs.authz_max_age``: an ``authz`` changed at the member changes the decision
  within that bound, although the resolution cache keeps records for ``resolver.positive_ttl`` (300 s).
* An admin purge (``POST /registry/v1/cache/purge``) of an id in any spelling, or of a whole member, makes the
  next lookup see the member's new record: on the replica purged at once, on a second replica sharing the Redis
  cache at once for the id's usual spellings, and for everything else within the registry recheck interval;
  audited with the admin's name.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from drs_federation import token
from passport_kit import Broker, dev_broker, files, passports_config
from servers import Server, free_port, start_commons, start_gateway

from gateway.passports.tokens.token_keys import JWKS_PATH
from refcommons.fence.gateway_trust import TrustedGateway
from refcommons.indexd.records import IndexRecord

DRS = "/ga4gh/drs/v1"
RESOURCES = {"templates": [{"template": "/programs/{dataset}.{consent}", "authority": "dbgap"}]}
MAX_AGE = 1.0
ADMIN = "purge-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
RECHECK = 1.2


def grant(record: IndexRecord) -> tuple[str, str]:
    dataset, _, consent = record.authz[0].removeprefix("/programs/").partition(".")
    return dataset, consent


async def set_authz(member: Server, did: str, authz: list[str]) -> str:
    """Change the record's ``authz`` at the member, through its indexd ``PUT`` (as its admin); its new rev."""
    current = (await member.client.get(f"/index/index/{did}")).json()
    r = await member.client.put(f"/index/index/{did}", params={"rev": current["rev"]}, json={"authz": authz},
                                headers={"Authorization": await token(member)})
    assert r.status_code == 200, r.text
    return str(r.json()["rev"])


@dataclass
class Eco:
    gateway: Server
    broker: Broker
    members: dict[str, Server]
    files: dict[str, dict[str, IndexRecord]]


@pytest.fixture
async def eco(tmp_path) -> AsyncIterator[Eco]:
    async with AsyncExitStack() as stack:
        broker = await stack.enter_async_context(dev_broker(tmp_path / "broker"))
        gw_port = free_port()
        gw_url = f"http://127.0.0.1:{gw_port}"
        trusted = (TrustedGateway(gw_url, gw_url + JWKS_PATH),)
        servers: dict[str, Server] = {}
        for name, prefix, seed in (("tok", "dg.STOK", 51), ("pp", "dg.SPAS", 52)):
            servers[name] = await start_commons(prefix, seed, 12, passports=passports_config(broker.url),
                                                trusted_gateways=trusted, allow_insecure_loopback=True)
            stack.push_async_callback(servers[name].stop)

        def member(mid: str, mode: str) -> dict[str, Any]:
            server = servers[mid]
            assert server.commons is not None
            return {"id": mid, "name": mid, "base_url": server.base_url, "kind": "gen3",
                    "prefixes": [server.commons.settings.prefix], "auth": {"type": mode}}

        gateway = await start_gateway(
            port=gw_port, store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
            registry={"members": [member("tok", "gateway_token"), member("pp", "passport")]},
            passports={**passports_config(broker.url).model_dump(mode="json"),
                       "resource_maps": {"tok": RESOURCES, "pp": RESOURCES}},
            upstream={"retries": 0}, drs={"authz_max_age": MAX_AGE},
        )
        stack.push_async_callback(gateway.stop)
        yield Eco(gateway, broker, servers, {name: await files(s) for name, s in servers.items()})


async def access(eco: Eco, did: str, passport: str) -> httpx.Response:
    return await eco.gateway.client.post(f"{DRS}/objects/{did}/access/s3", json={"passports": [passport]})


@pytest.mark.parametrize("member", ["tok", "pp"])
async def test_an_authz_changed_at_the_member_changes_the_gateways_decision_within_the_bound(eco, member):
    f = eco.files[member]
    passport = eco.broker.passport([eco.broker.visa(*grant(f["c1"]), ttl=600)])
    # the c2 file: refused by the gateway itself (the Passport grants c1 only), and its resolution now cached
    assert (await access(eco, f["c2"].did, passport)).status_code == 403
    opts = await eco.gateway.client.request("OPTIONS", f"{DRS}/objects/{f['c2'].did}")
    assert opts.status_code == 200
    # the member moves it into c1, the study the Passport grants
    await set_authz(eco.members[member], f["c2"].did, list(f["c1"].authz))
    await asyncio.sleep(MAX_AGE + 0.2)
    r = await access(eco, f["c2"].did, passport)
    assert r.status_code == 200, f"decided on the record cached before the change: {r.text}"
    # and the other way: the c1 file moved to c2 is refused within the bound
    assert (await access(eco, f["c1"].did, passport)).status_code == 200
    await set_authz(eco.members[member], f["c1"].did, list(f["c2"].authz))
    await asyncio.sleep(MAX_AGE + 0.2)
    assert (await access(eco, f["c1"].did, passport)).status_code == 403
    # bulk access decides on fresh records too
    await set_authz(eco.members[member], f["c1"].did, list(f["c1"].authz))
    await asyncio.sleep(MAX_AGE + 0.2)
    bulk = await eco.gateway.client.post(f"{DRS}/objects/access", json={
        "bulk_object_access_ids": [{"bulk_object_id": f["c1"].did, "bulk_access_ids": ["s3"]}],
        "passports": [passport]})
    assert bulk.status_code == 200 and bulk.json()["resolved_drs_object_access_urls"], bulk.text


async def test_a_purge_shows_the_new_record_at_once_on_both_replicas(redis_url, redis_key_prefix):
    commons = await start_commons("dg.PURG", 71, 6)
    assert commons.commons is not None
    declared = {"id": "pm", "name": "pm", "base_url": commons.base_url, "kind": "gen3", "prefixes": ["dg.PURG"]}
    shared = {
        "store": {"url": redis_url, "key_prefix": redis_key_prefix + "s:"},
        "cache": {"url": redis_url, "key_prefix": redis_key_prefix + "c:"},
        "refcommons": {"enabled": False}, "admin_token": ADMIN, "registry": {"members": [declared]},
        "upstream": {"retries": 0},
    }
    one = await start_gateway(**shared)
    two = await start_gateway(**shared)
    try:
        did = commons.commons.dataset.files[0].guid
        prefix, uuid = did.split("/", 1)
        spellings = [did, uuid, f"drs://{prefix}:{uuid}"]

        async def revs(gw: Server) -> list[str]:
            out = []
            for s in spellings:
                r = await gw.client.get("/resolver/v1/resolve", params={"id": s})
                assert r.status_code == 200, r.text
                out.append(r.json()["record"]["rev"])
            o = await gw.client.get(f"{DRS}/objects/{uuid}")
            assert o.status_code == 200
            return out

        before = await revs(one)
        assert await revs(two) == before
        new = await set_authz(commons, did, ["/programs/moved"])
        assert await revs(two) == before, "cached: the change is not seen without a purge"

        assert (await one.client.post("/registry/v1/cache/purge", json={"ids": [did]})).status_code == 401
        r = await one.client.post("/registry/v1/cache/purge", json={"ids": [did]}, headers=AUTH)
        assert r.status_code == 200, r.text
        assert await revs(two) == [new] * 3, "the second replica sees the new record at once"
        assert await revs(one) == [new] * 3

        # a whole member: every replica within the recheck interval
        newer = await set_authz(commons, did, ["/programs/moved-again"])
        r = await two.client.post("/registry/v1/cache/purge", json={"member": "pm"}, headers=AUTH)
        assert r.status_code == 200, r.text
        assert await revs(two) == [newer] * 3
        await asyncio.sleep(RECHECK)
        assert await revs(one) == [newer] * 3

        for body in ({}, {"ids": [did], "member": "pm"}, {"ids": ["not an id at all !!"]}):
            bad = await one.client.post("/registry/v1/cache/purge", json=body, headers=AUTH)
            assert bad.status_code == 400, (body, bad.text)
        missing = await one.client.post("/registry/v1/cache/purge", json={"member": "nope"}, headers=AUTH)
        assert missing.status_code == 404
        audit = (await one.client.get("/registry/v1/audit", headers=AUTH)).json()
        purges = [e for e in audit["entries"] if e.get("action") == "cache.purge"]
        assert [e.get("member_id") for e in purges] == [None, "pm"] and all(
            e["actor"] == "admin:bootstrap" for e in purges), purges
    finally:
        await one.stop()
        await two.stop()
        await commons.stop()
