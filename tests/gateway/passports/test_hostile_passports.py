"""Passports that lie, end to end (issue 13, "Passports"): a real development broker serving its JWKS and discovery
on 127.0.0.1 signs every token, a real gateway validates them and asks a real reference commons (``gateway_token``
member mode) for a signed URL, and ``gateway passport inspect`` reads the same tokens under the same trust.

* a malformed LinkedIdentities Visa is rejected with a reason and counts for nothing, conditions included;
* a Passport whose ``exp`` is within the leeway is valid for inspect AND for the access decision, and just outside
  it for neither; the decision never outlives ``exp + leeway``;
* every size limit (Passport count, bytes, Visa count) answers 413 before any key is fetched;
* the decision log carries the Passport's ``iss``, ``sub`` and ``jti``, never the token.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from passport_kit import SUB, Broker, dev_broker, expires_of, files, passports_config
from servers import Server, free_port, start_commons, start_gateway

from gateway.cli.main import main
from gateway.core.logs import configure_logging
from gateway.passports.tokens.token_keys import JWKS_PATH
from gateway.passports.tools.devbroker import DevBroker, KeyRing
from refcommons.fence.gateway_trust import TrustedGateway
from refcommons.indexd.records import IndexRecord

DRS = "/ga4gh/drs/v1"
RESOURCES = {"templates": [{"template": "/programs/{dataset}.{consent}", "authority": "dbgap"}]}
LEEWAY = 30


@dataclass
class Eco:
    gateway: Server
    broker: Broker
    commons: Server
    files: dict[str, IndexRecord]
    config: Path
    """The gateway's ``passports`` section as a YAML file, for ``gateway passport inspect``."""

    def grant(self, record: IndexRecord, **kw: Any) -> str:
        dataset, _, consent = record.authz[0].removeprefix("/programs/").partition(".")
        return self.broker.visa(dataset, consent, **kw)

    def linked(self, value: str, **kw: Any) -> str:
        """A LinkedIdentities Visa of the broker, ``value`` exactly as given (well-formed or not)."""
        return self.broker.broker.visa(sub=SUB, type="LinkedIdentities", value=value, source=self.broker.url,
                                       by="system", **kw)


def gateway_passports(broker_url: str) -> dict[str, Any]:
    section = passports_config(broker_url).model_dump(mode="json")
    section["trusted_visa_issuers"][0]["sources"]["LinkedIdentities"] = [broker_url]
    section["leeway"] = LEEWAY
    section["keys"]["kid_miss_cooldown"] = 0  # an unknown kid is looked for at once: a verification shows as a fetch
    return {**section, "resource_maps": {"tok": RESOURCES}}


@pytest.fixture
async def eco(tmp_path: Path) -> AsyncIterator[Eco]:
    async with AsyncExitStack() as stack:
        broker = await stack.enter_async_context(dev_broker(tmp_path / "broker"))
        gw_port = free_port()
        gw_url = f"http://127.0.0.1:{gw_port}"
        commons = await start_commons("dg.PTOK", 41, 12, passports=passports_config(broker.url),
                                      trusted_gateways=(TrustedGateway(gw_url, gw_url + JWKS_PATH),),
                                      allow_insecure_loopback=True)
        stack.push_async_callback(commons.stop)
        assert commons.commons is not None
        section = gateway_passports(broker.url)
        gateway = await start_gateway(
            port=gw_port, store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
            registry={"members": [{"id": "tok", "name": "tok", "base_url": commons.base_url, "kind": "gen3",
                                   "prefixes": [commons.commons.settings.prefix],
                                   "auth": {"type": "gateway_token"}}]},
            passports=section, upstream={"retries": 0},
        )
        stack.push_async_callback(gateway.stop)
        config = tmp_path / "gateway.yaml"
        config.write_text(yaml.safe_dump({"passports": section}), encoding="utf-8")
        yield Eco(gateway, broker, commons, await files(commons), config)


async def access(eco: Eco, record: IndexRecord, passports: list[str], **kw: Any) -> httpx.Response:
    return await eco.gateway.client.post(f"{DRS}/objects/{record.did}/access/s3", json={"passports": passports}, **kw)


async def inspect(eco: Eco, capsys: pytest.CaptureFixture[str], *tokens: str,
                  now: int | None = None) -> tuple[int, dict[str, Any]]:
    """``gateway passport inspect --json`` under the gateway's own configuration (its own event loop, in a thread:
    the broker keeps serving keys from this one)."""
    argv = ["passport", "inspect", "--config", str(eco.config), "--json", *tokens]
    if now is not None:
        argv[4:4] = ["--now", str(now)]
    capsys.readouterr()
    code = await asyncio.to_thread(main, argv)
    out, _ = capsys.readouterr()
    return code, json.loads(out)


