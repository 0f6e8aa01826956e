"""RS256 keys persisted in the store, JWKS, access tokens and API keys: issued, verified, refused when bad."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest

from gateway.store import open_store
from refcommons.fence.service import Fence
from refcommons.fence.tokens import ACCESS, API_KEY, CredentialError, TokenService, load_signing_key
from refcommons.settings import CommonsSettings
from refcommons.synth import generate_dataset

BASE = "http://127.0.0.1:8799"


@pytest.fixture
async def store():
    s = await open_store("sqlite:///:memory:")
    yield s
    await s.close()
    # let the closed store's worker thread run to its end (it exits just after close() returns, but may not be
    # scheduled before the session's leak check when this is the last test)
    await asyncio.sleep(0.02)


@pytest.fixture
async def tokens(store) -> TokenService:
    return await TokenService.open(store, f"{BASE}/user", 1200)


def _tamper_payload(token: str, **changes) -> str:
    header, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{sig}"


async def test_keys_persist_across_two_fences_sharing_a_store_file(tmp_path):
    path = tmp_path / "commons.sqlite3"
    dataset = generate_dataset(prefix="dg.TK01", seed=2, subjects=5)
    settings = CommonsSettings(prefix="dg.TK01", base_url=BASE)
    server_store, cli_store = await open_store(f"sqlite:///{path}"), await open_store(f"sqlite:///{path}")
    try:
        server, cli = await asyncio.gather(
            Fence.open(server_store, settings, dataset), Fence.open(cli_store, settings, dataset)
        )
        assert server.jwks() == cli.jwks()
        creds = await cli.create_api_key("member@refcommons.example")  # minted by the "CLI"
        token = await server.exchange(creds["api_key"])  # honoured by the "server"
        assert server.tokens.verify(token, ACCESS)["sub"] == "member@refcommons.example"
        assert (await cli.principal(f"Bearer {token}")).user == "member@refcommons.example"
    finally:
        await server_store.close()
        await cli_store.close()
    reopened = await open_store(f"sqlite:///{path}")
    try:
        assert (await load_signing_key(reopened)).kid == server.tokens.key.kid
    finally:
        await reopened.close()


async def test_claims_of_an_access_token(tokens):
    before = int(time.time())
    token = tokens.issue_access_token("researcher@refcommons.example")
    claims = tokens.verify(token, ACCESS)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": tokens.key.kid, "typ": "JWT"}
    assert claims["iss"] == f"{BASE}/user"
    assert claims["aud"] == [f"{BASE}/user"]
    assert claims["sub"] == claims["context"]["user"]["name"] == "researcher@refcommons.example"
    assert claims["pur"] == "access"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 1200
    assert "openid" in claims["scope"] and "user" in claims["scope"] and "data" in claims["scope"]
    assert tokens.verify(tokens.issue_access_token("x"), ACCESS)["jti"] != claims["jti"]


async def test_jwks_verifies_a_token_with_pyjwt(tokens):
    jwks = tokens.jwks()
    (key,) = jwks["keys"]
    assert {key["kty"], key["use"], key["alg"], key["e"]} == {"RSA", "sig", "RS256", "AQAB"}
    assert key["kid"] == tokens.key.kid
    assert len(base64.urlsafe_b64decode(key["n"] + "==")) == 256  # 2048-bit modulus
    token = tokens.issue_access_token("admin@refcommons.example")
    public = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(token)["kid"]].key
    claims = jwt.decode(token, public, algorithms=["RS256"], audience=f"{BASE}/user", issuer=f"{BASE}/user")
    assert claims["sub"] == "admin@refcommons.example"


async def test_expired_tokens_are_refused(tokens):
    stale = tokens.issue_access_token("u", now=int(time.time()) - 3600, ttl=60)
    with pytest.raises(CredentialError, match="expired"):
        tokens.verify(stale, ACCESS)
    fresh = tokens.issue_access_token("u", now=int(time.time()) - 3600, ttl=7200)
    assert tokens.verify(fresh, ACCESS)["sub"] == "u"


async def test_tampered_tokens_are_refused(tokens):
    token = tokens.issue_access_token("researcher@refcommons.example")
    for forged in (
        _tamper_payload(token, sub="admin@refcommons.example"),
        _tamper_payload(token, exp=int(time.time()) + 10**6),
        token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
        "not-a-jwt",
        "a.b.c",
    ):
        with pytest.raises(CredentialError):
            tokens.verify(forged, ACCESS)


async def test_purpose_issuer_and_key_are_checked(tokens, store):
    api_key = tokens.issue_api_key("u", "kid123", issued_at=int(time.time()), expires_at=int(time.time()) + 60)
    assert tokens.verify(api_key, API_KEY)["jti"] == "kid123"
    with pytest.raises(CredentialError, match="access"):
        tokens.verify(api_key, ACCESS)  # an API key is not a bearer token
    with pytest.raises(CredentialError):
        tokens.verify(tokens.issue_access_token("u"), API_KEY)
    elsewhere = TokenService(tokens.key, "http://127.0.0.1:1/user", 60)  # same key, another issuer
    with pytest.raises(CredentialError, match="invalid token"):
        tokens.verify(elsewhere.issue_access_token("u"), ACCESS)
    other_store = await open_store("sqlite:///:memory:")
    try:
        stranger = await TokenService.open(other_store, f"{BASE}/user", 60)
    finally:
        await other_store.close()
    assert stranger.key.kid != tokens.key.kid
    with pytest.raises(CredentialError, match="unknown key"):
        tokens.verify(stranger.issue_access_token("u"), ACCESS)
    forged_kid = jwt.encode(
        {"iss": f"{BASE}/user", "aud": [f"{BASE}/user"], "sub": "u", "iat": 0, "exp": 2**31, "jti": "j"}
        | {"pur": "access"},
        stranger.key.private,
        algorithm="RS256",
        headers={"kid": tokens.key.kid},  # claims our kid, signed with another key
    )
    with pytest.raises(CredentialError):
        tokens.verify(forged_kid, ACCESS)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_unsigned_and_hmac_tokens_are_refused(tokens):
    claims = {
        "iss": f"{BASE}/user", "aud": [f"{BASE}/user"], "sub": "u", "iat": 0, "exp": 2**31, "jti": "j", "pur": "access"
    }
    none_alg = jwt.encode(claims, None, algorithm="none", headers={"kid": tokens.key.kid})
    with pytest.raises(CredentialError):
        tokens.verify(none_alg, ACCESS)
    # algorithm confusion: HS256 keyed with the public PEM
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": tokens.key.kid}).encode())
    body = _b64(json.dumps(claims).encode())
    mac = hmac.new(tokens.key.public_pem().encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(CredentialError):
        tokens.verify(f"{head}.{body}.{_b64(mac)}", ACCESS)


def _signed(tokens: TokenService, claims: dict, **header) -> str:
    """A token signed with the commons' own key by PyJWT (an independent implementation)."""
    return jwt.encode(claims, tokens.key.private, algorithm="RS256", headers={"kid": tokens.key.kid, **header})


