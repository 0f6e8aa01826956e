"""Gateway tokens, the pure module: mint → parse → verify → check round trips, and every way a token is refused."""

from __future__ import annotations

import pytest
import tokens_kit as kit

from gateway.passports.jose import jws
from gateway.passports.jose.errors import JwsError
from gateway.passports.jose.jwk import ES256, key_from_jwk
from gateway.passports.jose.signing import SigningKey, generate, sign_compact
from gateway.passports.tokens import gateway_token as gt
from gateway.passports.tokens.gateway_token import GatewayGrant, GatewayTokenError

NOW = 1_800_000_000
GATEWAY = "https://gateway.example.org"
MEMBER = "https://commons-a.example.org"
OBJECT = "dg.REF0/6a4c8f2e-0000-4000-8000-000000000001"
RESOURCES = ("/programs/phs000001.c1",)
IDENTITY = ("https://broker.example.org", "researcher-1")

KEY = SigningKey.of(kit.rsa_key(2048, 11))
OTHER_KEY = SigningKey.of(kit.rsa_key(2048, 12))
EC_KEY = SigningKey.of(generate(ES256), ES256)
JWKS = {KEY.kid: KEY}


def payload(**changes) -> dict:
    """Valid claims (``ttl`` 60, ``access_until`` NOW + 600) with ``changes`` applied (``None`` removes one)."""
    out = gt.claims(issuer=GATEWAY, audience=MEMBER, object_id=OBJECT, resources=RESOURCES, identity=IDENTITY,
                    now=NOW, ttl=60, access_until=NOW + 600, jti="jti-1")
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def verified(token: str, keys: dict[str, SigningKey] = JWKS, *, now: int = NOW, issuer: str = GATEWAY,
             audience: str = MEMBER) -> GatewayGrant:
    """What a member does: strict parse, the key by ``kid`` from the gateway's JWKS, the signature, the claims."""
    parsed = gt.parse(token)
    key = keys.get(parsed.kid)
    if key is None:
        raise GatewayTokenError(401, "unknown kid")
    try:
        jws.verify(parsed, key_from_jwk(key.public_jwk))
    except JwsError:
        raise GatewayTokenError(401, "bad signature") from None
    return gt.check(parsed, now, issuer=issuer, audience=audience)


def refused(token: str, status: int = 401, **kw) -> GatewayTokenError:
    with pytest.raises(GatewayTokenError) as err:
        verified(token, **kw)
    assert err.value.status == status
    return err.value


# --- the round trip ------------------------------------------------------------------------------------------------


def test_mint_parse_check_round_trip():
    token = gt.mint(KEY, payload())
    parsed = gt.parse(token)
    assert parsed.header == {"alg": "RS256", "kid": KEY.kid, "typ": "at+jwt"}
    assert gt.issuer_of(parsed) == GATEWAY
    grant = verified(token)
    assert grant == GatewayGrant(
        issuer=GATEWAY, audience=MEMBER, subject=IDENTITY[1], passport_issuer=IDENTITY[0], object_id=OBJECT,
        resources=RESOURCES, issued_at=NOW, expires=NOW + 60, access_until=NOW + 600, jti="jti-1",
    )
    assert gt.covers(grant, OBJECT, RESOURCES)


def test_claims_cap_the_lifetime_at_max_ttl_and_access_until():
    assert payload()["exp"] == NOW + 60
    long = gt.claims(issuer=GATEWAY, audience=MEMBER, object_id=OBJECT, resources=RESOURCES, identity=IDENTITY,
                     now=NOW, ttl=10_000, access_until=NOW + 10_000)
    assert long["exp"] == NOW + gt.MAX_TTL
    short = gt.claims(issuer=GATEWAY, audience=MEMBER, object_id=OBJECT, resources=RESOURCES, identity=IDENTITY,
                      now=NOW, ttl=60, access_until=NOW + 5)
    assert short["exp"] == NOW + 5 and short["access_until"] == NOW + 5
    verified(gt.mint(KEY, short))
    assert len(payload()["jti"]) > 0 and payload(jti=None).get("jti") is None