# --- malformed LinkedIdentities -------------------------------------------------------------------------------------

MALFORMED_LINKS = [
    "a,b,c",  # three parts
    "a",  # one part
    "alice,https%3A%2F%2Fidp.example;bob",  # a good entry, then one with one part
    "alice,https%3A%2F%2Fidp.example;",  # an empty entry
    "alice%zz,https%3A%2F%2Fidp.example",  # an invalid %-escape
    "alice%E2%82,https%3A%2F%2Fidp.example",  # a truncated UTF-8 sequence
    ",https%3A%2F%2Fidp.example",  # an empty sub
    "alice,",  # an empty iss
    "alice bob,https://idp.example",  # a raw space: not URL-encoded
]
WELL_FORMED_LINK = "alice,https%3A%2F%2Fidp.example;bob%40lab,https:%2F%2Fother.example"


def gated_on_a_link(eco: Eco, record: IndexRecord) -> str:
    """A c1 grant usable only if the same Passport holds a LinkedIdentities Visa of the broker."""
    return eco.grant(record, conditions=[[{"type": "LinkedIdentities", "source": f"const:{eco.broker.url}"}]])


async def test_a_malformed_linked_identities_visa_satisfies_no_condition(eco, capsys):
    c1 = eco.files["c1"]
    # the control: a well-formed link meets the condition, and the gated grant opens the file
    good = eco.broker.passport([eco.linked(WELL_FORMED_LINK), gated_on_a_link(eco, c1)])
    r = await access(eco, c1, [good])
    assert r.status_code == 200, r.text
    for value in MALFORMED_LINKS:
        passport = eco.broker.passport([eco.linked(value), gated_on_a_link(eco, c1)])
        r = await access(eco, c1, [passport])
        assert r.status_code == 403, (value, r.text)
        assert "url" not in r.json() and passport not in r.text

    passport = eco.broker.passport([eco.linked("a,b,c"), gated_on_a_link(eco, c1)])
    code, report = await inspect(eco, capsys, passport)
    assert code == 0 and report["grants"] == []  # the Passport itself is valid; nothing is granted
    link, gated = report["passports"][0]["visas"]
    assert (link["status"], link["rule"]) == ("ignored", 39), link  # refused: never accepted, never used
    assert link["reason"] == "malformed LinkedIdentities value: entry 1 has 3 parts, not sub,iss"
    assert link["unverified"]["value"] == "a,b,c"
    assert (gated["status"], gated["rule"]) == ("ignored", 34), gated


async def test_a_malformed_link_never_joins_two_passports(eco):
    """Rule 5: two Passports of different subjects are one person only through a well-formed trusted link."""
    c1 = eco.files["c1"]
    other = eco.broker.broker.passport(sub="mallory", visas=[])
    for value, status in (("mallory", 400), (f"mallory,{eco.broker.url}", 200)):
        mine = eco.broker.passport([eco.linked(value), eco.grant(c1)])
        r = await access(eco, c1, [mine, other])
        assert r.status_code == status, (value, r.text)


# --- exp and the leeway ---------------------------------------------------------------------------------------------


def passport_expired_ago(eco: Eco, ago: int, record: IndexRecord) -> tuple[str, int]:
    """A Passport (issued an hour ago) whose ``exp`` passed ``ago`` seconds ago, with a fresh c1 grant."""
    earlier = DevBroker(eco.broker.broker.keys, eco.broker.url, clock=lambda: time.time() - 3600)
    exp = int(time.time()) - ago
    token = earlier.passport(sub=SUB, visas=[eco.grant(record)], ttl=exp - (int(time.time()) - 3600))
    return token, exp


async def test_exp_within_the_leeway_is_valid_for_inspect_and_the_decision_alike(eco, capsys):
    c1 = eco.files["c1"]
    token, exp = passport_expired_ago(eco, LEEWAY - 10, c1)
    now = int(time.time())
    code, report = await inspect(eco, capsys, token, now=now)
    assert code == 0 and report["valid"] is True, report["rejection"]
    dataset, _, consent = c1.authz[0].removeprefix("/programs/").partition(".")
    assert [g["resource"] for g in report["grants"]] == [f"dbgap/{dataset}/{consent}"]
    assert exp < report["valid_until"]["epoch"] <= exp + LEEWAY  # the decision never outlives exp + leeway
    r = await access(eco, c1, [token])
    assert r.status_code == 200, r.text  # was 403 "the passports have expired"
    assert now < expires_of(r.json()["url"]) <= exp + LEEWAY