def _claims(**changes) -> dict:
    now = int(time.time())
    base = {"iss": f"{BASE}/user", "aud": [f"{BASE}/user"], "sub": "u", "iat": now, "exp": now + 60, "jti": "j",
            "pur": "access"}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


async def test_a_token_pyjwt_signs_with_our_key_and_claims_is_accepted(tokens):
    assert tokens.verify(_signed(tokens, _claims()), ACCESS)["sub"] == "u"
    assert tokens.verify(_signed(tokens, _claims(aud=f"{BASE}/user")), ACCESS)["sub"] == "u"  # a string aud too


async def test_registered_claims_are_checked_strictly(tokens):
    now = int(time.time())
    for changes, reason in (
        ({"aud": None}, "not for this commons"),
        ({"aud": ["http://elsewhere/user"]}, "not for this commons"),
        ({"iss": f"{BASE}/user/"}, "another commons"),  # exact strings: no normalising
        ({"iat": now + 60}, "not yet valid"),
        ({"nbf": now + 60}, "not yet valid"),
        ({"exp": str(now + 60)}, "integers"),
        ({"iat": True}, "integers"),
        ({"exp": now}, "expired"),
        ({"jti": None}, "jti is missing"),
        ({"sub": None}, "sub is missing"),
        ({"sub": ""}, "no user"),
    ):
        with pytest.raises(CredentialError, match=reason):
            tokens.verify(_signed(tokens, _claims(**changes)), ACCESS)


async def test_the_jws_is_parsed_strictly(tokens):
    with pytest.raises(CredentialError, match="crit"):
        tokens.verify(_signed(tokens, _claims(), crit=["exp"]), ACCESS)
    with pytest.raises(CredentialError, match="malformed"):
        tokens.verify(tokens.issue_access_token("u") + ".x.y", ACCESS)  # a JWE-like 5 segments
    _, payload, _ = tokens.issue_access_token("u").split(".")
    doubled = b'{"alg":"RS256","kid":"' + tokens.key.kid.encode() + b'","typ":"JWT","kid":"other"}'
    with pytest.raises(CredentialError, match="duplicate"):  # rule 7: which kid would count?
        tokens.verify(f"{_b64(doubled)}.{payload}.{_b64(b'sig')}", ACCESS)
    with pytest.raises(CredentialError, match="malformed"):
        tokens.verify("x" * (17 * 1024), ACCESS)
