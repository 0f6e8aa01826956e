"""The trust configuration (rulebook rules 13–15, 44): who is trusted, where their keys come from, the trust hash."""

from __future__ import annotations

import base64

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from gateway.passports.build import build_trust
from gateway.passports.trust.issuers import TrustConfig, TrustConfigError, trust_hash, url_problem
from gateway.settings.passports import PassportTrustSettings

BROKER = "https://broker.example.org"
ISSUER = "https://visas.example.org"
JKU = "https://visas.example.org/jwks.json"
CAG = "ControlledAccessGrants"


def _b64(n: int) -> str:
    return base64.urlsafe_b64encode(n.to_bytes(32, "big")).rstrip(b"=").decode()


def ec_jwks(kid: str = "k1") -> dict:
    numbers = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    return {"keys": [{"kty": "EC", "crv": "P-256", "kid": kid, "x": _b64(numbers.x), "y": _b64(numbers.y)}]}


PINNED = ec_jwks()


def settings(**overrides) -> PassportTrustSettings:
    doc = {
        "enabled": True,
        "trusted_brokers": [{"issuer": BROKER, "discovery": True}],
        "trusted_visa_issuers": [
            {"issuer": ISSUER, "jku": [JKU], "sources": {CAG: ["https://dac.example.org"]}},
            {"issuer": "urn:example:nih", "jwks": PINNED, "algorithms": ["ES256"]},
        ],
        "audiences": ["gateway"],
    }
    doc.update(overrides)
    return PassportTrustSettings.model_validate(doc)


def test_trusted_brokers_and_visa_issuers_are_exact():
    trust = build_trust(settings())
    assert trust.is_trusted_broker(BROKER)
    for lookalike in (BROKER + "/", BROKER.upper(), "https://broker.example.org.evil.com", "broker.example.org",
                      None, 1, ["x"]):
        assert not trust.is_trusted_broker(lookalike)
        assert trust.broker_key_source(lookalike) is None
    source = trust.broker_key_source(BROKER)
    assert source is not None and source.kind == "discovery" and source.url == BROKER


def test_visa_key_source_needs_the_exact_registered_jku_for_that_issuer():
    trust = build_trust(settings())
    source = trust.visa_key_source(ISSUER, JKU)
    assert source is not None and source.kind == "jku" and source.url == JKU
    for jku in (JKU + "?", JKU.replace("https", "http"), "https://evil.example/jwks.json", JKU + "/", 5):
        assert trust.visa_key_source(ISSUER, jku) is None
    assert trust.visa_key_source(ISSUER, None) is None  # no discovery configured for this issuer
    assert trust.visa_key_source("https://untrusted.example", JKU) is None  # a jku is tied to its issuer
    assert trust.visa_key_source(BROKER, None) is None  # a broker is not thereby a visa issuer


def test_pinned_keys_serve_both_visa_formats_and_ignore_jku():
    trust = build_trust(settings())
    for jku in (None, "https://anything.example/jwks"):
        source = trust.visa_key_source("urn:example:nih", jku)
        assert source is not None and source.kind == "pinned" and source.url == ""
        assert source.algorithms == frozenset({"ES256"})


def test_discovery_and_jku_together():
    trust = build_trust(settings(trusted_visa_issuers=[{"issuer": ISSUER, "discovery": True, "jku": [JKU]}]))
    assert trust.visa_key_source(ISSUER, None).kind == "discovery"
    assert trust.visa_key_source(ISSUER, JKU).kind == "jku"
    assert trust.visa_key_source(ISSUER, JKU + "x") is None


def test_visa_sources_are_exact_strings_per_type():
    trust = build_trust(settings())
    assert trust.visa_source_trusted(ISSUER, CAG, "https://dac.example.org")
    assert not trust.visa_source_trusted(ISSUER, CAG, "https://dac.example.org/")
    assert not trust.visa_source_trusted(ISSUER, CAG, "https://dac.example")
    assert not trust.visa_source_trusted(ISSUER, "controlledaccessgrants", "https://dac.example.org")
    assert not trust.visa_source_trusted(ISSUER, "AffiliationAndRole", "https://dac.example.org")
    assert not trust.visa_source_trusted("urn:example:nih", CAG, "https://dac.example.org")
    assert not trust.visa_source_trusted(ISSUER, CAG, None)


def test_an_enabled_empty_trust_config_is_refused():
    with pytest.raises(ValidationError, match=r"at least one entry in passports\.trusted_brokers"):
        settings(trusted_brokers=[])
    with pytest.raises(TrustConfigError, match="no trusted broker"):
        TrustConfig({}, {})
    assert PassportTrustSettings().enabled is False  # disabled by default, and then empty is fine


@pytest.mark.parametrize("broker,match", [
    ({"issuer": BROKER}, "exactly one"),
    ({"issuer": BROKER, "discovery": True, "jwks": PINNED}, "exactly one"),
    ({"issuer": "http://broker.example.org", "discovery": True}, "not https"),
    ({"issuer": "urn:x", "discovery": True}, "has no host"),
    ({"issuer": BROKER, "jwks": {"keys": []}}, "non-empty `keys`"),
])
def test_bad_broker_configs_are_refused(broker, match):
    with pytest.raises(TrustConfigError, match=match):
        build_trust(settings(trusted_brokers=[broker]))


