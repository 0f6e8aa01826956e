"""The pure report of ``gateway passport inspect``: times, Visa positions, unverified claims, rejections pinned on the
right Passport, and text that never carries a raw token or a terminal escape. No network: hand-built outcomes, and
the real engine with pinned keys."""

from __future__ import annotations

import hashlib
import json

import pytest
import tokens_kit as kit
from tokens_kit import BROKER, CAG, DAC, NOW, SUB, VISA_ISSUER, jwk, make_passport, make_visa, visa_object

from gateway.core.egress import OPEN
from gateway.passports.build import build_trust
from gateway.passports.engine import PassportEngine
from gateway.passports.evaluation import Evaluation, PassportRejected, VisaReport
from gateway.passports.rules.grants import Grant, GrantConfig, IssuerGrantRules
from gateway.passports.rules.templates import Template
from gateway.passports.tools.explain import (
    MAX_SHOWN_CHARS,
    NOT_EVALUATED,
    explain,
    iso,
    peek_claims,
    printable,
    relative,
    render_text,
)
from gateway.passports.trust.keys import KeyStore
from gateway.settings.passports import PassportTrustSettings

BROKER_KEY = kit.rsa_key(2048, 1)
VISA_KEY = kit.rsa_key(2048, 2)
EVIL = "https://evil.example"


def dataset(n: int) -> str:
    return f"https://dac.example.org/datasets/phs{n:06d}.c1"


def visa(n: int, **kw) -> str:
    kw.setdefault("obj", visa_object(value=dataset(n)))
    kw.setdefault("key", VISA_KEY)
    return make_visa(**kw)


def passport(visas: list, **kw) -> str:
    kw.setdefault("key", BROKER_KEY)
    return make_passport(visas, **kw)


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def grant(n: int, expires: int = NOW + 1800) -> Grant:
    return Grant("dbgap", f"phs{n:06d}", "c1", expires, VISA_ISSUER, DAC)


def assert_no_token_parts(text: str, *tokens: str) -> None:
    for token in tokens:
        for part in token.split("."):
            assert part not in text


# --- time ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("delta", "text"), [
    (0, "now"), (45, "in 45s"), (3540, "in 59m"), (3599, "in 59m 59s"), (3600, "in 1h"), (5400, "in 1h 30m"),
    (90061, "in 1d 1h"), (-120, "2m ago"), (-86400 * 3, "3d ago"),
])
def test_relative(delta: int, text: str) -> None:
    assert relative(NOW + delta, NOW) == text


def test_iso() -> None:
    assert iso(0) == "1970-01-01T00:00:00Z"
    assert iso(NOW) == "2027-01-15T08:00:00Z"
    assert iso(10**20).startswith("@")  # beyond datetime: shown, not raised


# --- valid ----------------------------------------------------------------------------------------------------


