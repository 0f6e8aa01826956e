"""The development broker (NOT FOR PRODUCTION): its tokens pass the gateway's own strict core, its keys are private
and stable, its JWKS/discovery server serves public keys only, and the ``gateway passport`` commands round-trip."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.cli.main import main
from gateway.core.egress import OPEN
from gateway.passports.build import build_trust
from gateway.passports.jose import jws
from gateway.passports.jose.jwk import key_from_jwk
from gateway.passports.rules.facts import VisaFacts
from gateway.passports.rules.grants import GrantConfig, RasRules, grants_of
from gateway.passports.rules.linked import links_of
from gateway.passports.rules.passport import PassportRules, read_passport
from gateway.passports.rules.visa import VisaFormat, VisaRules, read_visa, read_visas
from gateway.passports.tools.devbroker import (
    DISCOVERY_PATH,
    JWKS_PATH,
    KEY_FILES,
    RAS_TYPE,
    DevBroker,
    DevBrokerError,
    KeyRing,
    RasPermission,
    jwks_app,
    set_issuer,
    thumbprint,
)
from gateway.passports.trust.keys import KeyStore, parse_jwks
from gateway.settings.passports import PassportTrustSettings

ROOT = Path(__file__).resolve().parents[4]
ISSUER = "https://broker.dev.example"
VISAS = "https://visas.dev.example"
AUD = "https://gateway.example.org"
PRIVATE = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    return KeyRing.open(tmp_path_factory.mktemp("keys") / "broker", ("RS256", "ES256"))


def verify_with_jwks(token: str, ring: KeyRing) -> jws.ParsedJws:
    parsed = jws.parse_compact(token)
    keys = {k["kid"]: key_from_jwk(k) for k in ring.jwks()["keys"]}
    jws.verify(parsed, keys[parsed.kid])
    return parsed


def facts(visa) -> VisaFacts:
    return VisaFacts(iss=visa.iss, sub=visa.sub, type=visa.type, value=visa.value, source=visa.source, by=visa.by,
                     asserted=visa.asserted, expires=visa.expires, conditions=visa.object.get("conditions"),
                     ras_dbgap_permissions=visa.jws.payload.get("ras_dbgap_permissions"))


# --- tokens through the strict core -------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_minted_passport_passes_the_strict_core(ring: KeyRing, alg: str) -> None:
    now = time.time()
    broker = DevBroker(ring, ISSUER, visa_issuer=VISAS, alg=alg)
    visas = [
        broker.controlled_access_grant(sub="alice", value="https://dac.example.org/datasets/phs000001.c1"),
        broker.controlled_access_grant(sub="alice", value="EGAD00001006673", source="EGAC00001000908",
                                       visa_format="access"),
        broker.ras_visa(sub="alice", permissions=[RasPermission.parse("phs000123.c1"),
                                                  RasPermission.parse("phs000456.v2.p3.c12:4102444800")]),
        broker.linked_identities(sub="alice", identities=[("https://other.example/a,b", "bob;1")]),
    ]
    token = broker.passport(sub="alice", visas=visas, aud=AUD)

    passport = read_passport(token, now, PassportRules(audiences=frozenset({AUD}), require_aud=True))
    assert (passport.iss, passport.sub, passport.aud) == (ISSUER, "alice", (AUD,))
    assert passport.jti and passport.exp - passport.iat == 3600
    parsed = verify_with_jwks(token, ring)
    assert parsed.header["typ"] == "vnd.ga4gh.passport+jwt" and parsed.alg == alg

    results = read_visas(passport, now, VisaRules())
    assert [r.valid for r in results] == [True] * 4, [r.reason for r in results]
    doc, access, ras, linked = (r.visa for r in results)
    for raw in visas:
        assert verify_with_jwks(raw, ring).alg == alg
    assert all(visa.iss == VISAS and visa.sub == "alice" for visa in (doc, access, ras, linked))

    assert doc.format is VisaFormat.DOCUMENT_TOKEN and doc.jku == VISAS + JWKS_PATH
    assert doc.jws.header["typ"] == "vnd.ga4gh.visa+jwt" and "scope" not in doc.jws.payload
    assert (doc.type, doc.source, doc.by) == ("ControlledAccessGrants", VISAS, "dac")
    assert access.format is VisaFormat.ACCESS_TOKEN and access.jku is None
    assert access.jws.payload["scope"] == "openid" and "jku" not in access.jws.header
    assert (access.value, access.source) == ("EGAD00001006673", "EGAC00001000908")

    # RAS v1.1, as RAS emits it: an access-token Visa, grants in ras_dbgap_permissions
    assert ras.format is VisaFormat.ACCESS_TOKEN and ras.type == RAS_TYPE
    assert ras.value == "https://sts.nih.gov/passport/dbgap/v1.1" and ras.source == "https://ncbi.nlm.nih.gov/gap"
    assert set(ras.jws.payload["scope"].split()) == {"openid", "ga4gh_passport_v1", "email", "profile"}
    assert ras.jws.payload["txn"]
    perms = ras.jws.payload["ras_dbgap_permissions"]
    assert perms[0] == {"phs_id": "phs000123", "version": "v1", "participant_set": "p1", "consent_group": "c1",
                        "consent_name": "Consent group c1", "role": "designated user", "expiration": ras.exp}
    assert perms[1]["version"] == "v2" and perms[1]["consent_group"] == "c12" and perms[1]["expiration"] == 4102444800
    grants = grants_of(facts(ras), GrantConfig(ras=RasRules(issuers=frozenset({VISAS}))))
    assert {g.key for g in grants} == {("dbgap", "phs000123", "c1"), ("dbgap", "phs000456", "c12")}

    assert links_of(facts(linked)) == ((VISAS, "alice"), ("https://other.example/a,b", "bob;1"))


def test_visa_options_are_carried(ring: KeyRing) -> None:
    now = int(time.time())
    broker = DevBroker(ring, ISSUER, clock=lambda: now)
    conditions = [[{"type": "AffiliationAndRole", "value": "const:faculty@uni.example", "by": "const:so"}]]
    token = broker.visa(sub="bob", type="AffiliationAndRole", value="faculty@uni.example", source="https://uni",
                        by="so", asserted=now - 100, exp=now + 50, conditions=conditions)
    result = read_visa(token, now)
    assert result.valid, result.reason
    visa = result.visa
    assert (visa.asserted, visa.exp, visa.by, visa.iss, visa.jku) == (now - 100, now + 50, "so", ISSUER,
                                                                       ISSUER + JWKS_PATH)
    assert visa.conditions == tuple(conditions)
    with pytest.raises(DevBrokerError):
        broker.visa(sub="bob", type="t", value="v", source="s", visa_format="access", scope="profile")


def test_ras_permission_specs() -> None:
    assert RasPermission.parse("phs000123.c1:2030-01-01").expiration == 1893456000
    assert RasPermission.parse("phs000123").consent_group is None
    for bad in ("phs123.c1", "phs000123.x1", "phs000123.c1:soon", "nope"):
        with pytest.raises(DevBrokerError):
            RasPermission.parse(bad)


# --- keys ---------------------------------------------------------------------------------------------------------


def test_key_files_are_private_and_kids_stable(tmp_path: Path) -> None:
    first = KeyRing.open(tmp_path / "k", ("RS256", "ES256"))
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o700
    for name in KEY_FILES.values():
        assert stat.S_IMODE((tmp_path / "k" / name).stat().st_mode) == 0o600
    again = KeyRing.open(tmp_path / "k")  # RS256 wanted only: the ES256 key is still loaded
    assert [k.kid for k in again.keys] == [k.kid for k in first.keys]
    assert again.jwks() == first.jwks()
    assert {k.alg for k in again.keys} == {"RS256", "ES256"}
    assert isinstance(first.key("RS256").private, rsa.RSAPrivateKey) and first.key("RS256").private.key_size == 2048


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # RFC 7638 §3.1 example key and its thumbprint
    n = ("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3"
         "oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6"
         "qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8a"
         "wapJzKnqDKgw")
    key = key_from_jwk({"kty": "RSA", "n": n, "e": "AQAB"}, require_kid=False).key
    assert thumbprint(key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_loose_key_file_is_refused(tmp_path: Path) -> None:
    KeyRing.open(tmp_path)
    os.chmod(tmp_path / KEY_FILES["RS256"], 0o644)
    with pytest.raises(DevBrokerError, match="chmod 600"):
        KeyRing.open(tmp_path)


def test_missing_directory_without_create(tmp_path: Path) -> None:
    with pytest.raises(DevBrokerError):
        KeyRing.open(tmp_path / "absent", create=False)


# --- JWKS and discovery server ------------------------------------------------------------------------------------


async def test_jwks_server_serves_public_keys_and_discovery(ring: KeyRing) -> None:
    issuer = "https://broker.dev.example/realm"
    async with TestClient(TestServer(jwks_app(ring, issuer))) as client:
        for prefix in ("", "/realm"):
            resp = await client.get(prefix + JWKS_PATH)
            assert resp.status == 200 and resp.headers["X-Dev-Broker"] == "NOT FOR PRODUCTION"
            doc = await resp.json()
            assert doc == ring.jwks() and len(doc["keys"]) == 2
            for key in doc["keys"]:
                assert not PRIVATE & key.keys()
                assert key_from_jwk(key).kid == key["kid"]
        resp = await client.get("/realm" + DISCOVERY_PATH)
        disco = await resp.json()
        assert disco["issuer"] == issuer and disco["jwks_uri"] == issuer + JWKS_PATH


async def test_gateway_key_store_finds_the_broker_key_by_discovery(ring: KeyRing) -> None:
    app = jwks_app(ring)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        issuer = str(client.make_url("")).rstrip("/")
        set_issuer(app, issuer)
        trust = build_trust(PassportTrustSettings.model_validate({
            "enabled": True, "allow_insecure_loopback": True,
            "trusted_brokers": [{"issuer": issuer, "discovery": True}],
        }))
        store = KeyStore(trust, egress=OPEN)
        try:
            token = DevBroker(ring, issuer).passport(sub="alice")
            parsed = read_passport(token, time.time()).jws
            jws.verify(parsed, await store.broker_key(issuer, parsed.kid, parsed.alg))
        finally:
            await store.aclose()


def test_printed_jwks_pins_in_trust_config(ring: KeyRing) -> None:
    trust = build_trust(PassportTrustSettings.model_validate({
        "enabled": True, "trusted_brokers": [{"issuer": ISSUER, "jwks": ring.jwks()}],
    }))
    assert trust.is_trusted_broker(ISSUER)
    assert len(parse_jwks(ring.jwks(), max_keys=50, where="test")) == 2


# --- command line -------------------------------------------------------------------------------------------------


def test_cli_mint_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys"
    assert main(["passport", "mint", "--keys", str(keys), "--issuer", ISSUER, "--sub", "alice",
                 "--grant", "https://dac.example.org/datasets/phs000001.c1@https://dac.example.org",
                 "--grant", "EGAD00001006673", "--ras", "phs000123.c1", "--ras", "phs000124.c2:2099-12-31",
                 "--linked", "https://other.example", "bob", "--visa-issuer", VISAS, "--aud", AUD,
                 "--ttl", "600", "--visa-format", "access"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert out.count("\n") == 1 and token.count(".") == 2  # only the token
    assert "NOT FOR PRODUCTION" in err and err.count("\n") == 1

    now = time.time()
    passport = read_passport(token, now, PassportRules(audiences=frozenset({AUD})))
    assert passport.exp - passport.iat == 600
    results = read_visas(passport, now)
    assert all(r.valid for r in results) and len(results) == 4
    by_value = {r.visa.value: r.visa for r in results}
    assert by_value["https://dac.example.org/datasets/phs000001.c1"].source == "https://dac.example.org"
    assert by_value["EGAD00001006673"].source == VISAS
    assert all(r.visa.format is VisaFormat.ACCESS_TOKEN for r in results)

    assert main(["passport", "keys", "--keys", str(keys)]) == 0
    out, err = capsys.readouterr()
    ring = KeyRing.open(keys)
    assert json.loads(out) == ring.jwks() and "NOT FOR PRODUCTION" in err
    verify_with_jwks(token, ring)


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="phs000123"):
        main(["passport", "mint", "--keys", str(tmp_path), "--issuer", ISSUER, "--sub", "a", "--ras", "phs000123:x"])
    with pytest.raises(SystemExit, match="--ttl"):
        main(["passport", "mint", "--keys", str(tmp_path), "--issuer", ISSUER, "--sub", "a", "--ttl", "0"])
    assert capsys.readouterr().out == ""


def test_cli_help_says_not_for_production(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["passport", "--help"], ["passport", "mint", "--help"], ["passport", "serve-jwks", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        assert "NOT FOR PRODUCTION" in " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def test_cli_serve_jwks(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "passport", "serve-jwks", "--keys", str(tmp_path / "k"), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )
    try:
        issuer = proc.stdout.readline().strip()
        assert issuer.startswith("http://127.0.0.1:"), issuer if issuer else proc.stderr.read()
        disco = httpx.get(issuer + DISCOVERY_PATH, timeout=5).json()
        assert disco["issuer"] == issuer and disco["jwks_uri"] == issuer + JWKS_PATH
        doc = httpx.get(disco["jwks_uri"], timeout=5).json()
        assert doc == KeyRing.open(tmp_path / "k").jwks()
        assert all(not PRIVATE & k.keys() for k in doc["keys"])
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "NOT FOR PRODUCTION" in err
