"""Open studies at ``/mds/aggregate``: what anyone may read at a member (its Arborist ``GET /authz/mapping`` asked
without a token) is every caller's, so an open study's small counts are shown even to anonymous callers, while a
controlled study's stay hidden (tier ``regular``, limit 50). Members: a standalone reference commons over HTTP (the
Gen3 adapter) and the gateway's in-process one (the reference adapter), both with few subjects so that the open
project's counts are small. Expected values come from the commons themselves (their MDS and auth mapping)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from servers import Server, free_port, start_commons, start_gateway

from gateway.access.open_readable import FAILED_TTL, OPEN_TTL, OpenAuthz
from gateway.access.readable import from_authz_map
from gateway.cache import open_cache
from gateway.cache.redis import RedisCache
from gateway.discovery.mapping.reference import REFCOMMONS_FIELD_MAPPINGS
from gateway.web.keys import COHORT, HARVESTER
from gateway.web.routes.discovery import COUNTED_FIELDS
from refcommons.authz.default_policy import ADMIN_USER

pytestmark = pytest.mark.asyncio(loop_scope="module")
AGG = "/mds/aggregate"
LIMIT = 50
SUBJECTS = 30
RAW = {"_subjects_count": "subjects_count", "_samples_count": "samples_count", "_files_count": "files_count"}


@dataclass
class Env:
    gateway: Server
    commons: Server

    def client_of(self, name: str) -> tuple[httpx.AsyncClient, str]:
        """How to reach a member's own routes: the standalone commons, or the in-process one's mount."""
        return (self.commons.client, "") if name == "op" else (self.gateway.client, "/refcommons")

    async def mapping(self, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
        client, base = self.client_of(name)
        return await client.get(f"{base}/authz/mapping", headers=headers)

    async def studies(self, name: str) -> dict[str, dict[str, Any]]:
        client, base = self.client_of(name)
        r = await client.get(f"{base}/mds/metadata", params={
            "data": "true", "_guid_type": "discovery_metadata", "limit": "1000"})
        assert r.status_code == 200, r.text
        return {guid: rec["gen3_discovery"] for guid, rec in r.json().items()}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env() -> AsyncIterator[Env]:
    commons = await start_commons("dg.SOP1", 61, SUBJECTS)
    try:
        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"subjects": SUBJECTS, "data_dir": None},
            upstream={"retries": 0}, health={"interval": 3600.0},
            registry={"members": [
                {"id": "op", "name": "op", "base_url": commons.base_url, "kind": "gen3", "prefixes": ["dg.SOP1"],
                 "auth": {"type": "passthrough"}},
                {"id": "down", "name": "down", "base_url": f"http://127.0.0.1:{free_port()}", "kind": "gen3",
                 "prefixes": ["dg.SDWN"], "auth": {"type": "passthrough"}},
            ]},
            aggregate={"deadline": 8.0, "harvest": {"interval": 3600.0, "timeout": 5.0},
                       "tier": {"level": "regular", "limit": LIMIT}, "mappings": {"members": {
                           name: {"field_mappings": {**REFCOMMONS_FIELD_MAPPINGS, "commons": name}}
                           for name in ("op", "refcommons")}}},
        )
        try:
            await gateway.app[HARVESTER].started()
            yield Env(gateway, commons)
        finally:
            await gateway.stop()
    finally:
        await commons.stop()


async def test_the_commons_answers_arborists_anonymous_mapping(env):
    for name in ("op", "refcommons"):
        r = await env.mapping(name)
        assert r.status_code == 200, r.text
        anonymous = r.json()
        assert isinstance(anonymous, dict) and anonymous
        for path, grants in anonymous.items():
            assert path.startswith("/") and grants
            assert all(set(g) == {"service", "method"} for g in grants)
        studies = (await env.studies(name)).values()
        readable = from_authz_map(anonymous)
        assert all(readable.covers_all(s["authz"]) for s in studies if s["access"] == "open")
        assert not any(readable.covers_all(s["authz"]) for s in studies if s["access"] == "controlled")
        # with a token: the user's mapping, which holds everything anyone may do and more
        if name == "op":
            assert env.commons.commons is not None
            token = env.commons.commons.fence.tokens.issue_access_token(ADMIN_USER)
            admin = (await env.mapping(name, {"Authorization": f"Bearer {token}"})).json()
            assert anonymous.keys() < admin.keys()
        bad = await env.mapping(name, {"Authorization": "Bearer not-a-token"})
        assert bad.status_code == 401 and set(bad.json()) == {"error", "status_code"}


def small(study: dict[str, Any]) -> list[str]:
    return [f for f in COUNTED_FIELDS if 0 < study[RAW[f]] < LIMIT]


async def test_an_anonymous_caller_sees_open_small_counts_and_not_controlled_ones(env):
    r = await env.gateway.client.get(f"{AGG}/metadata", params={"limit": 2000, "flatten": "true"})
    assert r.status_code == 200, r.text
    got = {(doc["gen3_discovery"]["commons_name"], guid): doc["gen3_discovery"]
           for item in r.json() for guid, doc in item.items()}
    seen_open = seen_controlled = 0
    for name in ("op", "refcommons"):
        readable = from_authz_map((await env.mapping(name)).json())
        for guid, real in (await env.studies(name)).items():
            study = got[(name, guid)]
            if readable.covers_all(real["authz"]):
                for field in COUNTED_FIELDS:
                    assert study[field] == real[RAW[field]]
                assert not study.get("_hidden_counts")
                seen_open += len(small(real))
            else:
                for field in small(real):
                    assert study[field] is None and field in study["_hidden_counts"]
                    seen_controlled += 1
    assert seen_open and seen_controlled  # both kinds of small counts were there to check


async def test_the_open_mapping_is_cached_and_a_failed_lookup_briefly(env, redis_url, redis_key_prefix):
    members = {m.id: m for m in await env.gateway.app[COHORT].members()}
    adapter_of = env.gateway.app[COHORT].directory.adapter
    one = await open_cache(redis_url, key_prefix=redis_key_prefix)
    two = await open_cache(redis_url, key_prefix=redis_key_prefix)
    try:
        assert isinstance(one, RedisCache)
        first = await OpenAuthz(one, adapter_of).readable(members["op"])
        assert first == from_authz_map((await env.mapping("op")).json()) and first
        # another replica, whose member lookups would all fail (the adapter of a member nothing answers for):
        # one call per member per TTL across replicas
        assert await OpenAuthz(two, lambda m: adapter_of(members["down"])).readable(members["op"]) == first
        assert 0 < await one.client.ttl(redis_key_prefix + OpenAuthz.key(members["op"])) <= OPEN_TTL
        # a member that does not answer: nothing more readable, no error, remembered briefly
        assert not await OpenAuthz(one, adapter_of).readable(members["down"])
        assert 0 < await one.client.ttl(redis_key_prefix + OpenAuthz.key(members["down"])) <= FAILED_TTL
    finally:
        await one.close()
        await two.close()


async def test_the_open_mapping_is_reused_no_longer_than_the_authz_max_age(env, redis_url, redis_key_prefix):
    """Issue 14: what the gateway decides search access on is no older than ``drs.authz_max_age``."""
    members = {m.id: m for m in await env.gateway.app[COHORT].members()}
    adapter_of = env.gateway.app[COHORT].directory.adapter
    cache = await open_cache(redis_url, key_prefix=redis_key_prefix)
    try:
        assert isinstance(cache, RedisCache)
        assert await OpenAuthz(cache, adapter_of, max_age=2).readable(members["op"])
        assert 0 < await cache.client.pttl(redis_key_prefix + OpenAuthz.key(members["op"])) <= 2000
        await cache.delete(OpenAuthz.key(members["op"]))
        assert await OpenAuthz(cache, adapter_of, max_age=0).readable(members["op"])
        assert await cache.get(OpenAuthz.key(members["op"])) is None  # 0: never reused
    finally:
        await cache.close()
