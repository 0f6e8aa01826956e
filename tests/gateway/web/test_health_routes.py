"""Liveness, readiness and member health in ``/_status``, against real faults: a store (Redis) the test kills and
restarts, and a member that is not there at all."""

from __future__ import annotations

import time

import pytest
from faults import plain_drs, serve
from servers import free_port, running, start_gateway

from gateway.web.keys import REGISTRY, RESOLVER

BASE = {"refcommons": {"enabled": False}, "health": {"interval": 3600.0, "failure_threshold": 1, "timeout": 1.0},
        "aggregate": {"harvest": {"enabled": False}}}


def on_redis(url: str, **more):
    return start_gateway(store={"url": url, "key_prefix": f"t15:{time.time_ns()}:", "timeout": 0.5},
                         **BASE, **more)


async def test_live_and_ready_answer_200_when_all_is_well(own_redis):
    async with running(on_redis(own_redis.url)) as gateway:
        live, ready = await gateway.client.get("/_live"), await gateway.client.get("/_ready")
    assert live.status_code == 200 and live.json()["status"] == "alive"
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready" and ready.json()["reasons"] == []
    assert ready.json()["checks"] == {"store": "ok", "registry": "loaded"}


async def test_ready_answers_503_while_the_store_is_dead_and_200_once_it_is_back(own_redis):
    async with running(on_redis(own_redis.url)) as gateway:
        assert (await gateway.client.get("/_ready")).status_code == 200  # the registry is loaded
        own_redis.kill()
        ready = await gateway.client.get("/_ready")
        assert ready.status_code == 503, ready.text
        assert 1 <= int(ready.headers["Retry-After"]) <= 60
        assert ready.json()["reasons"] == ["the store does not answer"]  # loaded once: the view is kept
        assert "127.0.0.1" not in ready.text and str(own_redis.port) not in ready.text
        assert (await gateway.client.get("/_live")).status_code == 200  # alive: do not restart it for its store
        status = await gateway.client.get("/_status")
        assert status.status_code == 200 and status.json()["status"] == "degraded"
        assert status.json()["checks"]["store"] == "down" and status.json()["members"] is None
        own_redis.restart()
        assert (await gateway.client.get("/_ready")).status_code == 200


async def test_a_replica_that_never_read_the_registry_is_not_ready(own_redis):
    async with running(on_redis(own_redis.url)) as gateway:
        assert not gateway.app[RESOLVER].directory.loaded  # nothing has asked for a route yet
        own_redis.kill()
        ready = await gateway.client.get("/_ready")
        assert ready.status_code == 503, ready.text
        assert ready.json()["reasons"] == ["the store does not answer", "the registry was never loaded"]
        assert ready.json()["checks"] == {"store": "down", "registry": "not loaded"}
        own_redis.restart()
        ready = await gateway.client.get("/_ready")
        assert ready.status_code == 200 and ready.json()["checks"]["registry"] == "loaded", ready.text


async def test_status_shows_a_member_down_and_says_degraded(tmp_path):
    members = []
    async with serve(plain_drs({}, delay=0.0)) as alive:
        members = [
            {"id": "up", "name": "up", "base_url": alive.url, "kind": "drs", "prefixes": ["dg.UP"]},
            {"id": "gone", "name": "gone", "base_url": f"http://127.0.0.1:{free_port()}", "kind": "drs",
             "prefixes": ["dg.GONE"]},
        ]
        async with running(start_gateway(store={"url": f"sqlite:///{tmp_path / 'g.sqlite3'}"},
                                         registry={"members": members}, **BASE)) as gateway:
            before = (await gateway.client.get("/_status")).json()
            drs = ["records", "bulk", "signed_urls"]  # a DRS server's, by its endpoints (never checked yet)
            assert before["status"] == "ok" and before["members"] == {
                "active": 2, "healthy": 0, "unhealthy": 0, "unknown": 2, "down": [], "misconfigured": [],
                "offers": {"gone": drs, "up": drs}}
            await gateway.app[REGISTRY].health.run_once(slot=1)  # one round of the prober, for real
            status = await gateway.client.get("/_status")
            ready = await gateway.client.get("/_ready")
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["status"] == "degraded" and body["checks"] == {"store": "ok", "cache": "ok", "registry": "ok"}
    assert body["members"] == {"active": 2, "healthy": 1, "unhealthy": 1, "unknown": 0, "down": ["gone"],
                               "misconfigured": [],  # an unreachable member is down, not misconfigured
                               "offers": {"gone": drs, "up": ["records", "signed_urls"]}}  # re-checked: no bulk
    assert ready.status_code == 200 and ready.json()["members"]["down"] == ["gone"]  # summarised, not a reason


@pytest.mark.parametrize("path", ["/_live", "/_ready", "/_status"])
async def test_the_health_routes_are_in_the_openapi_document(gateway, path):
    doc = (await gateway.client.get("/openapi.json")).json()
    assert "get" in doc["paths"][path]
