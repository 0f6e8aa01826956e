"""The gateway-token key ring: kept in the shared store (SQLite and real Redis), rotated by one replica, published
with the keys replaced recently, and usable to verify what it signed."""

from __future__ import annotations

import asyncio

import pytest

from gateway.passports.jose import jws
from gateway.passports.tokens import gateway_token
from gateway.passports.tokens.token_keys import NAMESPACE, RING, TokenKeyRing
from gateway.passports.trust.keys import parse_jwk
from gateway.store import open_store

DAY = 86_400


class Clock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture(params=["sqlite", "redis"])
async def store(request, tmp_path):
    if request.param == "sqlite":
        s = await open_store(f"sqlite:///{tmp_path / 'store.db'}")
    else:
        prefix = request.getfixturevalue("redis_key_prefix")
        s = await open_store(request.getfixturevalue("redis_url"), key_prefix=prefix)
    yield s
    await s.close()


def kids(jwks: dict) -> list[str]:
    return [k["kid"] for k in jwks["keys"]]


async def test_first_use_creates_a_key_that_verifies_what_it_signs(store):
    ring = TokenKeyRing(store, rotate_after=DAY, clock=Clock())
    key = await ring.signing_key()
    payload = gateway_token.claims(issuer="https://gw", audience="https://m", object_id="dg.X/1", resources=["/a"],
                                   identity=("https://b", "s"), now=1_800_000_000, ttl=60, access_until=1_800_000_100)
    parsed = gateway_token.parse(gateway_token.mint(key, payload))
    published = (await ring.jwks())["keys"]
    assert [k["kid"] for k in published] == [key.kid] == [parsed.header["kid"]]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & published[0].keys()
    jws.verify(parsed, parse_jwk(published[0]).key)
    assert (await store.get(NAMESPACE, RING)) is not None


async def test_the_key_is_kept_until_due_then_rotated_and_the_old_one_stays_published_for_a_while(store):
    clock = Clock()
    ring = TokenKeyRing(store, rotate_after=DAY, clock=clock)
    first = await ring.signing_key()
    clock.t += DAY - 1
    assert (await ring.signing_key()).kid == first.kid
    clock.t += 1
    second = await ring.signing_key()
    assert second.kid != first.kid
    assert set(kids(await ring.jwks())) == {first.kid, second.kid}
    clock.t += ring.keep_published - 1
    assert set(kids(await ring.jwks())) == {first.kid, second.kid}
    clock.t += 1
    assert kids(await ring.jwks()) == [second.kid]


async def test_replicas_share_one_key_through_the_store(store):
    clock = Clock()
    a, b = TokenKeyRing(store, DAY, clock=clock), TokenKeyRing(store, DAY, clock=clock)
    assert (await a.signing_key()).kid == (await b.signing_key()).kid
    clock.t += DAY
    rotated = await a.signing_key()
    # b still holds its copy for up to RELOAD_SECONDS; the published set covers both meanwhile
    assert rotated.kid in kids(await b.jwks())
    clock.t += 31
    assert (await b.signing_key()).kid == rotated.kid


async def test_concurrent_rotation_by_two_replicas_ends_with_one_current_key(store):
    clock = Clock()
    a, b = TokenKeyRing(store, DAY, clock=clock), TokenKeyRing(store, DAY, clock=clock)
    await a.signing_key()
    await b.signing_key()
    clock.t += DAY
    ka, kb = await asyncio.gather(a.signing_key(), b.signing_key())
    assert ka.kid == kb.kid
    assert len(kids(await a.jwks())) == 2
