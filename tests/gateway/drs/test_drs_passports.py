"""End to end: GA4GH Passports through the gateway's DRS API to standalone reference commons over real HTTP.

A development broker (JWKS and discovery on 127.0.0.1) issues Passports with ControlledAccessGrants Visas. The
gateway trusts it, maps each member's ``/programs/<phs>.<consent>`` resources to dbGaP grants, and reaches:

* ``tok`` (gen3 kind, ``gateway_token`` mode): the gateway decides, then signs a token the commons checks against
  the gateway's published JWKS;
* ``pp`` (gen3 kind, ``passport`` mode): the gateway decides, then forwards the Passports, which the commons
  validates again under its own trust;
* ``dr`` (drs kind, ``passport`` mode): DRS objects carry no ``authz``, so the commons decides alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from passport_kit import DAC, DATASETS, SUB, Broker, dev_broker, expires_of, files, passports_config
from prometheus_client.parser import text_string_to_metric_families
from servers import Server, free_port, start_commons, start_gateway

from gateway.passports.tokens.token_keys import JWKS_PATH
from gateway.passports.tools.devbroker import DevBroker
from gateway.settings.passports import PassportsConfig
from refcommons.fence.gateway_trust import TrustedGateway
from refcommons.indexd.records import IndexRecord

DRS = "/ga4gh/drs/v1"
RESOURCES = {"templates": [{"template": "/programs/{dataset}.{consent}", "authority": "dbgap"}]}
LEEWAY = PassportsConfig.model_fields["leeway"].default
"""A Passport or Visa counts until its exp + leeway (rule 20): so do the URLs and tokens a decision yields."""


@dataclass
class Eco:
    gateway: Server
    broker: Broker
    tok: Server
    pp: Server
    dr: Server
    files: dict[str, dict[str, IndexRecord]]

    def passport(self, *grants: tuple[str, str], ttl: int = 600, **kw: Any) -> str:
        return self.broker.passport([self.broker.visa(phs, consent, ttl=ttl) for phs, consent in grants], **kw)


def phs(record: IndexRecord) -> tuple[str, str]:
    dataset, _, consent = record.authz[0].removeprefix("/programs/").partition(".")
    return dataset, consent


@pytest.fixture
async def eco(tmp_path) -> AsyncIterator[Eco]:
    async with AsyncExitStack() as stack:
        broker = await stack.enter_async_context(dev_broker(tmp_path / "broker"))
        gw_port = free_port()
        gw_url = f"http://127.0.0.1:{gw_port}"
        trusted = (TrustedGateway(gw_url, gw_url + JWKS_PATH),)
        commons = {}
        for name, prefix, seed in (("tok", "dg.PTOK", 41), ("pp", "dg.PPAS", 42), ("dr", "dg.PDRS", 43)):
            commons[name] = await start_commons(prefix, seed, 12, passports=passports_config(broker.url),
                                                trusted_gateways=trusted, allow_insecure_loopback=True)
            stack.push_async_callback(commons[name].stop)

        def member(mid: str, kind: str, mode: str) -> dict[str, Any]:
            server = commons[mid]
            assert server.commons is not None
            return {"id": mid, "name": mid, "base_url": server.base_url, "kind": kind,
                    "prefixes": [server.commons.settings.prefix], "auth": {"type": mode}}

        gateway = await start_gateway(
            port=gw_port, store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
            registry={"members": [member("tok", "gen3", "gateway_token"), member("pp", "gen3", "passport"),
                                  member("dr", "drs", "passport")]},
            passports={**passports_config(broker.url).model_dump(mode="json"),
                       "resource_maps": {"tok": RESOURCES, "pp": RESOURCES}},
            upstream={"retries": 0},
        )
        stack.push_async_callback(gateway.stop)
        yield Eco(gateway, broker, commons["tok"], commons["pp"], commons["dr"],
                  {name: await files(server) for name, server in commons.items()})


async def access(eco: Eco, record: IndexRecord, passports: list[str] | None = None, **kw: Any) -> httpx.Response:
    body = {"passports": passports} if passports is not None else {}
    return await eco.gateway.client.post(f"{DRS}/objects/{record.did}/access/s3", json=body, **kw)


def assert_drs_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status_code"] == status and isinstance(body["msg"], str)
    return body


async def fetch(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url)


@pytest.mark.parametrize("member", ["tok", "pp", "dr"])
async def test_a_c1_passport_gets_the_c1_file_and_not_the_c2_file(eco, member):
    f = eco.files[member]
    passport = eco.passport(phs(f["c1"]), ttl=600)
    r = await access(eco, f["c1"], [passport])
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    assert expires_of(url) <= int(time.time()) + 600 + LEEWAY  # the visa's end, leeway included (rule 20)
    got = await fetch(url)
    assert got.status_code == 200 and got.content  # the member signed it: the bytes come
    denied = assert_drs_error(await access(eco, f["c2"], [passport]), 403)
    assert passport not in denied["msg"]
    # another study's c1 is not granted by this study's c1
    assert_drs_error(await access(eco, f["other"], [passport]), 403)
    if member != "dr":  # the gateway decided (a DRS member without authz decides itself): /metrics counts it
        metrics = (await eco.gateway.client.get("/metrics")).text
        decisions = {s.labels["outcome"]: s.value for family in text_string_to_metric_families(metrics)
                     for s in family.samples
                     if s.name == "gateway_passport_decisions_total" and s.labels["stage"] == "access"}
        assert decisions == {"allowed": 1, "resource_not_granted": 2}


async def test_access_ends_when_the_visa_expires(eco):
    f = eco.files["tok"]
    # a Visa whose exp passed, but within the leeway for 3 more seconds: it counts until exp + leeway (rule 20)
    earlier = DevBroker(eco.broker.broker.keys, eco.broker.url, clock=lambda: time.time() - 60)
    dataset, consent = phs(f["c1"])
    visa = earlier.controlled_access_grant(sub=SUB, value=DATASETS.format(dataset=dataset, consent=consent),
                                           source=DAC, exp=int(time.time()) + 3 - LEEWAY)
    passport = eco.broker.passport([visa])
    r = await access(eco, f["c1"], [passport])
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    assert expires_of(url) <= int(time.time()) + 3  # the signed URL never outlives the visa (its exp + leeway)
    await asyncio.sleep(4.2)
    assert_drs_error(await access(eco, f["c1"], [passport]), 403)  # cached decision or not: the grant is gone
    assert (await fetch(url)).status_code in (401, 403)  # and the URL issued before has expired with it


async def test_without_passports_controlled_data_is_refused_by_the_member_and_open_data_served(eco):
    f = eco.files["tok"]
    assert_drs_error(await access(eco, f["c1"]), 401)
    assert (await access(eco, f["open"])).status_code == 200
    # with passports, open data (not in the resource map) is still served: asked for as anyone would
    assert (await access(eco, f["open"], [eco.passport(phs(f["c1"]))])).status_code == 200


async def test_a_passport_as_the_bearer_token_on_get(eco):
    f = eco.files["tok"]
    headers = {"Authorization": f"Bearer {eco.passport(phs(f['c1']))}"}
    r = await eco.gateway.client.get(f"{DRS}/objects/{f['c1'].did}/access/s3", headers=headers)
    assert r.status_code == 200, r.text
    assert_drs_error(await eco.gateway.client.get(f"{DRS}/objects/{f['c2'].did}/access/s3", headers=headers), 403)
    assert (await eco.gateway.client.get(f"{DRS}/objects/{f['c1'].did}", headers=headers)).status_code == 200


async def test_bad_envelopes_and_bad_passports(eco):
    f = eco.files["tok"]
    good = eco.passport(phs(f["c1"]))
    assert_drs_error(await access(eco, f["c1"], [good], headers={"Authorization": "Bearer x.y.z"}), 400)
    assert_drs_error(await access(eco, f["c1"], []), 401)
    tampered = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    body = assert_drs_error(await access(eco, f["c1"], [tampered]), 401)
    assert tampered not in body["msg"] and "rule" in body["msg"]
    stranger = await eco.gateway.client.post(f"{DRS}/objects/{f['c1'].did}", json={"passports": [tampered]})
    assert_drs_error(stranger, 401)


async def test_bulk_access_with_passports_decides_per_object(eco):
    tok, pp = eco.files["tok"], eco.files["pp"]
    passport = eco.passport(phs(tok["c1"]), phs(pp["c1"]))
    items = [tok["c1"], tok["c2"], tok["open"], pp["c1"], pp["c2"]]
    r = await eco.gateway.client.post(f"{DRS}/objects/access", json={
        "passports": [passport],
        "bulk_object_access_ids": [{"bulk_object_id": i.did, "bulk_access_ids": ["s3"]} for i in items]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert {u["drs_object_id"] for u in body["resolved_drs_object_access_urls"]} == {
        tok["c1"].did, tok["open"].did, pp["c1"].did}
    assert body["unresolved_drs_objects"] == [{"error_code": 403, "object_ids": [tok["c2"].did, pp["c2"].did]}]
    for u in body["resolved_drs_object_access_urls"]:
        assert (await fetch(u["url"])).status_code == 200


async def test_options_lists_passport_auth_and_the_trusted_issuers(eco):
    f = eco.files["tok"]
    r = await eco.gateway.client.options(f"{DRS}/objects/{f['c1'].did}")
    assert r.status_code == 200
    doc = r.json()
    assert "PassportAuth" in doc["supported_types"]
    assert doc["passport_auth_issuers"] == [eco.broker.url]


async def test_the_gateway_publishes_the_key_its_member_tokens_verify_with(eco):
    f = eco.files["tok"]
    assert (await access(eco, f["c1"], [eco.passport(phs(f["c1"]))])).status_code == 200
    jwks = (await eco.gateway.client.get(JWKS_PATH)).json()
    assert len(jwks["keys"]) == 1 and jwks["keys"][0]["alg"] == "RS256" and "d" not in jwks["keys"][0]


async def test_hostile_passport_input_is_a_clear_4xx_never_a_500(eco):
    f = eco.files["tok"]
    good = eco.passport(phs(f["c1"]))
    bodies = [{"passports": v} for v in (
        "x", 1, {"a": 1}, [1], [None], [""], ["a"], ["a.b"], ["a.b.c"], ["é.é.é"], [good] * 11, ["x" * 300_000],
        [good, eco.broker.passport([], sub="someone-else")], [good.replace(".", "..", 1)],
    )]
    for body in bodies:
        for path in (f"{DRS}/objects/{f['c1'].did}/access/s3", f"{DRS}/objects/{f['c1'].did}"):
            r = await eco.gateway.client.post(path, json=body)
            assert 400 <= r.status_code < 500, (body, r.status_code)
            assert set(r.json()) == {"msg", "status_code"}
    for header in ("Bearer " + good.split(".")[0] + ".x.y", "Bearer " + good[:-10], "Bearer " + good + "."):
        r = await eco.gateway.client.get(f"{DRS}/objects/{f['c1'].did}/access/s3", headers={"Authorization": header})
        assert 400 <= r.status_code < 500, (header[:40], r.status_code)