async def test_exp_outside_the_leeway_is_refused_by_inspect_and_the_decision_alike(eco, capsys):
    c1 = eco.files["c1"]
    token, _ = passport_expired_ago(eco, LEEWAY + 10, c1)
    code, report = await inspect(eco, capsys, token, now=int(time.time()))
    assert code == 1 and report["rejection"]["rule"] == 20 and report["rejection"]["status"] == 401
    r = await access(eco, c1, [token])
    assert r.status_code == 401 and "rule 20" in r.json()["msg"]


# --- size limits ----------------------------------------------------------------------------------------------------


async def keys_warmed(hits: list[str]) -> None:
    """Until the gateway's start-up key fetch (discovery, JWKS) is over; then forget it."""
    for _ in range(100):
        before = list(hits)
        await asyncio.sleep(0.1)
        if hits == before and any(h.endswith("/jwks.json") for h in hits):
            break
    hits.clear()


async def test_every_size_limit_answers_413_before_any_key_is_fetched(eco, tmp_path, capsys):
    c1 = eco.files["c1"]
    visa = eco.grant(c1)
    # signed by a key the broker does not publish: verifying any of these would make the gateway fetch the JWKS
    # again for the unknown kid (the observation), and fail
    stranger = DevBroker(KeyRing.open(tmp_path / "stranger"), eco.broker.url)
    untrusted = DevBroker(eco.broker.broker.keys, "https://untrusted.example")
    cases = {
        "201 visas": [stranger.passport(sub=SUB, visas=["x"] * 201)],
        "201 visas, untrusted broker": [untrusted.passport(sub=SUB, visas=["x"] * 201)],
        "201 distinct visas": [stranger.passport(sub=SUB, visas=[visa] + [f"x{i}" for i in range(200)])],
        "11 passports": [stranger.passport(sub=SUB, visas=[visa])] * 11,
        "a passport over 256 KiB": [stranger.passport(sub=SUB, visas=["x" * (257 * 1024)])],
    }
    await keys_warmed(eco.broker.hits)
    for name, passports in cases.items():
        r = await access(eco, c1, passports)
        assert r.status_code == 413, (name, r.text)
        assert r.json()["status_code"] == 413 and "rule 3" in r.json()["msg"]
        assert eco.broker.hits == [], name  # no key fetched: nothing was verified
    r = await eco.gateway.client.get(f"{DRS}/objects/{c1.did}/access/s3",  # the same as a bearer token
                                     headers={"Authorization": f"Bearer {cases['201 visas'][0]}"})
    assert r.status_code == 413, r.text
    assert eco.broker.hits == []

    code, report = await inspect(eco, capsys, *cases["201 visas"])  # a cold key store: any lookup would fetch
    assert code == 1 and report["rejection"]["status"] == 413 and report["rejection"]["rule"] == 3
    assert eco.broker.hits == []

    # the control: at the limit, the stranger's Passport is verified, which fetches the JWKS for its kid
    r = await access(eco, c1, [stranger.passport(sub=SUB, visas=[visa] + ["x"] * 199)])
    assert r.status_code == 401, r.text
    assert any(h.endswith("/jwks.json") for h in eco.broker.hits)


# --- the decision log -----------------------------------------------------------------------------------------------


async def test_the_decision_log_carries_iss_sub_and_jti_never_the_token(eco):
    c1 = eco.files["c1"]
    passport = eco.broker.broker.passport(sub=SUB, visas=[eco.grant(c1)], jti="passport-jti-77")
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    try:
        r = await access(eco, c1, [passport])
        logging.getLogger().handlers[0].flush()
    finally:
        logging.getLogger().handlers.clear()
    assert r.status_code == 200, r.text
    text = stream.getvalue()
    lines = [orjson.loads(line) for line in text.splitlines()]
    (decision,) = [line for line in lines if line["msg"] == "passport evaluated"]
    assert decision["passport_iss"] == eco.broker.url
    assert decision["passport_sub"] == SUB
    assert decision["passport_jti"] == "passport-jti-77"
    assert len(decision["passport_sha256"]) == 64
    (row,) = decision["visas"]
    assert (row["iss"], row["sub"], row["status"]) == (eco.broker.url, SUB, "VALID") and row["jti"]
    for part in passport.split("."):
        assert part not in text
