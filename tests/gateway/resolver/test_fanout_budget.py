"""A client that makes every request fan out to every member (issue 13: amplification): distinct bare UUIDs, one
after the other. Past ``resolver.fanout_budget`` requests a minute the gateway answers 429 with ``Retry-After``
before asking any member, on every surface that resolves ids; the count is shared by replicas through the cache
(Redis), and what does not fan out (a prefixed id, an answer already cached) is not counted."""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from faults import Server as FakeServer
from faults import plain_drs, serve
from servers import Server, start_gateway

DRS = "/ga4gh/drs/v1"
KNOWN = "dg.PLN1/known"


def bare() -> str:
    return str(uuidlib.uuid4())


def member_calls(member: FakeServer) -> int:
    return member.count(f"{DRS}/objects/", "GET")


@asynccontextmanager
async def members_and_gateways(budget: int, replicas: int = 1, **shared: Any) -> AsyncIterator[
        tuple[FakeServer, list[Server]]]:
    doc = {"id": KNOWN, "size": 1, "created_time": "2024-01-01T00:00:00Z",
           "checksums": [{"type": "md5", "checksum": "0" * 32}], "self_uri": "drs://x/known"}
    async with serve(plain_drs({KNOWN: doc}, delay=0.0)) as member:
        gateways = []
        try:
            for _ in range(replicas):
                gateways.append(await start_gateway(
                    store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
                    registry={"members": [{"id": "plain", "name": "Plain", "base_url": member.url, "kind": "drs",
                                           "prefixes": ["dg.PLN1"]}]},
                    resolver={"fanout_budget": budget}, health={"interval": 3600.0},
                    aggregate={"harvest": {"enabled": False}}, **shared))
            yield member, gateways
        finally:
            for gateway in gateways:
                await gateway.stop()


def assert_refused(r: httpx.Response, shape: tuple[str, str]) -> None:
    assert r.status_code == 429, (r.status_code, r.text)
    assert 1 <= int(r.headers["Retry-After"]) <= 61, r.headers
    message, status = shape
    assert r.json()[status] == 429 and "fan" in r.json()[message], r.json()


async def test_past_the_budget_a_client_gets_429_and_the_members_no_more_calls():
    async with members_and_gateways(budget=5) as (member, [gateway]):
        client = gateway.client
        asked = [bare() for _ in range(5)]
        for u in asked:
            r = await client.get("/resolver/v1/resolve", params={"id": u})
            assert r.status_code == 404, r.text
        assert member_calls(member) == 5
        assert_refused(await client.get("/resolver/v1/resolve", params={"id": bare()}), ("error", "status_code"))
        assert_refused(await client.post("/resolver/v1/resolve", json={"ids": [bare(), KNOWN]}),
                       ("error", "status_code"))
        assert_refused(await client.get(f"{DRS}/objects/{bare()}"), ("msg", "status_code"))
        assert_refused(await client.get(f"{DRS}/objects/{bare()}/access/s3"), ("msg", "status_code"))
        assert_refused(await client.post(f"{DRS}/objects", json={"bulk_object_ids": [bare()]}),
                       ("msg", "status_code"))
        assert_refused(await client.get(f"/index/index/{bare()}"), ("error", "status_code"))
        assert_refused(await client.get(f"/index/{bare()}"), ("error", "status_code"))
        assert_refused(await client.post("/api/v4/drs/resolve", json={"url": f"drs://{gateway.hostname}/{bare()}"}),
                       ("message", "statusCode"))
        assert member_calls(member) == 5, "no member was asked past the budget"
        # what does not fan out is not refused: a prefixed id, a bare id whose answer is cached
        assert (await client.get("/resolver/v1/resolve", params={"id": KNOWN})).status_code == 200
        assert (await client.get("/resolver/v1/resolve", params={"id": asked[0]})).status_code == 404
        assert member_calls(member) == 6


async def test_replicas_share_one_budget_through_redis(redis_url, redis_key_prefix):
    cache = {"url": redis_url, "key_prefix": redis_key_prefix}
    async with members_and_gateways(budget=4, replicas=2, cache=cache) as (member, [one, two]):
        for gateway in (one, two, one, two):
            assert (await gateway.client.get("/resolver/v1/resolve", params={"id": bare()})).status_code == 404
        for gateway in (one, two):
            assert_refused(await gateway.client.get("/resolver/v1/resolve", params={"id": bare()}),
                           ("error", "status_code"))
        assert member_calls(member) == 4


async def test_indexd_listing_stats_and_version_spend_the_same_budget():
    """``GET /index/index``, ``/index/_stats`` and ``/index/_version`` ask every member that can list: each request
    is one fan-out, counted with the bare-UUID resolutions of the same client."""
    gateway = await start_gateway(store={"url": "sqlite:///:memory:"}, refcommons={"subjects": 5},
                                  resolver={"fanout_budget": 4}, health={"interval": 3600.0},
                                  aggregate={"harvest": {"enabled": False}})
    try:
        client = gateway.client
        assert (await client.get("/index/index", params={"limit": 2})).status_code == 200
        assert (await client.get("/index/_stats")).status_code == 200
        assert (await client.get("/index/_version")).status_code == 200
        assert (await client.get(f"/ga4gh/drs/v1/objects/{bare()}")).status_code == 404  # the 4th fan-out
        for path in ("/index/index", "/index/_stats", "/index/_version"):
            r = await client.get(path)
            assert r.status_code == 429, (path, r.text)
            assert 1 <= int(r.headers["Retry-After"]) <= 61 and "fan" in r.json()["error"], r.json()
        assert (await client.get("/index/_status")).text == "Healthy"  # asks no member: never counted
    finally:
        await gateway.stop()