def test_claims_deduplicate_resources_and_refuse_nonsense():
    twice = gt.claims(issuer=GATEWAY, audience=MEMBER, object_id=OBJECT, resources=[*RESOURCES, *RESOURCES],
                      identity=IDENTITY, now=NOW, ttl=60, access_until=NOW + 600)
    assert twice["authz"] == list(RESOURCES)
    with pytest.raises(ValueError):
        gt.claims(issuer=GATEWAY, audience=MEMBER, object_id=OBJECT, resources=RESOURCES, identity=IDENTITY,
                  now=NOW, ttl=60, access_until=NOW)
    with pytest.raises(ValueError):
        gt.claims(issuer=GATEWAY, audience=MEMBER, object_id=OBJECT, resources=(), identity=IDENTITY, now=NOW,
                  ttl=60, access_until=NOW + 600)


def test_mint_refuses_keys_other_than_rs256():
    with pytest.raises(ValueError):
        gt.mint(EC_KEY, payload())


# --- parsing: the header -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header, alg", [
    ({"alg": "HS256", "kid": KEY.kid, "typ": "at+jwt"}, "HS256"),
    ({"alg": "none", "kid": KEY.kid, "typ": "at+jwt"}, "none"),
    ({"alg": "ES256", "kid": KEY.kid, "typ": "at+jwt"}, "ES256"),
])
def test_only_rs256_is_accepted(header, alg):
    key = b"secret" if alg == "HS256" else kit.ec_key() if alg == "ES256" else None
    token = kit.sign(header, payload(), key, alg=alg)
    err = refused(token)
    assert "not a gateway token" in err.reason


@pytest.mark.parametrize("typ", [None, "JWT", "vnd.ga4gh.passport+jwt", "vnd.ga4gh.visa+jwt"])
def test_typ_must_be_at_jwt(typ):
    header = {"alg": "RS256", "kid": KEY.kid, **({"typ": typ} if typ else {})}
    refused(kit.sign(header, payload(), KEY.private, alg="RS256"))


def test_application_at_jwt_typ_is_the_same_type():
    token = kit.sign({"alg": "RS256", "kid": KEY.kid, "typ": "application/at+jwt"}, payload(), KEY.private)
    assert verified(token).object_id == OBJECT


@pytest.mark.parametrize("token", [
    None, 42, "", "a.b", "a.b.c.d.e", "not a token", "é.é.é",
    kit.sign({"alg": "RS256", "typ": "at+jwt"}, payload(), KEY.private),  # no kid
    kit.sign({"alg": "RS256", "kid": KEY.kid, "typ": "at+jwt", "crit": ["exp"]}, payload(), KEY.private),
])
def test_malformed_tokens_are_not_gateway_tokens(token):
    with pytest.raises(GatewayTokenError) as err:
        gt.parse(token)
    assert err.value.status == 401


def test_oversized_tokens_are_refused_before_decoding():
    big = gt.mint(KEY, payload(padding="x" * gt.MAX_TOKEN_BYTES))
    with pytest.raises(GatewayTokenError):
        gt.parse(big)


def test_errors_never_echo_the_token():
    token = kit.sign({"alg": "HS256", "kid": "kid-SECRET", "typ": "at+jwt"}, payload(sub="sub-SECRET"), b"k",
                     alg="HS256")
    err = refused(token)
    assert "SECRET" not in str(err) and "SECRET" not in err.reason


# --- signature and keys --------------------------------------------------------------------------------------------


def test_tampered_signature_is_refused():
    token = gt.mint(KEY, payload())
    head, body, sig = token.split(".")
    other_body = gt.mint(KEY, payload(drs_object_id="dg.REF0/another")).split(".")[1]
    refused(f"{head}.{other_body}.{sig}")
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    refused(f"{head}.{body}.{flipped}")


