"""Gateway tokens at a running reference commons: a federation gateway's JWKS served on 127.0.0.1 (counting its
requests), tokens minted with :mod:`gateway.passports.tokens.gateway_token`, honoured by fence's download route and the
DRS access routes for exactly one object, never past ``access_until``."""

from __future__ import annotations

import asyncio
import json
import logging

import httpx
import pytest
from passport_kit import DRS, SUB, GatewayKeys, expires_of, files, gateway_keys, now, user_of
from servers import Server, start_commons

from gateway.core.errors import ApiError
from gateway.passports.jose.signing import SigningKey, generate
from refcommons.authz.default_policy import RESEARCHER_USER
from refcommons.fence.gateway_trust import TrustedGateway, claimed_gateway, gateway_map
from refcommons.fence.service import DownloadGrant

GATEWAY_KEY = SigningKey.of(generate())
OTHER_KEY = SigningKey.of(generate())


@pytest.fixture
async def gateway() -> GatewayKeys:
    async with gateway_keys(GATEWAY_KEY) as keys:
        yield keys


@pytest.fixture
async def commons(gateway: GatewayKeys) -> Server:
    server = await start_commons("dg.GWT1", seed=9, subjects=20, allow_insecure_loopback=True,
                                 trusted_gateways=(TrustedGateway(gateway.issuer, gateway.jwks_uri),))
    try:
        yield server
    finally:
        await server.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def download(server: Server, did: str, token: str, **params: str) -> httpx.Response:
    return await server.client.get(f"/user/data/download/{did}", headers=bearer(token), params=params)


def assert_error(r: httpx.Response, status: int, key: str = "error") -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status_code"] == status and body[key]
    return body[key]


# --- honoured ------------------------------------------------------------------------------------------------------


async def test_a_gateway_token_is_honoured_at_fence_download(commons, gateway):
    f = await files(commons)
    until = now() + 40
    token = gateway.token(f["c1"], commons.base_url, until=until)
    r = await download(commons, f["c1"].did, token)
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    assert expires_of(url) <= until and expires_of(url) == until  # not the default hour
    assert user_of(url) == SUB
    async with httpx.AsyncClient(timeout=10) as c:
        data = await c.get(url)
    assert data.status_code == 200 and len(data.content) == f["c1"].size
    short = await download(commons, f["c1"].did, token, expires_in="10")
    assert now() <= expires_of(short.json()["url"]) <= now() + 10


async def test_a_gateway_token_is_honoured_at_the_drs_access_routes(commons, gateway):
    f = await files(commons)
    until = now() + 40
    token = gateway.token(f["c2"], commons.base_url, until=until)
    got = await commons.client.get(f"{DRS}/objects/{f['c2'].did}/access/gs", headers=bearer(token))
    posted = await commons.client.post(f"{DRS}/objects/{f['c2'].did}/access/s3", json={}, headers=bearer(token))
    for r in (got, posted):
        assert r.status_code == 200, r.text
        assert expires_of(r.json()["url"]) == until
    bulk = await commons.client.post(f"{DRS}/objects/access", headers=bearer(token), json={
        "bulk_object_access_ids": [{"bulk_object_id": f["c2"].did, "bulk_access_ids": ["s3"]},
                                   {"bulk_object_id": f["c1"].did, "bulk_access_ids": ["s3"]}]})
    assert bulk.status_code == 200
    assert bulk.json()["unresolved_drs_objects"] == [{"error_code": 403, "object_ids": [f["c1"].did]}]
    assert expires_of(bulk.json()["resolved_drs_object_access_urls"][0]["url"]) == until


async def test_the_gateways_keys_are_fetched_once(commons, gateway):
    f = await files(commons)
    tokens = [gateway.token(f["c1"], commons.base_url) for _ in range(5)]
    answers = await asyncio.gather(*(download(commons, f["c1"].did, t) for t in tokens))
    assert [r.status_code for r in answers] == [200] * 5
    assert (await download(commons, f["c1"].did, tokens[0])).status_code == 200
    assert gateway.hits == ["/.well-known/jwks.json"]  # single flight, then cached


# --- refused -------------------------------------------------------------------------------------------------------


async def test_a_token_for_object_a_does_not_open_object_b(commons, gateway):
    f = await files(commons)
    token_a = gateway.token(f["c1"], commons.base_url)
    message = assert_error(await download(commons, f["c2"].did, token_a), 403)
    assert "not for this object" in message
    r = await commons.client.get(f"{DRS}/objects/{f['other'].did}/access/s3", headers=bearer(token_a))
    assert_error(r, 403, "msg")
    # the right object, but the token vouches for another resource than the object's own
    wrong_resources = gateway.token(f["c1"], commons.base_url, resources=f["c2"].authz)
    assert_error(await download(commons, f["c1"].did, wrong_resources), 403)


async def test_an_untrusted_gateway_costs_no_request_and_is_401(commons, gateway):
    f = await files(commons)
    async with gateway_keys(OTHER_KEY) as stranger:
        token = stranger.token(f["c1"], commons.base_url)
        message = assert_error(await download(commons, f["c1"].did, token), 401)
        assert "invalid access token" in message  # fell through to fence's own token check
        r = await commons.client.get(f"{DRS}/objects/{f['c1'].did}/access/s3", headers=bearer(token))
        assert_error(r, 401, "msg")
        assert stranger.hits == [] and gateway.hits == []


