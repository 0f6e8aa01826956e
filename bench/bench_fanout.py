"""Fan-out: wall time of a request every member must answer, across 5 members with staggered latencies, against the
slowest member's own latency (target: at most the slowest + 20 ms).

1. ``cohort``: ``POST /search/v1/cohort``. Each member is a small Guppy stand-in on 127.0.0.1 that sleeps its
   latency, then answers the gateway's counts query with fixed counts.
2. ``resolve``: ``GET /resolver/v1/resolve?id=<bare UUID>``, a new UUID each time (uncached), held by the FASTEST
   member only: the gateway waits for every member's answer (so that no member wins by answering first, see
   gateway/resolver/holders.py), so the figure is bounded by the slowest member, not the holder. Each member's
   indexd stand-in sleeps its latency, then answers its own records (under its own prefix) and 404 for the rest.

The gateway runs with the default settings (registry of the 5 gen3 members, no in-process commons), but no
resolution cache and no fan-out budget. Requests are sent one at a time, so the figure is the fan-out's own cost,
not queueing.

    python bench/bench_fanout.py [--requests 200] [--latencies 10,20,40,80,160] [--what cohort,resolve]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import time
import uuid
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


def member_app(latency: float, seed: int, held: set[str]) -> web.Application:
    """A member that answers after ``latency`` seconds: Guppy counts, and indexd records for the UUIDs in ``held``
    (``dg.FAN<seed>/<uuid>``; 404 for any other)."""
    answer = guppy_answer(seed)

    async def graphql(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(latency)
        return web.json_response(answer)

    async def record(request: web.Request) -> web.Response:
        asked = request.match_info["did"]
        await asyncio.sleep(latency)
        if asked not in held:
            return web.json_response({"error": "no record found"}, status=404)
        did = f"dg.FAN{seed}/{asked}"
        return web.json_response({"did": did, "size": 1, "hashes": {"md5": "0" * 32}, "urls": [f"s3://b/{did}"],
                                  "file_name": "f", "authz": ["/open"], "form": "object"})

    async def status(request: web.Request) -> web.Response:
        return web.Response(text="Healthy")

    # what the prober's capability re-check reads (every health round): Guppy's status and indexd's listing; a
    # member without them is, rightly, reported as not offering cohort search or records
    async def guppy_status(request: web.Request) -> web.Response:
        return web.json_response({"statusCode": 200, "warnings": None, "indices": {"subject": {"aliases": {}}}})

    async def listing(request: web.Request) -> web.Response:
        return web.json_response({"records": []})

    app = web.Application()
    app.router.add_post("/guppy/graphql", graphql)
    app.router.add_get("/guppy/_status", guppy_status)
    app.router.add_get("/index/_status", status)
    app.router.add_get("/index/index", listing)
    app.router.add_get("/index/index/{did}", record)
    return app


async def serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def run(args: argparse.Namespace) -> None:
    latencies = [float(x) / 1000 for x in args.latencies.split(",")]
    fastest = latencies.index(min(latencies))
    held = {str(uuid.uuid4()) for _ in range(args.requests + 10)}
    runners, members = [], []
    for i, latency in enumerate(latencies):
        port = free_port()
        runners.append(await serve(member_app(latency, i, held if i == fastest else set()), port))
        members.append({"id": f"m{i}", "name": f"M{i}", "base_url": f"http://127.0.0.1:{port}", "kind": "gen3",
                        "prefixes": [f"dg.FAN{i}"], "auth": {"type": "none"}})
    port = free_port()
    settings = Settings(port=port, store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
                        registry={"members": members}, log={"level": "warning"},
                        aggregate={"harvest": {"enabled": False}}, resolver={"cache": False, "fanout_budget": 0})
    runners.append(await serve(await create_app(settings), port))
    body = {"index": "subject", "facets": list(FACETS), "accessibility": "accessible"}
    ids = iter(held)

    async def cohort(client: httpx.AsyncClient) -> None:
        r = await client.post("/search/v1/cohort", json=body)
        r.raise_for_status()
        assert all(s["status"] == "ok" for s in r.json()["sources"]), r.json()["sources"]

    async def resolve(client: httpx.AsyncClient) -> None:
        r = await client.get("/resolver/v1/resolve", params={"id": next(ids)})
        r.raise_for_status()
        assert r.json()["member"]["id"] == f"m{fastest}" and r.json()["established"], r.json()

    whats = {"cohort": (cohort, "searches"), "resolve": (resolve, "bare-UUID resolutions (held by the fastest)")}
    print(f"members: {len(latencies)}, latencies {args.latencies} ms")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for what in args.what.split(","):
                call, label = whats[what]
                for _ in range(5):  # warm-up: connections, caches
                    await call(client)
                walls = []
                for _ in range(args.requests):
                    start = time.perf_counter()
                    await call(client)
                    walls.append((time.perf_counter() - start) * 1000)
                report(f"{what}: {args.requests} sequential {label}", walls, max(latencies) * 1000)
    finally:
        for runner in reversed(runners):
            await runner.cleanup()


def report(title: str, walls: list[float], slowest: float) -> None:
    walls.sort()
    p50, p95 = statistics.median(walls), walls[int(len(walls) * 0.95) - 1]
    print(title)
    print(f"  wall p50 {p50:.1f} ms, p95 {p95:.1f} ms vs slowest member {slowest:.0f} ms: "
          f"overhead p50 +{p50 - slowest:.1f} ms, p95 +{p95 - slowest:.1f} ms (target <= +20 ms); "
          f"ratio p50 {p50 / slowest:.2f}x, p95 {p95 / slowest:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--latencies", default="10,20,40,80,160", help="member latencies in ms, comma-separated")
    parser.add_argument("--what", default="cohort,resolve", help="cohort, resolve, or both (comma-separated)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