def test_a_key_not_in_the_gateways_jwks_is_refused():
    token = gt.mint(OTHER_KEY, payload())
    assert gt.parse(token).kid == OTHER_KEY.kid
    refused(token)  # kid unknown
    forged = sign_compact(OTHER_KEY, {"typ": "at+jwt", "kid": KEY.kid}, payload())  # a known kid, the wrong key
    refused(forged)


# --- the claims ----------------------------------------------------------------------------------------------------


def test_wrong_issuer_and_audience_are_refused():
    assert "issuer" in refused(gt.mint(KEY, payload(iss="https://evil.example"))).reason
    assert "audience" in refused(gt.mint(KEY, payload(aud="https://commons-b.example.org"))).reason
    refused(gt.mint(KEY, payload(aud=[MEMBER])))  # one string, never a list
    refused(gt.mint(KEY, payload()), audience="https://commons-b.example.org")


def test_wrong_scope_is_refused():
    for scope in ("openid", "ga4gh_drs_access openid", ""):
        assert "scope" in refused(gt.mint(KEY, payload(scope=scope))).reason
    refused(gt.mint(KEY, payload(scope=None)))


def test_expired_tokens_are_refused():
    token = gt.mint(KEY, payload())
    assert verified(token, now=NOW + 60 + 29).expires == NOW + 60  # within the leeway
    assert "expired" in refused(token, now=NOW + 60 + 30).reason
    ended = gt.mint(KEY, payload(exp=NOW + 10, access_until=NOW + 10))
    assert "expired" in refused(ended, now=NOW + 10).reason  # access_until has no leeway


def test_iat_in_the_future_is_refused():
    token = gt.mint(KEY, payload(iat=NOW + 31, exp=NOW + 90))
    assert "future" in refused(token).reason
    assert verified(gt.mint(KEY, payload(iat=NOW + 30, exp=NOW + 90))).issued_at == NOW + 30


def test_lifetime_over_max_ttl_or_past_access_until_is_refused():
    too_long = gt.mint(KEY, payload(exp=NOW + gt.MAX_TTL + 1, access_until=NOW + 3600))
    assert "too long" in refused(too_long).reason
    assert verified(gt.mint(KEY, payload(exp=NOW + gt.MAX_TTL, access_until=NOW + 3600))).expires == NOW + gt.MAX_TTL
    past_decision = gt.mint(KEY, payload(exp=NOW + 120, access_until=NOW + 100))
    assert "too long" in refused(past_decision).reason


@pytest.mark.parametrize("name", ["iss", "aud", "sub", "passport_iss", "iat", "exp", "jti", "scope", "drs_object_id",
                                  "authz", "access_until"])
def test_every_claim_is_required(name):
    refused(gt.mint(KEY, payload(**{name: None})))


@pytest.mark.parametrize("changes", [
    {"iat": True}, {"exp": "1800000060"}, {"access_until": 1.8e9}, {"sub": 7}, {"drs_object_id": [OBJECT]},
    {"authz": "/programs/phs000001.c1"}, {"authz": []}, {"authz": [""]}, {"authz": [1]},
    {"authz": [f"/programs/phs{n:06d}.c1" for n in range(gt.MAX_RESOURCES + 1)]},
])
def test_mistyped_claims_are_refused(changes):
    refused(gt.mint(KEY, payload(**changes)))


# --- coverage ------------------------------------------------------------------------------------------------------


def test_covers_needs_the_same_object_and_every_resource():
    two = ("/programs/phs000001.c1", "/programs/phs000002.c1")
    grant = verified(gt.mint(KEY, payload(authz=list(two))))
    assert gt.covers(grant, OBJECT, two)
    assert gt.covers(grant, OBJECT, two[:1])  # a subset of what the gateway vouched for
    assert not gt.covers(grant, "dg.REF0/another", two)  # another object
    assert not gt.covers(grant, OBJECT.upper(), two)  # exact ids only
    assert not gt.covers(grant, OBJECT, (*two, "/programs/phs000003.c1"))  # a resource not covered
    assert not gt.covers(grant, OBJECT, ())  # an object without resources is never covered
    assert not gt.covers(grant, OBJECT, ("/programs/phs000001",))  # no prefix matching
