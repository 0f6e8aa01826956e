"""The decision cache, on the in-memory cache and on a real Redis: hits skip verification, the trust config is part
of the key, expiry is checked on read, rejections are cached briefly, and no raw token is ever stored."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest
from faults import STATE, serve
from test_engine import MAP, NOW, VISA_KEY, key_server, loopback_settings, passport, visa
from tokens_kit import SUB

from gateway.cache.factory import open_cache
from gateway.cache.memory import MemoryCache
from gateway.core.egress import OPEN
from gateway.passports.build import build_engine
from gateway.passports.decisions import (
    FORMAT_VERSION,
    CachedDecision,
    CachedFailure,
    DecisionCache,
    decode,
    encode_decision,
    encode_failure,
)
from gateway.passports.engine import PassportEngine
from gateway.passports.evaluation import PassportRejected
from gateway.passports.jose import jws
from gateway.passports.rules.grants import Grant
from gateway.settings.passports import PassportsConfig


@pytest.fixture(params=["memory", "redis"])
async def cache(request) -> AsyncIterator:
    if request.param == "memory":
        backend = MemoryCache()
    else:
        url = request.getfixturevalue("redis_url")
        backend = await open_cache(url, key_prefix=request.getfixturevalue("redis_key_prefix"))
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
def verifications(monkeypatch) -> list[str]:
    """Every signature verification the engine performs (the sha256 of what was verified)."""
    seen: list[str] = []
    real = jws.verify

    def counting(parsed, key):
        seen.append(parsed.raw_sha256)
        return real(parsed, key)

    monkeypatch.setattr(jws, "verify", counting)
    return seen


LEEWAY = PassportsConfig.model_fields["leeway"].default
"""Every Passport and Visa counts until its ``exp`` plus the leeway (rule 20), for the decision as for the checks."""


def engine_for(url: str, cache, **extra) -> PassportEngine:
    return build_engine(PassportsConfig.model_validate(loopback_settings(url, **extra)), cache, egress=OPEN)


def tokens_for(url: str, *, exp: int = NOW + 3600, visa_exp: int = NOW + 1200) -> list[str]:
    jku = url + "/jwks"
    return [passport([visa(1, jku=jku), visa(2, jku=jku, exp=visa_exp)], iss=url + "/broker", exp=exp)]


async def test_a_hit_skips_verification_and_key_fetches(cache, verifications):
    async with serve(key_server()) as server:
        tokens = tokens_for(server.url)
        first_engine = engine_for(server.url, cache)
        try:
            first = await first_engine.evaluate(tokens, NOW)
        finally:
            await first_engine.aclose()
        assert not first.cached and len(verifications) == 3 and len(server.hits) == 3
        # a fresh engine (another replica: empty key store) over the same cache
        second_engine = engine_for(server.url, cache)
        try:
            second = await second_engine.evaluate(tokens, NOW + 10)
            decision = await second_engine.decide(["/programs/phs000001.c1"], MAP, tokens, NOW + 20)
        finally:
            await second_engine.aclose()
    assert second.cached and second.grants == first.grants and second.valid_until == first.valid_until
    assert second.visas == () and second.audit == ()
    assert second.identity == first.identity == (server.url + "/broker", SUB)  # whose: from the cache too
    assert len(verifications) == 3 and len(server.hits) == 3  # nothing verified, nothing fetched
    assert decision.allowed and decision.valid_until == NOW + 3600 + LEEWAY


async def test_the_cache_holds_no_raw_token(verifications):
    backend = MemoryCache()
    async with serve(key_server()) as server:
        tokens = tokens_for(server.url)
        engine = engine_for(server.url, backend)
        try:
            await engine.evaluate(tokens, NOW)
            with pytest.raises(PassportRejected):
                await engine.evaluate([passport([], iss="https://evil.example")], NOW)
        finally:
            await engine.aclose()
    stored = b"".join(k.encode() + e.value for k, e in backend._entries.items())
    assert len(backend) == 2
    for token in tokens:
        for part in token.split("."):
            assert part.encode() not in stored
    assert b"phs000001" in stored


async def test_a_trust_config_change_is_a_miss(cache, verifications):
    async with serve(key_server()) as server:
        tokens = tokens_for(server.url)
        engine = engine_for(server.url, cache)
        changed = engine_for(server.url, cache, audiences=["https://gateway.example.org"])
        try:
            await engine.evaluate(tokens, NOW)
            assert (await engine.evaluate(tokens, NOW)).cached
            assert changed.trust_hash != engine.trust_hash
            again = await changed.evaluate(tokens, NOW)
        finally:
            await engine.aclose()
            await changed.aclose()
    assert not again.cached and len(verifications) == 6


async def test_an_entry_is_never_used_past_its_valid_until(cache, verifications):
    async with serve(key_server()) as server:
        tokens = tokens_for(server.url, visa_exp=NOW + 1200)
        engine = engine_for(server.url, cache)
        try:
            first = await engine.evaluate(tokens, NOW)
            assert first.valid_until == NOW + 1200 + LEEWAY
            assert (await engine.evaluate(tokens, NOW + 1199 + LEEWAY)).cached  # the backend TTL is still running
            later = await engine.evaluate(tokens, NOW + 1200 + LEEWAY)
        finally:
            await engine.aclose()
    assert not later.cached and {g.key for g in later.grants} == {("dbgap", "phs000001", "c1")}
    assert len(verifications) == 5  # 3, then the Passport and the live Visa: the expired one is refused unverified


async def test_ttl_is_min_of_validity_less_a_minute_and_15_minutes(cache):
    store = DecisionCache(cache, trust_hash="t")
    decision = CachedDecision((), NOW + 50, NOW + 50)
    assert not await store.put(["p"], decision, NOW)  # validity − 60 s ≤ 0: not cached
    assert await store.get(["p"], NOW) is None
    assert await store.put(["p"], CachedDecision((), NOW + 7200, NOW + 7200), NOW)
    if isinstance(cache, MemoryCache):
        entry = cache._entries[store.key(["p"])]
        assert entry.expires_at - cache.clock() == pytest.approx(900, abs=2)
    else:
        ttl = await cache.client.pttl(cache.key_prefix + store.key(["p"]))
        assert 898_000 <= ttl <= 900_000


async def test_rejections_are_cached_briefly_but_unreachable_keys_are_not(cache, verifications):
    async with serve(key_server()) as server:
        engine = engine_for(server.url, cache)
        forged = [passport([], iss=server.url + "/broker", key=VISA_KEY)]  # bad signature: 401, rule 9
        try:
            with pytest.raises(PassportRejected) as first:
                await engine.evaluate(forged, NOW)
            assert (first.value.status, first.value.rule, first.value.cached) == (401, 9, False)
            with pytest.raises(PassportRejected) as second:
                await engine.evaluate(forged, NOW + 30)
            assert (second.value.status, second.value.rule, second.value.cached) == (401, 9, True)
            assert len(verifications) == 1
            with pytest.raises(PassportRejected) as third:  # past the negative TTL (checked on read too)
                await engine.evaluate(forged, NOW + 61)
            assert not third.value.cached and len(verifications) == 2

            server.app[STATE]["fail"] = 503
            other = engine_for(server.url, cache)
            good = tokens_for(server.url)
            try:
                for _ in range(2):
                    with pytest.raises(PassportRejected) as down:
                        await other.evaluate(good, NOW)
                    assert (down.value.status, down.value.cached) == (503, False)
            finally:
                await other.aclose()
            server.app[STATE]["fail"] = 0
            third_engine = engine_for(server.url, cache)
            try:
                assert not (await third_engine.evaluate(good, NOW)).cached
            finally:
                await third_engine.aclose()
        finally:
            await engine.aclose()


async def test_inspection_bypasses_the_cache(cache, verifications):
    async with serve(key_server()) as server:
        tokens = tokens_for(server.url)
        engine = engine_for(server.url, cache)
        try:
            await engine.evaluate(tokens, NOW)
            fresh = await engine.evaluate(tokens, NOW, use_cache=False)
        finally:
            await engine.aclose()
    assert not fresh.cached and len(fresh.visas) == 2 and len(verifications) == 6


def test_encoding_round_trip_and_garbage_is_a_miss():
    grants = (Grant("dbgap", "phs000001", "c1", NOW + 100, "https://v", "https://s"),)
    raw = encode_decision(CachedDecision(grants, NOW + 100, NOW + 200, ("https://b", "alice")))
    assert decode(raw, NOW) == CachedDecision(grants, NOW + 100, NOW + 200, ("https://b", "alice"))
    assert decode(encode_decision(CachedDecision(grants, NOW + 100, NOW + 200)), NOW).identity is None
    assert decode(raw, NOW + 100) is None
    assert decode(encode_failure(CachedFailure(401, 13), NOW + 60), NOW) == CachedFailure(401, 13)
    assert decode(encode_failure(CachedFailure(401, 13), NOW + 60), NOW + 60) is None
    doc = orjson.loads(raw)
    for broken in (b"", b"[]", b"{}", orjson.dumps({**doc, "v": FORMAT_VERSION + 1}),
                   orjson.dumps({**doc, "grants": [[1]]}),
                   orjson.dumps({**doc, "valid_until": "soon"}), orjson.dumps({**doc, "grants": "x"}),
                   orjson.dumps({**doc, "kind": "other"}), orjson.dumps({**doc, "identity": ["only-iss"]})):
        assert decode(broken, NOW) is None


async def test_an_unreachable_backend_is_a_miss_not_an_error():
    class Down(MemoryCache):
        async def get(self, key):
            raise ConnectionError("down")

        async def set(self, key, value, *, ttl=None):
            raise ConnectionError("down")

    store = DecisionCache(Down(), trust_hash="t")
    assert await store.get(["p"], NOW) is None
    assert not await store.put(["p"], CachedDecision((), NOW + 7200, NOW + 7200), NOW)
    assert not await store.put_failure(["p"], CachedFailure(401, 9), NOW)
    assert not await store.put_failure(["p"], CachedFailure(503, 16), NOW)


def test_the_key_depends_on_the_passports_not_their_order():
    store = DecisionCache(MemoryCache(), trust_hash="t")
    assert store.key(["a", "b"]) == store.key(["b", "a"]) != store.key(["a"])
    assert store.key(["a"]) != DecisionCache(MemoryCache(), trust_hash="u").key(["a"])


def test_the_key_is_the_documented_derivation_for_any_string():
    """Rule 44: sha256 over the trust hash and the sorted sha256 of each raw Passport, whatever the characters (a
    faster spelling of it must give the very same keys, or replicas of two versions would not share entries)."""
    import hashlib

    def by_definition(tokens: list[str], trust: str) -> str:
        digest = hashlib.sha256(trust.encode())
        for part in sorted(hashlib.sha256(t.encode("utf-8", "surrogatepass")).hexdigest() for t in tokens):
            digest.update(b"\x00" + part.encode())
        return "pp:" + digest.hexdigest()

    for tokens in (["a.b.c"], ["x" * 20_000, "a.b.c"], ["caf\u00e9.b.c"], ["\ud800.b.c"], ["", "a"]):
        for trust in ("t", "u"):
            assert DecisionCache(MemoryCache(), trust_hash=trust).key(tokens) == by_definition(tokens, trust)


async def test_what_the_backend_holds_decides_every_hit(cache):
    """Hits may reuse an entry already decoded in this process, but only while the backend still holds exactly those
    bytes: an entry rewritten (another replica's rejection), forgotten or expired in the backend is never served
    from what this process remembers, and ``valid_until`` / a rejection's end are checked on every hit."""
    store = DecisionCache(cache, trust_hash="t")
    grants = (Grant("dbgap", "phs000001", "c1", NOW + 3000, "https://v", "https://s"),)
    decision = CachedDecision(grants, NOW + 3000, NOW + 3600, ("https://b", "alice"))
    assert await store.put(["p"], decision, NOW)
    first, again = await store.get(["p"], NOW), await store.get(["p"], NOW + 1)
    assert first == again == decision
    assert await store.get(["p"], NOW + 3000) is None  # past valid_until, though the backend still holds it
    # another replica rejects the same Passports: the new bytes win over the decoded decision
    await cache.set(store.key(["p"]), encode_failure(CachedFailure(401, 13), NOW + 60), ttl=60)
    assert await store.get(["p"], NOW + 2) == CachedFailure(401, 13)
    assert await store.get(["p"], NOW + 60) is None  # the rejection's end, on a repeated hit too
    await cache.set(store.key(["p"]), encode_decision(decision), ttl=600)
    assert await store.get(["p"], NOW + 3) == decision
    await cache.delete(store.key(["p"]))  # forgotten by the backend: a miss
    assert await store.get(["p"], NOW + 4) is None
    await cache.set(store.key(["p"]), b"garbage", ttl=600)
    assert await store.get(["p"], NOW + 5) is None
    other = CachedDecision(grants[:0], NOW + 3000, NOW + 3600, ("https://b", "bob"))
    await cache.set(store.key(["p"]), encode_decision(other), ttl=600)
    assert await store.get(["p"], NOW + 6) == other
