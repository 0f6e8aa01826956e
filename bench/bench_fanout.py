"""Cohort-search fan-out: wall time of ``POST /search/v1/cohort`` across 5 members with staggered latencies,
against the slowest member's own latency (target: at most the slowest + 20 ms).

Each member is a small Guppy stand-in on 127.0.0.1 that sleeps its latency, then answers the gateway's counts
query with fixed counts; the gateway runs with the default settings (registry of the 5 gen3 members, no
in-process commons). Requests are sent one at a time, so the figure is the fan-out's own cost, not queueing.

    python bench/bench_fanout.py [--requests 200] [--latencies 10,20,40,80,160]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from gateway.app import create_app
from gateway.settings.gateway import Settings

FACETS = ("sex", "population", "project_id")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def guppy_answer(seed: int) -> dict[str, Any]:
    def scope(share: float) -> dict[str, Any]:
        total = int(1000 * share) + seed
        body: dict[str, Any] = {"_totalCount": total}
        for facet in FACETS:
            body[facet] = {"asTextHistogram": [{"key": f"{facet}-{k}", "count": total // 4 + (k == 0) * (total % 4)}
                                               for k in range(4)]}
        return {"subject": body}

    return {"data": {"all": scope(1.0), "accessible": scope(1.0)}}


def member_app(latency: float, seed: int) -> web.Application:
    answer = guppy_answer(seed)

    async def graphql(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(latency)
        return web.json_response(answer)

    async def status(request: web.Request) -> web.Response:
        return web.Response(text="Healthy")

    app = web.Application()
    app.router.add_post("/guppy/graphql", graphql)
    app.router.add_get("/index/_status", status)
    return app


async def serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def run(args: argparse.Namespace) -> None:
    latencies = [float(x) / 1000 for x in args.latencies.split(",")]
    runners, members = [], []
    for i, latency in enumerate(latencies):
        port = free_port()
        runners.append(await serve(member_app(latency, i), port))
        members.append({"id": f"m{i}", "name": f"M{i}", "base_url": f"http://127.0.0.1:{port}", "kind": "gen3",
                        "prefixes": [f"dg.FAN{i}"], "auth": {"type": "none"}})
    port = free_port()
    settings = Settings(port=port, store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
                        registry={"members": members}, log={"level": "warning"},
                        aggregate={"harvest": {"enabled": False}})
    runners.append(await serve(await create_app(settings), port))
    body = {"index": "subject", "facets": list(FACETS), "accessibility": "accessible"}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(10):  # warm-up: connections, caches
                (await client.post("/search/v1/cohort", json=body)).raise_for_status()
            walls = []
            for _ in range(args.requests):
                start = time.perf_counter()
                r = await client.post("/search/v1/cohort", json=body)
                walls.append((time.perf_counter() - start) * 1000)
                r.raise_for_status()
                assert all(s["status"] == "ok" for s in r.json()["sources"]), r.json()["sources"]
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
    slowest = max(latencies) * 1000
    walls.sort()
    p50, p95 = statistics.median(walls), walls[int(len(walls) * 0.95) - 1]
    print(f"members: {len(latencies)}, latencies {args.latencies} ms; {args.requests} sequential searches")
    print(f"wall p50 {p50:.1f} ms, p95 {p95:.1f} ms vs slowest member {slowest:.0f} ms: "
          f"overhead p50 +{p50 - slowest:.1f} ms, p95 +{p95 - slowest:.1f} ms (target <= +20 ms); "
          f"ratio p50 {p50 / slowest:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--latencies", default="10,20,40,80,160", help="member latencies in ms, comma-separated")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