@pytest.mark.parametrize("change, status", [
    ({"aud": "https://another-commons.example.org"}, 401),
    ({"scope": "openid"}, 401),
    ({"exp": 1, "iat": 0}, 401),
    ({"access_until": 2}, 401),
    ({"iat": 4_000_000_000}, 401),
])
async def test_bad_claims_are_refused(commons, gateway, change, status):
    f = await files(commons)
    token = gateway.token(f["c1"], commons.base_url, **change)
    assert_error(await download(commons, f["c1"].did, token), status)


async def test_bad_signatures_and_unknown_keys_are_401(commons, gateway):
    f = await files(commons)
    good = gateway.token(f["c1"], commons.base_url)
    head, _body, sig = good.split(".")
    other_body = gateway.token(f["c2"], commons.base_url).split(".")[1]
    assert_error(await download(commons, f["c2"].did, f"{head}.{other_body}.{sig}"), 401)
    unknown_kid = gateway.token(f["c1"], commons.base_url, key=OTHER_KEY)  # the trusted issuer, a key it never had
    assert_error(await download(commons, f["c1"].did, unknown_kid), 401)


async def test_unreachable_gateway_keys_are_503(commons, gateway):
    f = await files(commons)
    await gateway.stop()
    r = await download(commons, f["c1"].did, gateway.token(f["c1"], commons.base_url))
    assert_error(r, 503)


async def test_fence_tokens_still_work_alongside_gateway_tokens(commons, gateway):
    f = await files(commons)
    creds = await commons.commons.fence.create_api_key(RESEARCHER_USER)
    token = (await commons.client.post("/user/credentials/api/access_token", json=creds)).json()["access_token"]
    assert (await download(commons, f["c1"].did, token)).status_code == 200
    assert_error(await download(commons, f["c1"].did, "junk"), 401)
    assert gateway.hits == []


async def test_options_names_the_trusted_gateways(commons, gateway):
    f = await files(commons)
    options = (await commons.client.request("OPTIONS", f"{DRS}/objects/{f['c1'].did}")).json()
    assert options["supported_types"] == ["BearerAuth"]  # no passports configured here
    assert options["bearer_auth_issuers"] == [f"{commons.base_url}/user", gateway.issuer]


async def test_logs_name_jti_iss_and_sub_but_never_the_token(commons, gateway, caplog):
    f = await files(commons)
    token = gateway.token(f["c1"], commons.base_url, jti="jti-for-the-log")
    with caplog.at_level(logging.INFO, logger="refcommons.fence"):
        assert (await download(commons, f["c1"].did, token)).status_code == 200
        assert (await download(commons, f["c2"].did, token)).status_code == 403
    accepted = [r for r in caplog.records if r.getMessage() == "gateway token accepted"]
    assert len(accepted) == 1
    assert (accepted[0].jti, accepted[0].iss, accepted[0].sub) == ("jti-for-the-log", gateway.issuer, SUB)
    everything = "\n".join(f"{r.getMessage()} {json.dumps(r.__dict__, default=str)}" for r in caplog.records)
    for part in token.split("."):
        assert part not in everything


# --- in process ----------------------------------------------------------------------------------------------------


async def test_authorize_download_with_a_gateway_token_in_process(commons, gateway):
    fence = commons.commons.fence
    f = await files(commons)
    until = now() + 30
    grant = await fence.authorize_download(f"Bearer {gateway.token(f['c1'], commons.base_url, until=until)}",
                                           f["c1"])
    assert grant == DownloadGrant(user=SUB, not_after=until)
    with pytest.raises(ApiError) as err:
        await fence.authorize_download(f"Bearer {gateway.token(f['c1'], commons.base_url)}", f["c2"])
    assert err.value.status == 403
    with pytest.raises(ApiError) as err:
        await fence.authorize_download(None, f["c1"], passports=["a.b.c"])
    assert err.value.status == 400  # no passports configured at this commons


def test_claimed_gateway_is_pure_and_needs_a_configured_issuer():
    gateways = gateway_map([TrustedGateway("https://gw.example.org", "https://gw.example.org/jwks")],
                           allow_insecure_loopback=False)
    from gateway.passports.tokens import gateway_token as gt

    claims = gt.claims(issuer="https://gw.example.org", audience="https://c.example.org", object_id="dg.X/1",
                       resources=["/programs/phs000001.c1"], identity=("b", "s"), now=now(), ttl=60,
                       access_until=now() + 60)
    token = gt.mint(GATEWAY_KEY, claims)
    found = claimed_gateway(token, gateways)
    assert found is not None and found[1].issuer == "https://gw.example.org"
    assert claimed_gateway(gt.mint(GATEWAY_KEY, {**claims, "iss": "https://evil.example"}), gateways) is None
    assert claimed_gateway("not a token", gateways) is None
    assert claimed_gateway(token, {}) is None
    with pytest.raises(ValueError):
        gateway_map([TrustedGateway("https://gw.example.org", "http://gw.example.org/jwks")],
                    allow_insecure_loopback=True)
    with pytest.raises(ValueError):
        TrustedGateway.parse("https://gw.example.org")


async def test_a_bad_gateway_jwks_url_refuses_to_start():
    with pytest.raises(ValueError):
        await start_commons("dg.GWT2", seed=9, subjects=5,
                            trusted_gateways=(TrustedGateway("http://127.0.0.1:9", "http://127.0.0.1:9/jwks"),))
