"""Export jobs across gateway replicas sharing a Redis store and cache (a fresh key prefix per test): a job started
on one replica is followed and downloaded from another, cancelled from another (which stops its worker), and
reported failed when its replica shuts down or is killed (a real ``gateway serve`` process, SIGKILLed)."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis.asyncio as aioredis
import yaml
from faults import STATE
from jobs_env import (
    OPEN,
    accessible_total,
    eventually,
    job_in,
    members_behind_gate,
    settings,
    start_export_gateway,
    start_job,
)
from pfb.reader import PFBReader
from servers import Server, free_port

from gateway.export.job import LOST
from gateway.web.keys import JOBS
from gateway.web.routes.export import PATH

pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.filterwarnings("ignore:SelectableGroups dict interface is deprecated"),
    pytest.mark.filterwarnings("ignore:The 'default' argument to fields is deprecated"),
]


@dataclass
class Env:
    members: list[dict[str, Any]]
    proxy: Any

    @property
    def gate(self) -> asyncio.Event:
        return self.proxy.app[STATE]["gate"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env() -> AsyncIterator[Env]:
    async with AsyncExitStack() as stack:
        members, proxy = await members_behind_gate(stack, (11, 12, 13), 30)
        try:
            yield Env(members, proxy)
        finally:
            proxy.app[STATE]["gate"].set()


def shared(redis_url: str, prefix: str) -> dict[str, Any]:
    return {"store": {"url": redis_url, "key_prefix": prefix + "s:"},
            "cache": {"url": redis_url, "key_prefix": prefix + "c:"}}


@asynccontextmanager
async def replicas(env: Env, redis_url: str, prefix: str) -> AsyncIterator[tuple[Server, Server]]:
    async with AsyncExitStack() as stack:
        pair = []
        for _ in range(2):
            server = await start_export_gateway(env.members, **shared(redis_url, prefix))
            stack.push_async_callback(server.stop)
            pair.append(server)
        yield pair[0], pair[1]


@pytest.fixture
def held(env: Env):
    env.gate.clear()
    yield
    env.gate.set()


async def cache_keys(redis_url: str, prefix: str, job_id: str) -> list[bytes]:
    client = aioredis.from_url(redis_url)
    try:
        return [k async for k in client.scan_iter(match=f"{prefix}c:export:{job_id}:*")]
    finally:
        await client.aclose()


async def test_a_job_started_on_one_replica_is_followed_and_downloaded_from_another(env, redis_url,
                                                                                     redis_key_prefix):
    async with replicas(env, redis_url, redis_key_prefix) as (a, b):
        assert a.app[JOBS].files.kind == b.app[JOBS].files.kind == "cache"  # auto: the cache is Redis
        url, doc = await start_job(a, {"index": "subject", "filter": OPEN})
        done = await job_in(b, url, "done")
        r = await b.client.get(done["file"]["url"])
        assert r.status_code == 200 and len(r.content) == done["file"]["size"]
        with PFBReader(io.BytesIO(r.content)) as reader:
            subjects = sum(1 for rec in reader if rec["name"] == "subject")
        assert subjects == await accessible_total(b, "subject", OPEN) > 0
        assert (await a.client.get(url)).json() == done
        assert await cache_keys(redis_url, redis_key_prefix, doc["id"])  # the file is in the shared cache
        assert (await b.client.delete(url)).status_code == 204  # deleted from the other replica, file and all
        assert (await a.client.get(url)).status_code == 404
        assert await cache_keys(redis_url, redis_key_prefix, doc["id"]) == []


async def test_cancelling_on_one_replica_stops_the_worker_on_the_other(env, redis_url, redis_key_prefix, held):
    async with replicas(env, redis_url, redis_key_prefix) as (a, b):
        url, doc = await start_job(a, {"index": "subject", "filter": OPEN})
        await job_in(b, url, "running")
        assert doc["id"] in a.app[JOBS].workers
        r = await b.client.delete(url)
        assert r.status_code == 200 and r.json()["status"] == "cancelled"

        async def stopped() -> bool:
            return not a.app[JOBS].workers

        await eventually(stopped, "replica A's worker to stop")  # at its next heartbeat, its page still held
        assert (await a.client.get(url)).json()["status"] == "cancelled"
        assert await cache_keys(redis_url, redis_key_prefix, doc["id"]) == []


async def test_a_replica_shutting_down_fails_its_running_jobs(env, redis_url, redis_key_prefix, held):
    async with replicas(env, redis_url, redis_key_prefix) as (a, b):
        url, _ = await start_job(a, {"index": "subject", "filter": OPEN})
        await job_in(b, url, "running")
        await a.stop()
        doc = (await b.client.get(url)).json()
        assert doc["status"] == "failed" and doc["error"] == LOST and doc["file"] is None


async def test_a_killed_replica_is_reported_lost_by_another(env, redis_url, redis_key_prefix, held, tmp_path):
    port = free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump(settings(env.members, port=port, **shared(redis_url, redis_key_prefix))))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    with (tmp_path / "a.log").open("w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config)],
                                cwd=tmp_path, env=environ, stdout=subprocess.DEVNULL, stderr=log)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as a:
            async def up() -> bool:
                assert proc.poll() is None, (tmp_path / "a.log").read_text()
                try:
                    return (await a.get("/_status")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, "the gateway process to serve")
            r = await a.post(PATH, json={"index": "subject", "filter": OPEN, "delivery": "job"})
            assert r.status_code == 202, r.text
            url = r.headers["location"]
            async with replicas(env, redis_url, redis_key_prefix) as (b, _):
                await job_in(b, url, "running")
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=10)
                doc = await job_in(b, url, "failed")
                assert doc["error"] == LOST and doc["expires_at"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
