"""The Passport gate's plain parts, without a network: telling a bearer Passport from other bearer tokens, which
issuers an object's OPTIONS names, and how each member mode turns a decision into a member call."""

from __future__ import annotations

import json

import pytest

from gateway.core.egress import OPEN
from gateway.core.member import Member, MemberAuth
from gateway.core.records import MemberRecord
from gateway.passports.build import build_engine, resource_map
from gateway.passports.evaluation import Evaluation
from gateway.passports.gate import AccessRefused, Caller, MemberCall, PassportGate, bearer_passport, record_authz
from gateway.passports.jose.encoding import b64url_encode
from gateway.passports.rules.grants import Grant
from gateway.passports.tokens import gateway_token
from gateway.passports.tokens.token_keys import TokenKeyRing
from gateway.settings.passports import GatewayTokenSettings, PassportsConfig, ResourceMapSettings
from gateway.store import open_store

BROKER = "https://broker.example"
VISAS = "https://visas.example"
RAS = "https://ras.example"
NOW = 1_800_000_000


def token(header: dict | str, payload: str = "e30", sig: str = "c2ln") -> str:
    head = header if isinstance(header, str) else b64url_encode(json.dumps(header).encode())
    return f"{head}.{payload}.{sig}"


@pytest.mark.parametrize("typ", ["vnd.ga4gh.passport+jwt", "VND.GA4GH.PASSPORT+JWT",
                                 "application/vnd.ga4gh.passport+jwt"])
def test_a_bearer_token_whose_header_names_a_passport_is_one(typ):
    t = token({"alg": "RS256", "typ": typ, "kid": "k"})
    assert bearer_passport(f"Bearer {t}") == t
    assert bearer_passport(f"bearer   {t}  ") == t


@pytest.mark.parametrize("header", [
    None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer a.b", "Bearer a.b.c.d.e", "Bearer !!!.e30.c2ln",
    "Bearer é.e30.c2ln", "Token " + token({"typ": "vnd.ga4gh.passport+jwt"}),
    "Bearer " + token({"alg": "RS256", "typ": "JWT"}), "Bearer " + token({"alg": "RS256", "typ": "at+jwt"}),
    "Bearer " + token({"alg": "RS256"}), "Bearer " + token({"typ": ["vnd.ga4gh.passport+jwt"]}),
    "Bearer " + token(b64url_encode(b"[1,2]")), "Bearer " + token(b64url_encode(b"\xff\xfe")),
    "Bearer " + "a" * 300_000 + ".b.c",
])
def test_anything_else_is_an_ordinary_credential(header):
    assert bearer_passport(header) is None


def record(authz: list[str] | None, fmt: str = "indexd", rid: str = "dg.X/1") -> MemberRecord:
    doc = {"did": rid} if authz is None else {"did": rid, "authz": authz}
    return MemberRecord("m", rid, fmt, doc)  # type: ignore[arg-type]


def test_record_authz_reads_only_string_resources():
    assert record_authz(record(["/a", 3, None, "/b"])) == ["/a", "/b"]  # type: ignore[list-item]
    assert record_authz(record(None)) == []
    assert record_authz(MemberRecord("m", "x", "drs", {"authz": "/a"})) == []


async def test_issuers_are_those_with_a_grant_rule_for_the_authority_and_trusted():
    def trusted(issuer: str, source: str) -> dict:
        return {"issuer": issuer, "discovery": True, "sources": {"ControlledAccessGrants": [source]}}

    def rule(issuer: str, source: str, authority: str) -> dict:
        return {"issuer": issuer, "source": source, "authority": authority}

    engine = build_engine(PassportsConfig.model_validate({
        "enabled": True, "trusted_brokers": [{"issuer": BROKER, "discovery": True}],
        "trusted_visa_issuers": [trusted(VISAS, "dac"), trusted(RAS, "nih"), trusted("https://other", "d"),
                                 trusted("https://wrong-source", "z")],
        "grants": {"issuers": [rule(VISAS, "dac", "dbgap"), rule("https://other", "d", "ega"),
                               rule("https://wrong-source", "not-z", "dbgap")],
                   "ras": {"issuers": [RAS, "https://untrusted-ras"], "authority": "dbgap"}},
    }), egress=OPEN)
    try:
        assert engine.issuers_granting({"dbgap"}) == [RAS, VISAS]
        assert engine.issuers_granting({"ega"}) == ["https://other"]
        assert engine.issuers_granting(set()) == []
    finally:
        await engine.aclose()


