"""The Passport engine end to end: pinned keys, and a real loopback JWKS/discovery server that counts its hits."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import tokens_kit as kit
from aiohttp import web
from faults import STATE, recording_app, serve
from tokens_kit import BROKER, CAG, DAC, JKU, NOW, SUB, VISA_ISSUER, jwk, make_passport, make_visa, visa_object

from gateway.cache.memory import MemoryCache
from gateway.core.egress import OPEN
from gateway.passports.build import build_engine, build_trust, grant_config
from gateway.passports.engine import PassportEngine
from gateway.passports.evaluation import PassportRejected, visa_facts
from gateway.passports.rules import resources
from gateway.passports.rules.grants import RAS_V11, GrantConfig, IssuerGrantRules, RasRules
from gateway.passports.rules.resources import MemberResourceMap
from gateway.passports.rules.templates import Template
from gateway.passports.trust.keys import KeyStore
from gateway.settings.gateway import Settings
from gateway.settings.passports import KeyFetchSettings, PassportsConfig, PassportTrustSettings

BROKER_KEY = kit.rsa_key(2048, 1)
VISA_KEY = kit.rsa_key(2048, 2)
RAS_KEY = kit.ec_key("P-256", 3)
RAS = "https://sts.example.nih.gov"
RAS_SOURCE = "https://ncbi.nlm.nih.gov/gap"
AFFILIATION = "AffiliationAndRole"
LINKED = "LinkedIdentities"
OTHER_SUB = "someone-else"
FAST = KeyFetchSettings(connect_timeout=1.0, read_timeout=1.0)

GRANTS = GrantConfig(
    rules=(IssuerGrantRules(VISA_ISSUER, DAC, "dbgap",
                            templates=(Template("https://dac.example.org/datasets/{dataset}.{consent}"),)),),
    ras=RasRules(issuers=frozenset({RAS})),
)
MAP = MemberResourceMap(exact=(("/programs/phs000001.c1", ("dbgap", "phs000001", "c1")),
                               ("/programs/phs000002.c1", ("dbgap", "phs000002", "c1")),
                               ("/programs/phs000003.c2", ("dbgap", "phs000003", "c2"))))
SOURCES = {CAG: [DAC], AFFILIATION: [DAC], LINKED: [DAC]}


def dataset(n: int, consent: str = "c1") -> str:
    return f"https://dac.example.org/datasets/phs{n:06d}.{consent}"


def pinned_trust(*, strict: bool = False, **extra):
    return build_trust(PassportTrustSettings.model_validate({
        "enabled": True,
        "trusted_brokers": [{"issuer": BROKER, "jwks": {"keys": [jwk(BROKER_KEY, "broker-k1")]},
                             "strict_subject": strict}],
        "trusted_visa_issuers": [
            {"issuer": VISA_ISSUER, "jwks": {"keys": [jwk(VISA_KEY, "visa-k1")]}, "sources": SOURCES},
            {"issuer": RAS, "jwks": {"keys": [jwk(RAS_KEY, "ras-k1")]}, "sources": {RAS_V11: [RAS_SOURCE]}},
        ],
        **extra,
    }))


LEEWAY = PassportTrustSettings.model_fields["leeway"].default
"""Every Passport and Visa counts until its ``exp`` plus the leeway (rule 20), for the decision as for the checks."""


def pinned_engine(**kw) -> PassportEngine:
    trust = pinned_trust(**kw)
    return PassportEngine(trust, KeyStore(trust, FAST, egress=OPEN), GRANTS, own_keys=True)


def visa(n: int = 1, *, consent: str = "c1", **kw) -> str:
    kw.setdefault("obj", visa_object(value=dataset(n, consent)))
    kw.setdefault("key", VISA_KEY)
    return make_visa(**kw)


def passport(visas: list, **kw) -> str:
    kw.setdefault("key", BROKER_KEY)
    return make_passport(visas, **kw)


def keys_of(evaluation) -> set[tuple[str, str, str]]:
    return {g.key for g in evaluation.grants}


# --- pinned keys ---------------------------------------------------------------------------------------------------


async def test_valid_passport_with_cag_visas_gives_grants_and_reports():
    engine = pinned_engine()
    try:
        result = await engine.evaluate([passport([visa(1), visa(2, exp=NOW + 1800), visa(1)])], NOW)
    finally:
        await engine.aclose()
    assert keys_of(result) == {("dbgap", "phs000001", "c1"), ("dbgap", "phs000002", "c1")}
    # every end counts until exp + leeway (rule 20), for the checks and the decision alike
    assert {g.key: g.expires for g in result.grants}[("dbgap", "phs000002", "c1")] == NOW + 1800 + LEEWAY
    assert result.valid_until == NOW + 1800 + LEEWAY  # the earliest of the passport (NOW+3600) and the grants
    assert result.passports_expire == NOW + 3600 + LEEWAY
    assert len(result.visas) == 2 and all(v.status == "accepted" for v in result.visas)  # the duplicate is dropped
    assert result.visas[0].iss == VISA_ISSUER and result.visas[0].type == CAG
    assert result.audit[0].passport_jti == "passport-jti" and len(result.audit[0].visas) == 2
    assert not result.cached


async def test_reports_and_audit_never_hold_token_contents():
    token = visa(1)
    engine = pinned_engine()
    try:
        result = await engine.evaluate([passport([token, visa(9, iss="https://evil.example")])], NOW)
    finally:
        await engine.aclose()
    text = repr(result.visas) + repr(result.audit) + repr([v.as_dict() for v in result.visas])
    for part in token.split("."):
        assert part not in text


async def test_untrusted_broker_is_rejected_with_401():
    engine = pinned_engine()
    try:
        with pytest.raises(PassportRejected) as err:
            await engine.evaluate([passport([visa(1)], iss="https://evil.example")], NOW)
    finally:
        await engine.aclose()
    assert (err.value.status, err.value.rule) == (401, 13)


@pytest.mark.parametrize(("passports", "status", "rule"), [
    (None, 401, 1), ([], 401, 1), ("x", 400, 1), ([1], 400, 1), (["a"] * 11, 413, 3),
])
async def test_envelope(passports, status, rule):
    engine = pinned_engine()
    try:
        with pytest.raises(PassportRejected) as err:
            await engine.evaluate(passports, NOW)
        assert (err.value.status, err.value.rule) == (status, rule)
        with pytest.raises(PassportRejected) as err:
            await engine.evaluate([passport([])], NOW, has_authorization=True)
        assert (err.value.status, err.value.rule) == (400, 2)
    finally:
        await engine.aclose()


@pytest.mark.parametrize("bad", [
    lambda: passport([], key=VISA_KEY),  # signed by the wrong key
    lambda: passport([], exp=NOW - 120),  # expired
    lambda: passport([], typ="JWT"),  # legacy typ from a broker not configured for it
    lambda: passport([], aud="https://other.example"),
    lambda: passport([], kid="unknown"),
    lambda: "not.a.jws",
])
async def test_a_bad_passport_among_two_rejects_the_request(bad):
    engine = pinned_engine(audiences=["https://gateway.example.org"])
    try:
        with pytest.raises(PassportRejected) as err:
            await engine.evaluate([passport([visa(1)]), bad()], NOW)
    finally:
        await engine.aclose()
    assert err.value.status == 401


async def test_two_passports_of_one_person_pool_their_grants():
    engine = pinned_engine()
    try:
        result = await engine.evaluate([passport([visa(1)], exp=NOW + 900), passport([visa(2)], jti="p2")], NOW)
    finally:
        await engine.aclose()
    assert keys_of(result) == {("dbgap", "phs000001", "c1"), ("dbgap", "phs000002", "c1")}
    assert result.valid_until == result.passports_expire == NOW + 900 + LEEWAY
    assert [v.passport for v in result.visas] == [0, 1]


async def test_passports_of_two_people_are_400_unless_linked():
    engine = pinned_engine()
    try:
        with pytest.raises(PassportRejected) as err:
            await engine.evaluate([passport([visa(1)]), passport([visa(2)], sub=OTHER_SUB)], NOW)
        assert (err.value.status, err.value.rule) == (400, 5)
        link = visa(obj=visa_object(type=LINKED, value=f"{OTHER_SUB},{BROKER.replace(':', '%3A')}", by="system"),
                    sub=SUB, iss=VISA_ISSUER)
        # the link joins (VISA_ISSUER, SUB) with (BROKER, OTHER_SUB); a second joins (BROKER, SUB) to the first
        link2 = visa(obj=visa_object(type=LINKED, value=f"{SUB},{VISA_ISSUER}", by="system"), sub=SUB,
                     iss=VISA_ISSUER, jti="l2")
        back = visa(obj=visa_object(type=LINKED, value=f"{SUB},{BROKER}", by="system"), sub=SUB, jti="l3")
        result = await engine.evaluate([passport([visa(1), link, link2, back]), passport([visa(2)], sub=OTHER_SUB)],
                                       NOW)
        assert keys_of(result) == {("dbgap", "phs000001", "c1"), ("dbgap", "phs000002", "c1")}
    finally:
        await engine.aclose()


async def test_untrusted_issuer_unknown_source_custom_type_and_expired_visas_are_ignored():
    engine = pinned_engine(max_authz_ttl=7200)
    try:
        result = await engine.evaluate([passport([
            visa(1),
            visa(2, iss="https://evil.example"),
            visa(3, consent="c2", obj=visa_object(value=dataset(3, "c2"), source="https://other-dac.example")),
            visa(4, obj=visa_object(type="https://custom.example/type", value=dataset(4))),
            visa(5, exp=NOW - 120),
            visa(6, obj=visa_object(value=dataset(6), asserted=NOW - 8000)),  # past max_authz_ttl
            visa(7, key=BROKER_KEY),  # bad signature
            visa(8, jku="https://visas.example.org/other.json", key=kit.rsa_key(2048, 9)),  # pinned ignores jku
            12345,
        ])], NOW)
    finally:
        await engine.aclose()
    assert keys_of(result) == {("dbgap", "phs000001", "c1")}
    ignored = {v.rule for v in result.ignored}
    assert {13, 14, 28, 20, 25, 9, 22} <= ignored
    assert len(result.accepted) == 1


async def test_visa_with_unmet_conditions_is_ignored_and_met_conditions_shorten_the_grant():
    conditions = [[{"type": AFFILIATION, "value": "const:faculty@uni.example", "source": f"const:{DAC}"}]]
    conditional = visa(1, obj=visa_object(value=dataset(1), conditions=conditions))
    affiliation = visa(obj=visa_object(type=AFFILIATION, value="faculty@uni.example", by="so"), exp=NOW + 600,
                       jti="aff")
    engine = pinned_engine()
    try:
        alone = await engine.evaluate([passport([conditional])], NOW)
        met = await engine.evaluate([passport([conditional, affiliation])], NOW)
    finally:
        await engine.aclose()
    assert alone.grants == () and [v.rule for v in alone.ignored] == [34]
    assert keys_of(met) == {("dbgap", "phs000001", "c1")}
    assert met.grants[0].expires == NOW + 600 + LEEWAY == met.valid_until


async def test_strict_subject_ignores_visas_of_another_identity_unless_linked():
    foreign = visa(2, sub=OTHER_SUB, jti="foreign")
    link = visa(obj=visa_object(type=LINKED, value=f"{OTHER_SUB},{VISA_ISSUER.replace('/', '%2F')}", by="system"),
                jti="link", exp=NOW + 700)
    strict = pinned_engine(strict=True)
    lax = pinned_engine()
    try:
        result = await strict.evaluate([passport([visa(1), foreign])], NOW)
        assert keys_of(result) == {("dbgap", "phs000001", "c1")}
        assert [v.rule for v in result.ignored] == [40]
        assert keys_of(await lax.evaluate([passport([visa(1), foreign])], NOW)) == {
            ("dbgap", "phs000001", "c1"), ("dbgap", "phs000002", "c1")}
        linked = await strict.evaluate([passport([visa(1), foreign, link])], NOW)
        assert keys_of(linked) == {("dbgap", "phs000001", "c1"), ("dbgap", "phs000002", "c1")}
        assert not linked.ignored
    finally:
        await strict.aclose()
        await lax.aclose()


async def test_ras_visa_gives_dbgap_grants_with_per_grant_expiry():
    ras = make_visa(
        key=RAS_KEY, alg="ES256", kid="ras-k1", access_token=True, iss=RAS, jti="ras-1",
        obj=visa_object(type=RAS_V11, value="https://sts.example.nih.gov/passport/dbgap/v1.1", source=RAS_SOURCE),
        ras_dbgap_permissions=[
            {"phs_id": "phs000002", "consent_group": "c1", "expiration": NOW + 1000, "version": "v1"},
            {"phs_id": "phs000003", "consent_group": "c2", "expiration": NOW + 500},
            {"phs_id": "phs000004", "consent_group": "c1", "expiration": NOW - LEEWAY},  # expired, leeway included
            {"phs_id": "phs000005", "consent_group": "c1", "expiration": NOW - 1},  # within the leeway
            {"phs_id": "bad", "consent_group": "c1", "expiration": NOW + 1000},
        ],
        txn="txn-123",
    )
    engine = pinned_engine()
    try:
        result = await engine.evaluate([passport([ras, visa(1)])], NOW)
    finally:
        await engine.aclose()
    expiries = {g.key: g.expires for g in result.grants}
    # every end a token states counts until that end + leeway: exp, and a RAS permission's expiration (rule 20)
    assert expiries == {("dbgap", "phs000002", "c1"): NOW + 1000 + LEEWAY,
                        ("dbgap", "phs000003", "c2"): NOW + 500 + LEEWAY,
                        ("dbgap", "phs000005", "c1"): NOW - 1 + LEEWAY,
                        ("dbgap", "phs000001", "c1"): NOW + 3600 + LEEWAY}
    assert result.valid_until == NOW - 1 + LEEWAY
    assert result.audit[0].visas[0]["txn"] == "txn-123"


async def test_decide_is_all_of_and_carries_the_validity():
    engine = pinned_engine()
    tokens = [passport([visa(1), visa(2, exp=NOW + 1200)])]
    try:
        both = await engine.decide(["/programs/phs000001.c1", "/programs/phs000002.c1"], MAP, tokens, NOW)
        assert both.allowed and both.valid_until == NOW + 1200 + LEEWAY
        one = await engine.decide(["/programs/phs000001.c1"], MAP, tokens, NOW)
        assert one.allowed and one.valid_until == NOW + 3600 + LEEWAY
        missing = await engine.decide(["/programs/phs000001.c1", "/programs/phs000003.c2"], MAP, tokens, NOW)
        assert not missing.allowed and missing.reason == resources.NOT_GRANTED
        assert missing.missing == ("/programs/phs000003.c2",)
        unmapped = await engine.decide(["/elsewhere"], MAP, tokens, NOW)
        assert unmapped.reason == resources.UNMAPPED
        evaluation = await engine.evaluate(tokens, NOW)
        later = engine.decide_with(evaluation, ["/programs/phs000001.c1", "/programs/phs000002.c1"], MAP,
                                   NOW + 1200 + LEEWAY)
        assert not later.allowed  # the shorter grant has expired since
    finally:
        await engine.aclose()


def test_visa_facts_adapter_keeps_custom_string_claims_only():
    from gateway.passports.rules.visa import VisaRules, read_visa

    token = visa(1, obj=visa_object(value=dataset(1), custom="x", number=3, conditions=[]))
    result = read_visa(token, NOW, VisaRules(leeway=LEEWAY))
    assert result.visa is not None
    facts = visa_facts(result.visa)
    assert facts.extra == (("custom", "x"),)
    assert facts.conditions is None and facts.expires == NOW + 3600 + LEEWAY and facts.identity == (VISA_ISSUER, SUB)


# --- a real loopback JWKS / discovery server ------------------------------------------------------------------------


def key_server(**state) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/jwks")
    async def keys(request: web.Request) -> web.Response:
        st = request.app[STATE]
        if st["fail"]:
            return web.json_response({"error": "down"}, status=st["fail"])
        return web.json_response({"keys": [jwk(BROKER_KEY, "broker-k1"), jwk(VISA_KEY, "visa-k1")]})

    @routes.get("/broker/.well-known/openid-configuration")
    async def discovery(request: web.Request) -> web.Response:
        root = f"http://{request.host}"
        return web.json_response({"issuer": root + "/broker", "jwks_uri": root + "/jwks"})

    return recording_app(routes, **{"fail": 0, **state})


def loopback_settings(url: str, **extra) -> dict:
    return {
        "enabled": True, "allow_insecure_loopback": True,
        "trusted_brokers": [{"issuer": url + "/broker", "discovery": True}],
        "trusted_visa_issuers": [{"issuer": VISA_ISSUER, "jku": [url + "/jwks"], "sources": SOURCES}],
        "keys": {"connect_timeout": 1.0, "read_timeout": 1.0},
        "grants": {"issuers": [{"issuer": VISA_ISSUER, "source": DAC, "authority": "dbgap",
                                "templates": [{"template": "https://dac.example.org/datasets/{dataset}.{consent}"}]}]},
        **extra,
    }


async def test_loopback_server_end_to_end_through_build_engine():
    async with serve(key_server()) as server:
        engine = build_engine(PassportsConfig.model_validate(loopback_settings(server.url)), egress=OPEN)
        jku = server.url + "/jwks"
        try:
            result = await engine.evaluate([passport([visa(1, jku=jku), visa(2, jku=jku)],
                                                     iss=server.url + "/broker")], NOW)
        finally:
            await engine.aclose()
    assert keys_of(result) == {("dbgap", "phs000001", "c1"), ("dbgap", "phs000002", "c1")}
    assert server.count("/broker") == 1 and server.count("/jwks") == 2  # the broker's jwks_uri, and the jku


async def test_loopback_untrusted_broker_makes_zero_requests():
    async with serve(key_server()) as server:
        engine = build_engine(PassportsConfig.model_validate(loopback_settings(server.url)), egress=OPEN)
        try:
            for iss in ("https://evil.example", server.url + "/evil", server.url, VISA_ISSUER):
                with pytest.raises(PassportRejected) as err:
                    await engine.evaluate([passport([visa(1, jku=server.url + "/jwks")], iss=iss)], NOW)
                assert (err.value.status, err.value.rule) == (401, 13)
        finally:
            await engine.aclose()
    assert server.hits == []


async def test_loopback_untrusted_visa_issuer_and_jku_make_zero_requests():
    async with serve(key_server()) as server:
        engine = build_engine(PassportsConfig.model_validate(loopback_settings(server.url)), egress=OPEN)
        jku = server.url + "/jwks"
        try:
            result = await engine.evaluate([passport([
                visa(1, jku=jku, iss="https://evil.example"),  # the jku is registered, the issuer is not
                visa(2, jku=server.url + "/jwks?x=1"),  # the issuer is trusted, this jku is not
                visa(3, jku=JKU),
            ], iss=server.url + "/broker")], NOW)
        finally:
            await engine.aclose()
    assert result.grants == () and sorted(v.rule for v in result.ignored) == [13, 13, 13]
    assert [p for _, p, _ in server.hits] == ["/broker/.well-known/openid-configuration", "/jwks"]  # broker only


async def test_loopback_unreachable_trusted_keys_are_503():
    async with serve(key_server(fail=500)) as server:
        engine = build_engine(PassportsConfig.model_validate(loopback_settings(server.url)), egress=OPEN)
        try:
            with pytest.raises(PassportRejected) as err:
                await engine.evaluate([passport([], iss=server.url + "/broker")], NOW)
        finally:
            await engine.aclose()
    assert (err.value.status, err.value.rule) == (503, 16)


# --- configuration -------------------------------------------------------------------------------------------------


def test_passports_are_off_by_default_and_enabled_needs_a_broker():
    assert Settings().passports.enabled is False
    with pytest.raises(ValueError, match="trusted_brokers"):
        Settings(passports={"enabled": True})
    with pytest.raises(ValueError):
        build_engine(Settings().passports, egress=OPEN)


def test_config_converts_to_grant_config(tmp_path):
    settings = PassportsConfig.model_validate(loopback_settings("http://127.0.0.1:1", grants={
        "issuers": [{"issuer": VISA_ISSUER, "source": DAC, "authority": "ega",
                     "exact": [{"value": "https://ega.example/datasets/EGAD1", "dataset": "EGAD1"}],
                     "templates": [{"template": "urn:{dataset}", "dataset": {"prefix": "EGAD", "charset": "digits",
                                                                              "min_len": 1, "max_len": 11}}]}],
        "ras": {"issuers": [RAS]},
        "single_consent": [{"authority": "ega", "dataset": "EGAD1", "consent": "c1"}],
    }))
    config = grant_config(settings.grants)
    assert config.ras.issuers == frozenset({RAS}) and config.ras.authority == "dbgap"
    assert config.consent_for("ega", "EGAD1", None) == "c1"
    assert config.rules[0].templates[0].match("urn:EGAD42") == {"dataset": "EGAD42"}
    with pytest.raises(ValueError):
        grant_config(PassportsConfig.model_validate(loopback_settings("http://127.0.0.1:1", grants={
            "issuers": [{"issuer": "x", "source": "y", "authority": "z", "templates": [{"template": "no-slot"}]}],
        })).grants)


async def test_build_engine_with_a_cache_has_a_decision_cache():
    settings = PassportsConfig.model_validate(loopback_settings("http://127.0.0.1:1"))
    engine = build_engine(settings, MemoryCache(), egress=OPEN)
    try:
        assert engine.decisions is not None and engine.decisions.trust_hash == engine.trust_hash
    finally:
        await engine.aclose()
    off = build_engine(settings.model_copy(update={"decision_cache": settings.decision_cache.model_copy(
        update={"enabled": False})}), MemoryCache(), egress=OPEN)
    try:
        assert off.decisions is None
    finally:
        await off.aclose()


async def test_the_documented_example_is_a_valid_config():
    import yaml

    text = (Path(__file__).resolve().parents[3] / "docs" / "configuration.md").read_text()
    example = text[text.index("passports:\n  enabled"):]
    example = example[:example.index("```")]
    engine = build_engine(PassportsConfig.model_validate(yaml.safe_load(example)["passports"]), MemoryCache(),
                          egress=OPEN)
    try:
        assert engine.grants.ras.issuers == frozenset({"https://sts.nih.gov"})
    finally:
        await engine.aclose()


# --- the cold path's shortcuts change no outcome --------------------------------------------------------------------


async def test_audit_log_extras_are_built_only_when_info_is_on(caplog, monkeypatch):
    from gateway.passports import engine as engine_module

    calls: list[dict] = []
    monkeypatch.setattr(engine_module.log, "info", lambda msg, **kw: calls.append(kw["extra"]))
    engine = pinned_engine()
    token = passport([visa(1)])
    try:
        caplog.set_level(logging.WARNING, logger="gateway.passports.engine")
        await engine.evaluate([token], NOW)
        assert calls == []
        caplog.set_level(logging.INFO, logger="gateway.passports.engine")
        result = await engine.evaluate([token], NOW)
    finally:
        await engine.aclose()
    assert [c["passport_sha256"] for c in calls] == [result.audit[0].passport_sha256]
    assert calls[0]["visas"] == list(result.audit[0].visas)


async def test_every_kind_of_visa_is_reported_as_before_in_one_passport():
    # one Passport mixing shared and distinct headers, duplicates, junk, bad signatures and untrusted visas: each
    # element's report is what reading it alone gives
    from gateway.passports.rules.visa import read_visa

    elements = [visa(1), visa(2), visa(1), visa(3, kid="other-kid"), visa(4, key=BROKER_KEY), 7, "a.b.c",
                visa(5, iss="https://evil.example"), visa(6, typ="at+jwt"), visa(7, access_token=True)]
    engine = pinned_engine()
    try:
        result = await engine.evaluate([passport(elements)], NOW)
    finally:
        await engine.aclose()
    assert [(v.status, v.rule) for v in result.visas] == [
        ("ignored", 22), ("accepted", None), ("accepted", None), ("ignored", 9), ("ignored", 9), ("ignored", 6),
        ("ignored", 13), ("ignored", 12), ("accepted", None)]  # pinned keys serve Access-Token Visas too
    alone = [read_visa(e, NOW) for e in elements if isinstance(e, str)]
    assert {r.sha256 for r in alone} == {v.sha256 for v in result.visas if v.sha256}
    assert keys_of(result) == {("dbgap", f"phs00000{n}", "c1") for n in (1, 2, 7)}


# --- the per-Passport memo of what a Visa's checks before its signature answered ------------------------------------


async def test_visas_sharing_issuer_source_and_header_still_each_verify_their_own_signature():
    forged = visa(2, key=kit.rsa_key(2048, 7))  # same issuer, source, kid and jku as visa(1): another key signed it
    engine = pinned_engine()
    try:
        result = await engine.evaluate([passport([visa(1), forged, visa(3)])], NOW)
    finally:
        await engine.aclose()
    assert [(v.status, v.rule) for v in result.visas] == [("accepted", None), ("ignored", 9), ("accepted", None)]
    assert keys_of(result) == {("dbgap", "phs000001", "c1"), ("dbgap", "phs000003", "c1")}


async def test_trust_verdicts_are_kept_per_slot_and_never_cross_to_another_source_or_type():
    other_source = visa_object(value=dataset(2), source="https://other-dac.example")
    untrusted_type = visa_object(type="SomeCustomType", value=dataset(3))
    engine = pinned_engine()
    try:
        result = await engine.evaluate([passport([
            visa(2, obj=other_source), visa(1), visa(4, obj=visa_object(value=dataset(4), source="https://other-dac.example")),
            visa(3, obj=untrusted_type), visa(5), visa(6, iss="https://evil.example")])], NOW)
    finally:
        await engine.aclose()
    assert [(v.status, v.rule) for v in result.visas] == [
        ("ignored", 14), ("accepted", None), ("ignored", 14), ("ignored", 28), ("accepted", None), ("ignored", 13)]


async def test_reports_and_audit_are_built_once_when_first_read():
    engine = pinned_engine()
    try:
        result = await engine.evaluate([passport([visa(1), visa(2, iss="https://evil.example")])], NOW)
    finally:
        await engine.aclose()
    first = result.visas
    assert result.visas is first and result.audit is result.audit  # built once, then kept
    assert [v.status for v in first] == ["accepted", "ignored"]
    assert len(result.audit) == 1 and [row["status"] for row in result.audit[0].visas] == ["VALID", "IGNORED"]


async def test_audit_records_are_logged_at_info(caplog):
    engine = pinned_engine()
    try:
        with caplog.at_level(logging.INFO, logger="gateway.passports.engine"):
            await engine.evaluate([passport([visa(1)])], NOW)
    finally:
        await engine.aclose()
    (record,) = [r for r in caplog.records if r.getMessage() == "passport evaluated"]
    assert record.passport_jti == "passport-jti" and [v["status"] for v in record.visas] == ["VALID"]