def test_valid_passport_report_maps_visas_to_their_positions() -> None:
    good, untrusted, expired = visa(1), visa(2, iss=EVIL), visa(3, exp=NOW - 600, iat=NOW - 7200)
    token = passport([good, untrusted, 17, good, expired])
    evaluation = Evaluation(
        grants=(grant(1),), valid_until=NOW + 1800, passports_expire=NOW + 3600,
        visas=(VisaReport(0, None, "ignored", 22, "visa is not a JWS string"),  # the engine lists these first
               VisaReport(0, sha(good), "accepted", iss=VISA_ISSUER, type=CAG, jti="visa-jti"),
               VisaReport(0, sha(untrusted), "ignored", 13, "visa issuer is not trusted"),
               VisaReport(0, sha(expired), "ignored", 20, "token has expired")),
    )
    report = explain([token], evaluation, NOW)

    assert report["valid"] is True and report["rejection"] is None and report["version"] == 1
    assert report["valid_until"] == {"epoch": NOW + 1800, "iso": "2027-01-15T08:30:00Z", "relative": "in 30m"}
    (p,) = report["passports"]
    assert (p["status"], p["verified"], p["iss"], p["sub"], p["jti"]) == ("valid", True, BROKER, SUB, "passport-jti")
    assert p["exp"]["relative"] == "in 1h" and p["sha256"] == sha(token)
    visas = {v["index"]: v for v in p["visas"]}
    assert sorted(visas) == [0, 1, 2, 4]  # index 3 repeats index 0
    assert visas[0]["status"] == "accepted" and visas[0]["duplicates"] == 1
    assert (visas[0]["type"], visas[0]["iss"], visas[0]["jti"]) == (CAG, VISA_ISSUER, "visa-jti")
    assert visas[0]["exp"]["epoch"] == NOW + 3600 and visas[0]["value"] == dataset(1)
    assert "unverified" not in visas[0]
    assert (visas[1]["rule"], visas[1]["unverified"]["iss"], visas[1]["unverified"]["type"]) == (13, EVIL, CAG)
    assert "iss" not in visas[1] and "type" not in visas[1]  # only the engine's verified values are top level
    assert visas[2] == {"index": 2, "status": "ignored", "rule": 22, "reason": "visa is not a JWS string"}
    assert visas[4]["unverified"]["exp"] == {"epoch": NOW - 600, "iso": iso(NOW - 600), "relative": "10m ago"}
    assert report["grants"] == [{
        "resource": "dbgap/phs000001/c1", "authority": "dbgap", "dataset": "phs000001", "consent": "c1",
        "expires": {"epoch": NOW + 1800, "iso": iso(NOW + 1800), "relative": "in 30m"},
        "issuer": VISA_ISSUER, "source": DAC,
    }]

    text = render_text(report)
    assert text.startswith("Result:       VALID (1 passport, 1 grant)\n")
    assert "Valid until:  2027-01-15T08:30:00Z (in 30m)" in text
    assert "[0] accepted: ControlledAccessGrants (+1 duplicate dropped)" in text
    assert "[1] ignored: rule 13: visa issuer is not trusted" in text
    assert f"unverified: type {CAG}, iss {EVIL}" in text
    assert "[4] ignored: rule 20: token has expired" in text
    assert "dbgap/phs000001/c1  until 2027-01-15T08:30:00Z (in 30m)" in text
    assert "unverified" not in text.split("[0] accepted")[1].split("[1]")[0]
    assert_no_token_parts(text + json.dumps(report), token, good, untrusted, expired)


def test_a_valid_passport_without_grants() -> None:
    report = explain([passport([])], Evaluation((), NOW + 3600, NOW + 3600), NOW)
    assert report["valid"] and report["grants"] == [] and report["passports"][0]["visas"] == []
    text = render_text(report)
    assert "VALID (1 passport, 0 grants)" in text and "Grants: none\n" in text


# --- rejected -----------------------------------------------------------------------------------------------------


def test_rejected_passport_shows_unverified_claims_and_unevaluated_visas() -> None:
    inner = visa(1)
    token = passport([inner, inner], exp=NOW - 120)
    report = explain([token], PassportRejected(401, 20, "token has expired"), NOW)

    assert report["valid"] is False and report["grants"] == [] and report["valid_until"] is None
    assert report["rejection"] == {"status": 401, "rule": 20, "reason": "token has expired"}
    (p,) = report["passports"]
    assert p["status"] == "rejected" and p["verified"] is False and p["rejection"]["rule"] == 20
    assert p["exp"]["relative"] == "2m ago"
    assert [(v["index"], v["status"], v.get("duplicates")) for v in p["visas"]] == [(0, NOT_EVALUATED, 1)]
    assert p["visas"][0]["unverified"]["value"] == dataset(1)
    text = render_text(report)
    assert "Result:       REJECTED (HTTP 401): rule 20: token has expired" in text
    assert "Passport #0: REJECTED, rule 20: token has expired\n  (claims below are unverified)" in text
    assert "[0] not evaluated" in text and "Grants: none (the request is rejected)" in text
    assert_no_token_parts(text + json.dumps(report), token, inner)


def test_keys_unavailable_says_so() -> None:
    report = explain([passport([])], PassportRejected(503, 16, "the keys of trusted issuer x are unreachable"), NOW)
    assert "REJECTED (HTTP 503, keys unavailable): rule 16" in render_text(report)