@pytest.fixture
async def gate(tmp_path):
    store = await open_store("sqlite://:memory:")
    engine = build_engine(PassportsConfig.model_validate({
        "enabled": True, "allow_insecure_loopback": True,
        "trusted_brokers": [{"issuer": BROKER, "discovery": True}],
        "trusted_visa_issuers": [{"issuer": VISAS, "jku": [VISAS + "/jwks"],
                                  "sources": {"ControlledAccessGrants": ["dac"]}}],
        "grants": {"issuers": [{"issuer": VISAS, "source": "dac", "authority": "dbgap",
                                "templates": [{"template": "https://dac/{dataset}.{consent}"}]}]},
    }), egress=OPEN)
    maps = {"m": resource_map(ResourceMapSettings.model_validate(
        {"templates": [{"template": "/programs/{dataset}.{consent}", "authority": "dbgap"}]}))}
    g = PassportGate(engine, maps, TokenKeyRing(store, 3600, clock=lambda: NOW), GatewayTokenSettings(),
                     "https://gw.example", clock=lambda: NOW)
    yield g
    await engine.aclose()
    await store.close()


def caller(*grants: tuple[str, str, int]) -> Caller:
    gs = tuple(Grant("dbgap", d, c, exp, VISAS, "dac") for d, c, exp in grants)
    until = min([NOW + 900, *(g.expires for g in gs)])
    return Caller(("p.p.p",), Evaluation(gs, until, NOW + 900), (BROKER, "alice"))


def member(mode: str, mid: str = "m") -> Member:
    return Member(mid, mid, "https://m.example", "gen3", ("dg.x",), (), auth=MemberAuth(mode))  # type: ignore[arg-type]


async def test_gateway_token_mode_signs_a_token_for_that_member_object_and_decision(gate):
    c = caller(("phs000001", "c1", NOW + 300))
    call = await gate.plan(c, member("gateway_token"), record(["/programs/phs000001.c1"]))
    assert call is not None and call.passports is None and call.not_after == NOW + 300
    parsed = gateway_token.parse(call.authorization.removeprefix("Bearer "))
    grant = gateway_token.check(parsed, NOW, issuer="https://gw.example", audience="https://m.example")
    assert grant.object_id == "dg.X/1" and grant.resources == ("/programs/phs000001.c1",)
    assert grant.access_until == NOW + 300 and grant.expires == NOW + 60 and grant.subject == "alice"


async def test_passport_mode_forwards_the_passports_after_deciding(gate):
    c = caller(("phs000001", "c1", NOW + 300))
    call = await gate.plan(c, member("passport"), record(["/programs/phs000001.c1"]))
    assert call == MemberCall(passports=("p.p.p",), not_after=NOW + 300)
    with pytest.raises(AccessRefused, match=r"resource_not_granted|grant no access"):
        await gate.plan(c, member("passport"), record(["/programs/phs000001.c2"]))


async def test_all_of_every_resource_and_no_lookalikes(gate):
    c = caller(("phs000001", "c1", NOW + 300))
    for authz in (["/programs/phs000001.c1", "/programs/phs000002.c1"], ["/programs/phs000001.c1", "/elsewhere"]):
        with pytest.raises(AccessRefused):
            await gate.plan(c, member("gateway_token"), record(authz))
    # a lookalike maps to no dataset at all: no credential goes with it, so the member refuses it as it would anyone
    call = await gate.plan(c, member("gateway_token"), record(["/programs/phs0000011.c1"]))
    assert call is not None and call.denied is not None and call.authorization is None


async def test_objects_with_nothing_mapped_are_asked_for_anonymously_and_plain_drs_objects_left_to_the_member(gate):
    c = caller(("phs000001", "c1", NOW + 300))
    call = await gate.plan(c, member("gateway_token"), record(["/programs/open/projects/x"]))
    assert call is not None and call.denied is not None and call.authorization is None and call.passports is None
    call = await gate.plan(c, member("gateway_token"), record(None))
    assert call is not None and call.denied is not None
    call = await gate.plan(c, member("passport"), record(None, fmt="drs"))
    assert call == MemberCall(passports=("p.p.p",), not_after=c.evaluation.valid_until)


async def test_other_modes_and_unmapped_members_take_no_part(gate):
    c = caller(("phs000001", "c1", NOW + 300))
    for mode in ("none", "passthrough", "bearer", "api_key"):
        assert await gate.plan(c, member(mode), record(["/programs/phs000001.c1"])) is None
    # a member without a resource map maps nothing: asked anonymously, and its refusal is the gateway's 403
    call = await gate.plan(c, member("gateway_token", "unmapped"), record(["/programs/phs000001.c1"]))
    assert call is not None and call.denied is not None and call.authorization is None
    with pytest.raises(AccessRefused):  # no grants at all
        await gate.plan(caller(), member("gateway_token"), record(["/programs/phs000001.c1"]))


async def test_issuers_for_options(gate):
    assert gate.issuers_for(member("gateway_token"), record(["/programs/phs000001.c1"])) == [VISAS]
    assert gate.issuers_for(member("gateway_token"), record(["/open"])) == []
    assert gate.issuers_for(member("passport"), record(None, fmt="drs")) == [VISAS]
    assert gate.issuers_for(member("none"), record(["/programs/phs000001.c1"])) == []