@pytest.mark.parametrize("issuer,match", [
    ({"issuer": ISSUER}, "pinned JWKS, discovery or jku"),
    ({"issuer": ISSUER, "jwks": PINNED, "jku": [JKU]}, "excludes"),
    ({"issuer": ISSUER, "jku": ["http://visas.example.org/jwks"]}, "not https"),
    ({"issuer": ISSUER, "jku": ["https://user:pw@visas.example.org/jwks"]}, "user info"),
    ({"issuer": ISSUER, "jku": [JKU], "sources": {CAG: [""]}}, "non-empty"),
])
def test_bad_visa_issuer_configs_are_refused(issuer, match):
    with pytest.raises(TrustConfigError, match=match):
        build_trust(settings(trusted_visa_issuers=[issuer]))


def test_duplicate_issuers_are_refused():
    with pytest.raises(TrustConfigError, match="twice"):
        build_trust(settings(trusted_brokers=[{"issuer": BROKER, "discovery": True}] * 2))


def test_unknown_keys_and_bad_algorithms_are_refused():
    with pytest.raises(ValidationError):
        settings(trusted_brokers=[{"issuer": BROKER, "discovery": True, "algorithms": ["HS256"]}])
    with pytest.raises(ValidationError):
        settings(trusted_brokers=[{"issuer": BROKER, "discovery": True, "trust_everyone": True}])
    with pytest.raises(ValidationError):
        settings(leeway=600)


def test_loopback_http_only_with_the_dev_flag():
    assert url_problem("http://127.0.0.1:8080/jwks", allow_insecure_loopback=False)
    for url in ("http://127.0.0.1:8080/jwks", "http://[::1]:9/jwks", "http://localhost/jwks"):
        assert url_problem(url, allow_insecure_loopback=True) is None
    for url in ("http://10.0.0.1/jwks", "http://127.0.0.1.evil.com/jwks", "http://localhost.evil.com/x",
                "file:///etc/passwd", "ftp://127.0.0.1/x", "https:///nohost", "https://h:99999/x", "", None):
        assert url_problem(url, allow_insecure_loopback=True)
    local = "http://127.0.0.1:9/jwks"
    with pytest.raises(TrustConfigError):
        build_trust(settings(trusted_visa_issuers=[{"issuer": ISSUER, "jku": [local]}]))
    trust = build_trust(settings(trusted_visa_issuers=[{"issuer": ISSUER, "jku": [local]}],
                                 allow_insecure_loopback=True))
    assert trust.visa_key_source(ISSUER, local) is not None


def test_jwks_file(tmp_path):
    path = tmp_path / "jwks.json"
    path.write_bytes(orjson.dumps(PINNED))
    from_file = build_trust(settings(trusted_brokers=[{"issuer": BROKER, "jwks_file": str(path)}]))
    inline = build_trust(settings(trusted_brokers=[{"issuer": BROKER, "jwks": PINNED}]))
    assert from_file.broker_key_source(BROKER).kind == "pinned"
    assert trust_hash(from_file) == trust_hash(inline)
    with pytest.raises(TrustConfigError, match="cannot read"):
        build_trust(settings(trusted_brokers=[{"issuer": BROKER, "jwks_file": str(tmp_path / "missing.json")}]))


def test_trust_hash_is_stable_and_order_independent():
    one = trust_hash(build_trust(settings()))
    assert len(one) == 64 and one == trust_hash(build_trust(settings()))
    reordered = settings()
    reordered = settings(trusted_visa_issuers=[i.model_dump() for i in reversed(reordered.trusted_visa_issuers)],
                         audiences=["gateway", "gateway"])
    assert trust_hash(build_trust(reordered)) == one


@pytest.mark.parametrize("change", [
    {"audiences": ["other"]},
    {"leeway": 10},
    {"max_authz_ttl": 3600},
    {"allow_insecure_loopback": True},
    {"trusted_brokers": [{"issuer": BROKER, "discovery": True, "legacy_typ": True}]},
    {"trusted_brokers": [{"issuer": BROKER, "discovery": True, "strict_subject": True}]},
    {"trusted_brokers": [{"issuer": BROKER, "discovery": True, "algorithms": ["RS256"]}]},
    {"trusted_brokers": [{"issuer": BROKER + "/", "discovery": True}]},
    {"trusted_visa_issuers": [{"issuer": ISSUER, "jku": [JKU], "sources": {CAG: ["https://dac2.example.org"]}}]},
    {"trusted_visa_issuers": [{"issuer": ISSUER, "jku": [JKU + "2"]}]},
    {"trusted_visa_issuers": [{"issuer": "urn:example:nih", "jwks": ec_jwks(), "algorithms": ["ES256"]}]},
])
def test_trust_hash_changes_with_anything_trusted(change):
    assert trust_hash(build_trust(settings(**change))) != trust_hash(build_trust(settings()))


def test_the_config_is_frozen():
    trust = build_trust(settings())
    with pytest.raises(AttributeError):
        trust.brokers = {}  # type: ignore[misc]
    with pytest.raises(TypeError):
        trust.brokers["https://evil.example"] = trust.brokers[BROKER]  # type: ignore[index]
