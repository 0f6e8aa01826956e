"""The key store against real JWKS and discovery servers on 127.0.0.1 (rulebook rules 9, 13, 15, 16, §6).

Every server counts its hits, so "no request was made" is checked, not assumed. The store's clock is injected.
"""

from __future__ import annotations

import asyncio
import base64
import time
import tracemalloc

import faults
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from faults import STATE, recording_app, serve

from gateway.core.egress import OPEN
from gateway.passports.build import build_trust
from gateway.passports.trust.issuers import BrokerTrust, KeySource, TrustConfig
from gateway.passports.trust.keys import (
    KeyStore,
    KeysUnavailable,
    UnknownKey,
    UntrustedKeySource,
    parse_jwk,
    parse_jwks,
)
from gateway.settings.passports import KeyFetchSettings, PassportTrustSettings

# --- tiny key helpers ---------------------------------------------------------------------------------------------

_RSA: dict[int, rsa.RSAPrivateKey] = {}


def rsa_key(bits: int = 2048, slot: int = 0) -> rsa.RSAPrivateKey:
    if (bits, slot) not in _RSA:
        _RSA[(bits, slot)] = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return _RSA[(bits, slot)]


def b64(n: int, length: int | None = None) -> str:
    raw = n.to_bytes(length or (n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rsa_jwk(key: rsa.RSAPrivateKey, kid: str, **extra) -> dict:
    numbers = key.public_key().public_numbers()
    return {"kty": "RSA", "kid": kid, "n": b64(numbers.n), "e": b64(numbers.e), **extra}


def ec_jwk(key: ec.EllipticCurvePrivateKey, kid: str, **extra) -> dict:
    numbers = key.public_key().public_numbers()
    size = (key.curve.key_size + 7) // 8
    crv = {"secp256r1": "P-256", "secp384r1": "P-384"}[key.curve.name]
    return {"kty": "EC", "crv": crv, "kid": kid, "x": b64(numbers.x, size), "y": b64(numbers.y, size), **extra}


EC_KEY = ec.generate_private_key(ec.SECP256R1())


def same(a, b) -> bool:
    return a.public_numbers() == b.public_key().public_numbers()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- servers ------------------------------------------------------------------------------------------------------

BROKER_PATH = "/broker"


def jwks_app(jwks: dict, **state) -> web.Application:
    """``/jwks`` serves ``state["jwks"]`` (or ``state["fail"]`` as a status) after ``state["delay"]`` s;
    ``/broker/.well-known/openid-configuration`` names ``state["issuer"]`` (default: its own ``/broker`` URL)
    and ``state["jwks_uri"]`` (default: its own ``/jwks``)."""
    routes = web.RouteTableDef()

    @routes.get("/jwks")
    async def keys(request: web.Request) -> web.Response:
        st = request.app[STATE]
        if st["delay"]:
            await asyncio.sleep(st["delay"])
        if st["fail"]:
            return web.json_response({"error": "down"}, status=st["fail"])
        return web.json_response(st["jwks"], headers=st["headers"])

    @routes.get(BROKER_PATH + "/.well-known/openid-configuration")
    async def discovery(request: web.Request) -> web.Response:
        st = request.app[STATE]
        root = f"http://{request.host}"
        return web.json_response({"issuer": st["issuer"] or root + BROKER_PATH,
                                  "jwks_uri": st["jwks_uri"] or root + "/jwks"})

    state = {"jwks": jwks, "fail": 0, "delay": 0.0, "issuer": None, "jwks_uri": None, "headers": {}, **state}
    return recording_app(routes, **state)


GOOD = {"keys": [rsa_jwk(rsa_key(), "r1"), ec_jwk(EC_KEY, "e1")]}
FAST = KeyFetchSettings(connect_timeout=1.0, read_timeout=1.0, error_cooldown=5.0)


def trust_for(url: str, *, broker_discovery: bool = True, loopback: bool = True, **visa) -> TrustConfig:
    """A trusted broker at ``url/broker`` (discovery) and a trusted visa issuer ``urn:visas`` whose registered
    jku is ``url/jwks`` (unless ``visa`` overrides it)."""
    brokers = [{"issuer": url + BROKER_PATH, "discovery": True} if broker_discovery
               else {"issuer": "urn:broker", "jwks": GOOD}]
    visa_issuer = {"issuer": "urn:visas", "jku": [url + "/jwks"], **visa}
    return build_trust(PassportTrustSettings.model_validate({
        "enabled": True, "allow_insecure_loopback": loopback, "trusted_brokers": brokers,
        "trusted_visa_issuers": [visa_issuer],
    }))


def store_for(url: str, settings: KeyFetchSettings = FAST, clock: Clock | None = None, **kw) -> KeyStore:
    return KeyStore(trust_for(url, **kw), settings, clock=clock or Clock(), egress=OPEN)


# --- trust before I/O ---------------------------------------------------------------------------------------------


async def test_trusted_jku_and_discovery_give_the_right_keys():
    async with serve(jwks_app(GOOD)) as server:
        store = store_for(server.url)
        try:
            assert same(await store.visa_key("urn:visas", "r1", "RS256", server.url + "/jwks"), rsa_key())
            assert same(await store.visa_key("urn:visas", "e1", "ES256", server.url + "/jwks"), EC_KEY)
            assert same(await store.broker_key(server.url + BROKER_PATH, "r1", "RS256"), rsa_key())
        finally:
            await store.aclose()
    assert server.count("/jwks") == 2  # one per source (the jku and the broker's discovered jwks_uri), cached after
    assert server.count(BROKER_PATH) == 1


async def test_untrusted_issuers_jkus_and_algs_cause_zero_requests():
    async with serve(jwks_app(GOOD)) as server:
        store = store_for(server.url)
        jku = server.url + "/jwks"
        attempts = [
            store.broker_key("https://evil.example", "r1", "RS256"),
            store.broker_key(server.url + "/evil", "r1", "RS256"),
            store.broker_key("urn:visas", "r1", "RS256"),  # a visa issuer is not a broker
            store.visa_key("https://evil.example", "r1", "RS256", jku),  # the jku is registered, the issuer is not
            store.visa_key(server.url + BROKER_PATH, "r1", "RS256", jku),  # a broker is not a visa issuer
            store.visa_key("urn:visas", "r1", "RS256", server.url + "/jwks?x=1"),
            store.visa_key("urn:visas", "r1", "RS256", server.url + "/other"),
            store.visa_key("urn:visas", "r1", "RS256", None),  # no discovery for this issuer
            store.visa_key("urn:visas", "r1", "RS256", ["not", "a", "string"]),
            store.visa_key("urn:visas", "r1", "HS256", jku),
            store.visa_key("urn:visas", "r1", "none", jku),
            store.broker_key(server.url + BROKER_PATH, "r1", "PS256"),
        ]
        try:
            for attempt in attempts:
                with pytest.raises(UntrustedKeySource) as err:
                    await attempt
                assert err.value.status == 401
            with pytest.raises(UnknownKey):  # trusted, but no kid: rejected before any fetch too
                await store.visa_key("urn:visas", None, "RS256", jku)
            with pytest.raises(UnknownKey):
                await store.visa_key("urn:visas", "k" * 129, "RS256", jku)
        finally:
            await store.aclose()
    assert server.hits == []
    assert "evil" not in str(store.cached_sources())


async def test_issuer_narrowed_to_one_alg():
    async with serve(jwks_app(GOOD)) as server:
        store = store_for(server.url, algorithms=["ES256"])
        try:
            with pytest.raises(UntrustedKeySource):
                await store.visa_key("urn:visas", "r1", "RS256", server.url + "/jwks")
            assert server.hits == []
            assert same(await store.visa_key("urn:visas", "e1", "ES256", server.url + "/jwks"), EC_KEY)
        finally:
            await store.aclose()


async def test_http_is_refused_without_the_loopback_flag_and_no_request_is_made():
    async with serve(jwks_app(GOOD)) as server:
        url = server.url + "/jwks"
        source = KeySource("urn:visas", "jku", frozenset({"RS256"}), url=url)
        trust = TrustConfig({"urn:b": BrokerTrust("urn:b", source)}, {}, allow_insecure_loopback=False)
        store = KeyStore(trust, FAST, clock=Clock(), egress=OPEN)
        try:
            with pytest.raises(KeysUnavailable) as err:
                await store.key(source, "r1", "RS256")
        finally:
            await store.aclose()
        assert err.value.status == 503
        assert "not https" in str(err.value)
        # and the config refuses it up front
        with pytest.raises(ValueError, match="not https"):
            trust_for(server.url, loopback=False)
    assert server.hits == []


async def test_pinned_keys_make_no_requests():
    store = KeyStore(trust_for("http://127.0.0.1:9", broker_discovery=False), FAST, clock=Clock(), egress=OPEN)
    try:
        assert same(await store.broker_key("urn:broker", "r1", "RS256"), rsa_key())
        assert same(await store.broker_key("urn:broker", "e1", "ES256"), EC_KEY)
        with pytest.raises(UnknownKey):
            await store.broker_key("urn:broker", "nope", "RS256")
        with pytest.raises(UnknownKey):  # the key is bound to its own algorithm
            await store.broker_key("urn:broker", "e1", "RS256")
    finally:
        await store.aclose()


def test_a_pinned_jwks_without_usable_keys_is_refused():
    weak = {"keys": [rsa_jwk(rsa_key(1024), "w")]}
    trust = build_trust(PassportTrustSettings.model_validate({
        "enabled": True, "trusted_brokers": [{"issuer": "urn:b", "jwks": weak}]}))
    with pytest.raises(ValueError, match="no usable key"):
        KeyStore(trust, egress=OPEN)


# --- fetch hygiene ------------------------------------------------------------------------------------------------


async def test_a_redirect_is_an_error_and_not_followed():
    async with serve(faults.redirecting(lambda r: "/jwks")) as server:
        store = KeyStore(trust_for(server.url, jku=[server.url + "/r/jwks"]), FAST, clock=Clock(), egress=OPEN)
        try:
            with pytest.raises(KeysUnavailable, match="redirect, not followed"):
                await store.visa_key("urn:visas", "r1", "RS256", server.url + "/r/jwks")
        finally:
            await store.aclose()
    assert [path for _, path, _ in server.hits] == ["/r/jwks"]


async def test_discovery_with_a_mismatched_issuer_is_refused():
    async with serve(jwks_app(GOOD, issuer="https://someone-else.example/broker")) as server:
        store = store_for(server.url)
        try:
            with pytest.raises(KeysUnavailable, match="not the configured issuer"):
                await store.broker_key(server.url + BROKER_PATH, "r1", "RS256")
        finally:
            await store.aclose()
    assert server.count("/jwks") == 0


@pytest.mark.parametrize("issuer_suffix", ["/", "/BROKER"])
async def test_discovery_issuer_must_match_exactly(issuer_suffix):
    async with serve(jwks_app(GOOD)) as server:
        server.app[STATE]["issuer"] = server.url + (BROKER_PATH + "/" if issuer_suffix == "/" else issuer_suffix)
        store = store_for(server.url)
        try:
            with pytest.raises(KeysUnavailable):
                await store.broker_key(server.url + BROKER_PATH, "r1", "RS256")
        finally:
            await store.aclose()
    assert server.count("/jwks") == 0


async def test_discovered_jwks_uri_must_be_https_or_loopback():
    async with serve(jwks_app(GOOD, jwks_uri="http://10.255.255.1/jwks")) as server:
        store = store_for(server.url)
        try:
            with pytest.raises(KeysUnavailable, match="jwks_uri is http to a host that is not loopback"):
                await store.broker_key(server.url + BROKER_PATH, "r1", "RS256")
        finally:
            await store.aclose()


async def test_a_hanging_jwks_endpoint_times_out():
    async with serve(faults.hanging()) as server:
        settings = KeyFetchSettings(connect_timeout=0.3, read_timeout=0.3)
        store = store_for(server.url, settings)
        start = time.monotonic()
        try:
            with pytest.raises(KeysUnavailable):
                await store.visa_key("urn:visas", "r1", "RS256", server.url + "/jwks")
        finally:
            await store.aclose()
    assert time.monotonic() - start < 1.5


@pytest.mark.parametrize("declare_length", [False, True])
async def test_a_10_mb_jwks_is_refused_without_reading_it_all(declare_length):
    size = 10 * faults.MiB
    async with serve(faults.huge(size, declare_length=declare_length)) as server:
        store = store_for(server.url)
        tracemalloc.start()
        try:
            with pytest.raises(KeysUnavailable, match=f"larger than {256 * 1024} bytes"):
                await store.visa_key("urn:visas", "r1", "RS256", server.url + "/jwks")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await store.aclose()
        assert peak < 2 * faults.MiB  # bounded by the cap (plus the server's own chunks), not by the body
        await asyncio.sleep(0.2)
        assert server.app[STATE]["sent"] < size  # the connection was dropped: the server could not send it all


@pytest.mark.parametrize("body,reason", [
    (b"{not json", "not valid JSON"),
    (b'{"keys": {"kid": "r1"}}', "`keys` is not an array"),
    (b'[{"keys": []}]', "not a JSON object"),
    (b'{"keys": [' + b",".join([b'{"kty": "oct"}'] * 51) + b"]}", "51 keys"),
])
async def test_malformed_jwks_documents_are_refused(body, reason):
    async with serve(faults.not_json(body, "application/json")) as server:
        store = store_for(server.url)
        try:
            with pytest.raises(KeysUnavailable, match=reason):
                await store.visa_key("urn:visas", "r1", "RS256", server.url + "/jwks")
        finally:
            await store.aclose()


async def test_an_error_status_is_unavailable():
    async with serve(jwks_app(GOOD, fail=500)) as server:
        store = store_for(server.url)
        try:
            with pytest.raises(KeysUnavailable, match="HTTP 500"):
                await store.visa_key("urn:visas", "r1", "RS256", server.url + "/jwks")
        finally:
            await store.aclose()


async def test_cookies_are_never_sent_back():
    async with serve(jwks_app(GOOD, headers={"Set-Cookie": "session=abc; Path=/"})) as server:
        clock = Clock()
        store = store_for(server.url, clock=clock)
        try:
            await store.visa_key("urn:visas", "r1", "RS256", server.url + "/jwks")
            clock.now += 1000
            await store.visa_key("urn:visas", "r1", "RS256", server.url + "/jwks")
        finally:
            await store.aclose()
    assert len(server.hits) == 2
    assert all("Cookie" not in headers for _, _, headers in server.hits)


# --- JWK rules ----------------------------------------------------------------------------------------------------


async def test_bad_keys_are_dropped_not_fatal():
    p384 = ec.generate_private_key(ec.SECP384R1())
    jwks = {"keys": [
        rsa_jwk(rsa_key(1024), "weak"),
        ec_jwk(p384, "p384"),
        rsa_jwk(rsa_key(2048, 1), "enc", use="enc"),
        rsa_jwk(rsa_key(2048, 1), "mislabelled", alg="ES256"),
        rsa_jwk(rsa_key(2048, 1), "ps", alg="PS256"),
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        {"kty": "RSA", "kid": "garbage", "n": "!!", "e": "AQAB"},
        rsa_jwk(rsa_key(), "good", use="sig", alg="RS256"),
        ec_jwk(EC_KEY, "good-ec", alg="ES256"),
    ]}
    async with serve(jwks_app(jwks)) as server:
        store = store_for(server.url)
        jku = server.url + "/jwks"
        try:
            assert same(await store.visa_key("urn:visas", "good", "RS256", jku), rsa_key())
            assert same(await store.visa_key("urn:visas", "good-ec", "ES256", jku), EC_KEY)
            for kid, alg in [("weak", "RS256"), ("p384", "ES256"), ("enc", "RS256"), ("mislabelled", "RS256"),
                             ("mislabelled", "ES256"), ("ps", "RS256"), ("hmac", "RS256"), ("garbage", "RS256")]:
                with pytest.raises(UnknownKey) as err:
                    await store.visa_key("urn:visas", kid, alg, jku)
                assert kid not in str(err.value)  # token contents are never echoed
        finally:
            await store.aclose()


def test_parse_jwk_rules():
    good = rsa_jwk(rsa_key(), "k")
    assert parse_jwk(good).alg == "RS256"
    assert parse_jwk(ec_jwk(EC_KEY, "k")).alg == "ES256"
    for bad in [
        {**good, "kid": ""}, {k: v for k, v in good.items() if k != "kid"}, {**good, "kid": 5},
        {**good, "use": "enc"}, {**good, "key_ops": ["encrypt"]}, {**good, "alg": "RS512"}, {**good, "d": "AQAB"},
        {**good, "n": good["n"] + "=="}, {**ec_jwk(EC_KEY, "k"), "x": b64(1, 31)},
        {**ec_jwk(EC_KEY, "k"), "y": b64(12345, 32)},  # not on the curve
        {**good, "n": b64((1 << 8199) | 1)},  # RSA over 8192 bits: too slow to verify, refused like jwk.check_key
        "not a dict",
    ]:
        with pytest.raises((ValueError, TypeError)):
            parse_jwk(bad)
    assert parse_jwk({**good, "key_ops": ["verify"], "use": "sig"}).kid == "k"


def test_duplicate_kid_and_alg_is_ambiguous_and_dropped():
    jwks = {"keys": [rsa_jwk(rsa_key(), "dup"), rsa_jwk(rsa_key(2048, 1), "dup"), ec_jwk(EC_KEY, "dup")]}
    parsed = parse_jwks(jwks, max_keys=50, where="test")
    assert list(parsed) == [("dup", "ES256")]


# --- caching ------------------------------------------------------------------------------------------------------


async def test_concurrent_lookups_share_one_fetch():
    async with serve(jwks_app(GOOD, delay=0.2)) as server:
        store = store_for(server.url)
        jku = server.url + "/jwks"
        try:
            keys = await asyncio.gather(*(store.visa_key("urn:visas", "r1", "RS256", jku) for _ in range(25)),
                                        *(store.broker_key(server.url + BROKER_PATH, "e1", "ES256") for _ in range(25)))
        finally:
            await store.aclose()
    assert all(same(k, rsa_key()) for k in keys[:25]) and all(same(k, EC_KEY) for k in keys[25:])
    assert server.count("/jwks") == 2  # one for the jku, one for the broker's discovered jwks_uri
    assert server.count(BROKER_PATH) == 1


async def test_a_cancelled_caller_does_not_cancel_the_shared_fetch():
    async with serve(jwks_app(GOOD, delay=0.2)) as server:
        store = store_for(server.url)
        jku = server.url + "/jwks"
        try:
            first = asyncio.ensure_future(store.visa_key("urn:visas", "r1", "RS256", jku))
            second = asyncio.ensure_future(store.visa_key("urn:visas", "r1", "RS256", jku))
            await asyncio.sleep(0.05)
            first.cancel()
            assert same(await second, rsa_key())
            assert same(await store.visa_key("urn:visas", "r1", "RS256", jku), rsa_key())
        finally:
            await store.aclose()
    assert server.count("/jwks") == 1


async def test_kid_miss_refetches_once_then_is_rate_limited():
    clock = Clock()
    async with serve(jwks_app({"keys": [rsa_jwk(rsa_key(), "r1")]})) as server:
        store = store_for(server.url, KeyFetchSettings(kid_miss_cooldown=30, ttl=300), clock)
        jku = server.url + "/jwks"
        try:
            await store.visa_key("urn:visas", "r1", "RS256", jku)
            assert server.count("/jwks") == 1
            with pytest.raises(UnknownKey):  # just fetched: a miss right now does not refetch
                await store.visa_key("urn:visas", "new", "RS256", jku)
            assert server.count("/jwks") == 1
            clock.now += 31
            server.app[STATE]["jwks"] = {"keys": [rsa_jwk(rsa_key(), "r1"), rsa_jwk(rsa_key(2048, 1), "new")]}
            assert same(await store.visa_key("urn:visas", "new", "RS256", jku), rsa_key(2048, 1))  # one refetch
            assert server.count("/jwks") == 2
            for _ in range(20):  # a flood of unknown kids costs no request within the cooldown
                with pytest.raises(UnknownKey):
                    await store.visa_key("urn:visas", "injected", "RS256", jku)
            assert server.count("/jwks") == 2
            clock.now += 31
            with pytest.raises(UnknownKey):
                await store.visa_key("urn:visas", "injected", "RS256", jku)
            assert server.count("/jwks") == 3
            assert same(await store.visa_key("urn:visas", "r1", "RS256", jku), rsa_key())
            assert server.count("/jwks") == 3
        finally:
            await store.aclose()


async def test_keys_are_refetched_after_the_ttl():
    clock = Clock()
    async with serve(jwks_app(GOOD)) as server:
        store = store_for(server.url, KeyFetchSettings(ttl=300), clock)
        jku = server.url + "/jwks"
        try:
            await store.visa_key("urn:visas", "r1", "RS256", jku)
            clock.now += 299
            await store.visa_key("urn:visas", "r1", "RS256", jku)
            assert server.count("/jwks") == 1
            server.app[STATE]["jwks"] = {"keys": [rsa_jwk(rsa_key(2048, 1), "r2")]}  # rotation
            clock.now += 2
            assert same(await store.visa_key("urn:visas", "r2", "RS256", jku), rsa_key(2048, 1))
            assert server.count("/jwks") == 2
            with pytest.raises(UnknownKey):  # the rotated-out key is gone
                await store.visa_key("urn:visas", "r1", "RS256", jku)
        finally:
            await store.aclose()


async def test_stale_keys_are_served_when_a_refresh_fails():
    clock = Clock()
    settings = KeyFetchSettings(ttl=300, max_stale=3600, error_cooldown=10)
    async with serve(jwks_app(GOOD)) as server:
        store = store_for(server.url, settings, clock)
        jku = server.url + "/jwks"
        try:
            await store.visa_key("urn:visas", "r1", "RS256", jku)
            server.app[STATE]["fail"] = 503
            clock.now += 301
            assert same(await store.visa_key("urn:visas", "r1", "RS256", jku), rsa_key())  # stale-if-error
            assert server.count("/jwks") == 2
            clock.now += 5  # within the error cooldown: no new attempt
            assert same(await store.visa_key("urn:visas", "r1", "RS256", jku), rsa_key())
            assert server.count("/jwks") == 2
            clock.now += 6
            await store.visa_key("urn:visas", "r1", "RS256", jku)
            assert server.count("/jwks") == 3
            clock.now += 3600  # past max_stale: fail closed
            with pytest.raises(KeysUnavailable) as err:
                await store.visa_key("urn:visas", "r1", "RS256", jku)
            assert err.value.status == 503
            server.app[STATE]["fail"] = 0
            clock.now += 11
            assert same(await store.visa_key("urn:visas", "r1", "RS256", jku), rsa_key())  # recovered
        finally:
            await store.aclose()


async def test_unreachable_keys_with_nothing_cached_fail_closed():
    clock = Clock()
    async with serve(jwks_app(GOOD, fail=502)) as server:
        store = store_for(server.url, KeyFetchSettings(error_cooldown=10), clock)
        jku = server.url + "/jwks"
        try:
            for _ in range(5):
                with pytest.raises(KeysUnavailable) as err:
                    await store.visa_key("urn:visas", "r1", "RS256", jku)
                assert err.value.status == 503
            assert server.count("/jwks") == 1  # failures are not retried within the cooldown
            clock.now += 11
            server.app[STATE]["fail"] = 0
            assert same(await store.visa_key("urn:visas", "r1", "RS256", jku), rsa_key())
        finally:
            await store.aclose()


async def test_an_unreachable_server_fails_closed():
    url = f"http://127.0.0.1:{faults.free_port()}"
    store = store_for(url)
    try:
        with pytest.raises(KeysUnavailable):
            await store.broker_key(url + BROKER_PATH, "r1", "RS256")
    finally:
        await store.aclose()


async def test_warm_fetches_every_source_once():
    async with serve(jwks_app(GOOD)) as server:
        store = store_for(server.url)
        try:
            await store.warm()
            assert server.count("/jwks") == 2
            await store.visa_key("urn:visas", "r1", "RS256", server.url + "/jwks")
            await store.broker_key(server.url + BROKER_PATH, "r1", "RS256")
        finally:
            await store.aclose()
    assert server.count("/jwks") == 2


def finished_without_waiting(coro):
    """The value of ``coro`` if it completes on its first step (no await suspended it); fails otherwise."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    pytest.fail("the lookup suspended")


async def test_keys_at_hand_are_served_without_suspending():
    async with serve(jwks_app(GOOD)) as server:
        clock = Clock()
        store = store_for(server.url, KeyFetchSettings(ttl=300), clock, broker_discovery=False)
        jku = server.url + "/jwks"
        try:
            assert same(finished_without_waiting(store.broker_key("urn:broker", "e1", "ES256")), EC_KEY)  # pinned
            await store.visa_key("urn:visas", "r1", "RS256", jku)  # the first lookup fetches
            assert same(finished_without_waiting(store.visa_key("urn:visas", "r1", "RS256", jku)), rsa_key())
            clock.now += 299
            assert same(finished_without_waiting(store.key(store.trust.visa_key_source("urn:visas", jku), "r1",
                                                           "RS256")), rsa_key())
            with pytest.raises(UnknownKey):  # a pinned miss is decided at once too
                finished_without_waiting(store.broker_key("urn:broker", "nope", "ES256"))
        finally:
            await store.aclose()
    assert server.count("/jwks") == 1


async def test_lookups_during_a_refresh_wait_for_it_together():
    clock = Clock()
    async with serve(jwks_app(GOOD, delay=0.2)) as server:
        store = store_for(server.url, KeyFetchSettings(ttl=300), clock)
        jku = server.url + "/jwks"
        try:
            await store.visa_key("urn:visas", "r1", "RS256", jku)
            server.app[STATE]["jwks"] = {"keys": [rsa_jwk(rsa_key(2048, 1), "r1")]}  # rotated under the same kid
            clock.now += 301  # stale: the next lookups refresh, all through one fetch, none served the old key
            keys = await asyncio.gather(*(store.visa_key("urn:visas", "r1", "RS256", jku) for _ in range(10)))
            assert all(same(k, rsa_key(2048, 1)) for k in keys)
            assert server.count("/jwks") == 2
        finally:
            await store.aclose()


async def test_a_lookup_of_fresh_keys_joins_a_fetch_under_way():
    clock = Clock()
    async with serve(jwks_app(GOOD, delay=0.2)) as server:
        store = store_for(server.url, KeyFetchSettings(ttl=300, kid_miss_cooldown=30), clock)
        jku = server.url + "/jwks"
        try:
            await store.visa_key("urn:visas", "r1", "RS256", jku)
            server.app[STATE]["jwks"] = {"keys": [rsa_jwk(rsa_key(2048, 1), "r1"), rsa_jwk(rsa_key(2048, 2), "new")]}
            clock.now += 31  # keys still fresh, but an unknown kid may refetch
            miss = asyncio.ensure_future(store.visa_key("urn:visas", "new", "RS256", jku))
            await asyncio.sleep(0.05)  # the refetch is under way
            known = await store.visa_key("urn:visas", "r1", "RS256", jku)
            assert same(known, rsa_key(2048, 1))  # waited for the fetch, as before the fast path existed
            assert same(await miss, rsa_key(2048, 2))
            assert server.count("/jwks") == 2
        finally:
            await store.aclose()
