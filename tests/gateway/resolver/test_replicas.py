"""Two gateway replicas behind one (imaginary) load balancer share everything through Redis: a member
joined and approved on one resolves on the other, and a suspension on one retires the other's cache."""

from __future__ import annotations

import asyncio

from servers import start_commons, start_gateway
from test_ecosystem import ADMIN, AUTH


async def test_replicas_share_registry_and_caches_through_redis(tmp_path, redis_url, redis_key_prefix):
    shared = {
        "store": {"url": redis_url, "key_prefix": redis_key_prefix + "s:"},
        "cache": {"url": redis_url, "key_prefix": redis_key_prefix + "c:"},
        "refcommons": {"enabled": False}, "admin_token": ADMIN,
    }
    commons = await start_commons("dg.REPL", seed=4)
    one = await start_gateway(**shared)
    two = await start_gateway(**shared)
    try:
        r = await one.client.post("/registry/v1/commons", json={
            "name": "Replicated", "base_url": commons.base_url, "kind": "gen3", "prefixes": ["dg.REPL"]})
        assert r.status_code == 201, r.text
        member_id = r.json()["id"]
        assert (await one.client.post(f"/registry/v1/commons/{member_id}/approve", headers=AUTH)).status_code == 200
        guid = commons.commons.dataset.files[0].guid
        await asyncio.sleep(1.1)  # replicas recheck the registry version within a second
        r = await two.client.get("/resolver/v1/resolve", params={"id": guid})
        assert r.status_code == 200 and r.json()["member"]["id"] == member_id and not r.json()["cached"]
        r = await one.client.get("/resolver/v1/resolve", params={"id": guid})
        assert r.status_code == 200 and r.json()["cached"], "one replica's answer is the other's cache hit"
        assert (await two.client.post(f"/registry/v1/commons/{member_id}/suspend", headers=AUTH)).status_code == 200
        await asyncio.sleep(1.1)
        r = await one.client.get("/resolver/v1/resolve", params={"id": guid})
        assert r.status_code == 404, "the suspension on replica two retired replica one's cached answer"
    finally:
        await one.stop()
        await two.stop()
        await commons.stop()
