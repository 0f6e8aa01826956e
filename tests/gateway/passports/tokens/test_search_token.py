"""Search tokens (the gateway's second token kind): round trip, limits, and that neither kind passes for the other."""

from __future__ import annotations

import pytest
import tokens_kit as kit

from gateway.passports.jose import jws
from gateway.passports.jose.jwk import key_from_jwk
from gateway.passports.jose.signing import SigningKey
from gateway.passports.tokens import gateway_token as gt
from gateway.passports.tokens.gateway_token import GatewayTokenError, SearchGrant

NOW = 1_800_000_000
GATEWAY = "https://gateway.example.org"
MEMBER = "https://commons-a.example.org"
RESOURCES = ("/programs/phs000001.c1", "/programs/phs000002.c2")
IDENTITY = ("https://broker.example.org", "researcher-1")
KEY = SigningKey.of(kit.rsa_key(2048, 11))


def search_payload(**changes) -> dict:
    out = gt.search_claims(issuer=GATEWAY, audience=MEMBER, resources=RESOURCES, identity=IDENTITY, now=NOW, ttl=60,
                           access_until=NOW + 600, jti="jti-s")
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def object_payload() -> dict:
    return gt.claims(issuer=GATEWAY, audience=MEMBER, object_id="dg.REF0/x", resources=RESOURCES[:1],
                     identity=IDENTITY, now=NOW, ttl=60, access_until=NOW + 600, jti="jti-o")


def parsed(payload: dict) -> jws.ParsedJws:
    token = gt.mint(KEY, payload)
    out = gt.parse(token)
    jws.verify(out, key_from_jwk(KEY.public_jwk))
    return out


def test_round_trip():
    grant = gt.check_search(parsed(search_payload()), NOW, issuer=GATEWAY, audience=MEMBER)
    assert grant == SearchGrant(issuer=GATEWAY, audience=MEMBER, subject=IDENTITY[1], passport_issuer=IDENTITY[0],
                                resources=RESOURCES, issued_at=NOW, expires=NOW + 60, access_until=NOW + 600,
                                jti="jti-s")
    claims = search_payload()
    assert claims["scope"] == gt.SEARCH_SCOPE != gt.SCOPE and "drs_object_id" not in claims


def test_lifetime_is_at_most_a_minute_and_never_past_the_decision():
    long = gt.search_claims(issuer=GATEWAY, audience=MEMBER, resources=RESOURCES, identity=IDENTITY, now=NOW,
                            ttl=300, access_until=NOW + 600)
    assert long["exp"] == NOW + gt.SEARCH_MAX_TTL == NOW + 60
    short = gt.search_claims(issuer=GATEWAY, audience=MEMBER, resources=RESOURCES, identity=IDENTITY, now=NOW,
                             ttl=60, access_until=NOW + 7)
    assert short["exp"] == NOW + 7
    with pytest.raises(ValueError):
        gt.search_claims(issuer=GATEWAY, audience=MEMBER, resources=RESOURCES, identity=IDENTITY, now=NOW, ttl=60,
                         access_until=NOW)
    with pytest.raises(ValueError):
        gt.search_claims(issuer=GATEWAY, audience=MEMBER, resources=[], identity=IDENTITY, now=NOW, ttl=60,
                         access_until=NOW + 60)
    too_many = [f"/programs/phs{i:06d}.c1" for i in range(gt.SEARCH_MAX_RESOURCES + 1)]
    with pytest.raises(ValueError):
        gt.search_claims(issuer=GATEWAY, audience=MEMBER, resources=too_many, identity=IDENTITY, now=NOW, ttl=60,
                         access_until=NOW + 60)


def test_an_object_token_is_not_a_search_token_and_vice_versa():
    with pytest.raises(GatewayTokenError) as err:
        gt.check_search(parsed(object_payload()), NOW, issuer=GATEWAY, audience=MEMBER)
    assert err.value.status == 401
    with pytest.raises(GatewayTokenError) as err:
        gt.check(parsed(search_payload()), NOW, issuer=GATEWAY, audience=MEMBER)
    assert err.value.status == 401 and "scope" in err.value.reason
    # an object token relabelled with the search scope still names an object: refused
    relabelled = {**object_payload(), "scope": gt.SEARCH_SCOPE}
    with pytest.raises(GatewayTokenError):
        gt.check_search(parsed(relabelled), NOW, issuer=GATEWAY, audience=MEMBER)
    # a search token given an object id is refused by both
    with_object = search_payload(drs_object_id="dg.REF0/x")
    for check in (gt.check, gt.check_search):
        with pytest.raises(GatewayTokenError):
            check(parsed(with_object), NOW, issuer=GATEWAY, audience=MEMBER)


@pytest.mark.parametrize("changes", [
    {"aud": "https://other.example"}, {"iss": "https://evil.example"}, {"exp": NOW - 60, "iat": NOW - 100},
    {"exp": NOW + 120}, {"authz": []}, {"authz": "/programs/phs000001.c1"}, {"access_until": NOW - 1},
    {"sub": None}, {"iat": NOW + 120, "exp": NOW + 150},
])
def test_bad_search_tokens_are_401(changes):
    with pytest.raises(GatewayTokenError) as err:
        gt.check_search(parsed(search_payload(**changes)), NOW, issuer=GATEWAY, audience=MEMBER)
    assert err.value.status == 401