def test_rejection_is_pinned_on_the_passport_that_fails_alone() -> None:
    ok_visa = visa(1)
    ok, bad = passport([ok_visa]), passport([], iss=EVIL)
    alone = {
        0: Evaluation((grant(1),), NOW + 1800, NOW + 3600,
                      (VisaReport(0, sha(ok_visa), "accepted", iss=VISA_ISSUER, type=CAG, jti="visa-jti"),)),
        1: PassportRejected(401, 13, "the passport issuer is not a trusted broker"),
    }
    rejection = PassportRejected(401, 13, "the passport issuer is not a trusted broker")
    report = explain([ok, bad], rejection, NOW, alone=alone)

    first, second = report["passports"]
    assert (first["status"], first["verified"], first["evaluated_alone"]) == ("valid", True, True)
    assert first["visas"][0]["status"] == "accepted"
    assert (second["status"], second["rejection"]["rule"], second["iss"]) == ("rejected", 13, EVIL)
    assert report["grants"] == []  # the request is rejected, whatever one Passport grants alone
    text = render_text(report)
    assert "Passport #0: valid (evaluated on its own)" in text
    assert "Passport #1: REJECTED, rule 13: the passport issuer is not a trusted broker (evaluated on its own)" in text


def test_a_rejection_of_the_combination_applies_to_every_passport() -> None:
    a, b = passport([]), passport([], sub="someone-else")
    alone = {0: Evaluation((), NOW + 3600, NOW + 3600), 1: Evaluation((), NOW + 3600, NOW + 3600)}
    report = explain([a, b], PassportRejected(400, 5, "passports belong to different identities"), NOW, alone=alone)
    assert [(p["status"], p["rejection"]["rule"]) for p in report["passports"]] == [("rejected", 5)] * 2
    assert all("evaluated_alone" not in p for p in report["passports"])


# --- decoding -----------------------------------------------------------------------------------------------------


def test_undecodable_and_refused_headers() -> None:
    report = explain(["not-a-token"], PassportRejected(401, 6, "token is not compact serialization"), NOW)
    (p,) = report["passports"]
    assert p["decode_error"] and p["visas"] == [] and "iss" not in p
    assert "cannot decode" in render_text(report)
    # a header the strict parser refuses (HS256) still lets the payload be shown, unverified
    hs = make_passport([], alg="HS256", key=b"secret")
    assert peek_claims(hs, 10_000)["iss"] == BROKER
    assert peek_claims("a.b", 10_000) is None and peek_claims(hs, 10) is None


def test_hostile_claims_are_capped_and_made_printable() -> None:
    token = passport([], sub="evil\x1b[2J\x07" + "x" * 1000)
    report = explain([token], PassportRejected(401, 18, "sub is too long"), NOW)
    sub = report["passports"][0]["sub"]
    assert len(sub) == MAX_SHOWN_CHARS + 1 and sub.endswith("…")
    text = render_text(report)
    assert "\x1b" not in text and "\x07" not in text and "evil\\x1b[2J\\x07" in text
    assert printable("tab\there") == "tab\\there"


# --- with the real engine (pinned keys: no network) ---------------------------------------------------------------


async def test_real_engine_evaluation_explained() -> None:
    trust = build_trust(PassportTrustSettings.model_validate({
        "enabled": True,
        "trusted_brokers": [{"issuer": BROKER, "jwks": {"keys": [jwk(BROKER_KEY, "broker-k1")]}}],
        "trusted_visa_issuers": [{"issuer": VISA_ISSUER, "jwks": {"keys": [jwk(VISA_KEY, "visa-k1")]},
                                  "sources": {CAG: [DAC]}}],
    }))
    grants = GrantConfig(rules=(IssuerGrantRules(VISA_ISSUER, DAC, "dbgap", templates=(
        Template("https://dac.example.org/datasets/{dataset}.{consent}"),)),))
    engine = PassportEngine(trust, KeyStore(trust, egress=OPEN), grants, own_keys=True)
    token = passport([visa(1), visa(2, iss=EVIL), visa(3, exp=NOW - 600, iat=NOW - 7200), visa(4, key=BROKER_KEY)])
    try:
        evaluation = await engine.evaluate([token], NOW, use_cache=False)
    finally:
        await engine.aclose()
    report = explain([token], evaluation, NOW)
    statuses = {v["index"]: (v["status"], v.get("rule")) for v in report["passports"][0]["visas"]}
    assert statuses == {0: ("accepted", None), 1: ("ignored", 13), 2: ("ignored", 20), 3: ("ignored", 9)}
    assert [g["resource"] for g in report["grants"]] == ["dbgap/phs000001/c1"]
    assert report["valid_until"]["epoch"] == NOW + 3600 + trust.leeway  # exp + leeway (rule 20)
