"""Memory per worker, idle (issue 17: at most 80 MB RSS), then after huge member bodies.

**Idle.** ``gateway serve --workers 2`` (one DRS member, no in-process commons, SQLite, in-process cache, default
logs and metrics): each worker's RSS (and PSS, its share of pages shared with the other processes) once it listens,
and again after a warm-up of ``--warmup`` requests over the status, service-info, metrics and DRS routes; the
largest worker's figure against the 80 MB target. ``--idle-only`` stops there.

**Growth.** Memory after huge member bodies: the gateway's RSS growth while a member answers 50 MB bodies for its ids
(target: growth at most 50 MB, issue 14).

A DRS member on 127.0.0.1 answers every request (objects, service-info, bulk) with a 50 MB JSON-looking body,
streamed in 64 KiB chunks without a ``Content-Length`` (so the gateway cannot refuse it before reading). The gateway
runs in a subprocess (``python -m gateway serve``, that member only, no in-process commons, no resolution cache);
its RSS is read from ``/proc/<pid>/status`` after a warm-up request, then after the load: ``--sequential`` GETs of
``/ga4gh/drs/v1/objects/dg.HUGE/<new id>`` one at a time, then ``--bursts`` bursts of ``--concurrency`` such GETs
at once, then ``--settle`` seconds of rest. Every answer should be a 502 naming the member (or a 503 when the
in-flight byte budget is spent).

    python bench/bench_memory.py [--sequential 60] [--bursts 2] [--concurrency 20] [--body-mb 50]
                                 [--upstream-json '{"max_record_bytes": 16777216}']

``--upstream-json`` overlays the ``upstream`` settings section (e.g. the old 16 MiB cap, to compare).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
TARGET_MB = 50.0
IDLE_TARGET_MB = 80.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def huge_member(size: int) -> web.Application:
    chunk = b" " * (64 * 1024)

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        sent = 0
        try:
            await response.prepare(request)  # the gateway may already have given up on an earlier answer's connection
            while sent < size:
                await response.write(chunk[: size - sent])
                sent += min(len(chunk), size - sent)
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the gateway stopped reading: what this member is for
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def idle(member_port: int, warmup: int) -> None:
    """Start ``gateway serve --workers 2``, print each worker's RSS/PSS after start and after ``warmup`` requests."""
    port = free_port()
    config = {
        "host": "127.0.0.1", "port": port, "refcommons": {"enabled": False},
        "registry": {"members": [{"id": "m", "name": "m", "kind": "drs", "prefixes": ["dg.IDLE"],
                                  "base_url": f"http://127.0.0.1:{member_port}"}]},
    }
    with tempfile.TemporaryDirectory() as tmp:
        config["store"] = {"url": f"sqlite:///{tmp}/gw.sqlite3"}
        path = Path(tmp) / "gateway.yaml"
        path.write_text(json.dumps(config))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--workers", "2", "--config", str(path)],
                                env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(timeout=30.0) as client:
                await wait_ready(client, base, proc)
                workers: list[int] = []
                for _ in range(100):  # every worker listening
                    workers = children(proc.pid)
                    if len(workers) == 2:
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(1.0)
                started = {pid: (rss_mb(pid), pss_mb(pid)) for pid in workers}
                paths = ["/_status", "/service-info", "/ga4gh/drs/v1/service-info", "/metrics",
                         "/ga4gh/drs/v1/objects/dg.NONE/x", "/index/_dist"]
                for i in range(warmup):  # new connections: the kernel spreads them over both workers
                    async with httpx.AsyncClient(timeout=30.0) as fresh:
                        await fresh.get(base + paths[i % len(paths)])
                await asyncio.sleep(1.0)
                warm = {pid: (rss_mb(pid), pss_mb(pid)) for pid in workers}
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    for pid in workers:
        print(f"idle worker {pid}: RSS {started[pid][0]:.1f} MB after start, {warm[pid][0]:.1f} MB after {warmup} "
              f"requests (PSS {started[pid][1]:.1f} / {warm[pid][1]:.1f} MB)")
    top = max(w[0] for w in warm.values())
    print(f"idle RSS per worker (largest, warmed): {top:.1f} MB | target <= {IDLE_TARGET_MB:.0f} MB | "
          f"ratio {top / IDLE_TARGET_MB:.2f} ({'met' if top <= IDLE_TARGET_MB else 'NOT met'})")


async def wait_ready(client: httpx.AsyncClient, base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited ({proc.returncode})")
        try:
            if (await client.get(f"{base}/_status", timeout=2.0)).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the gateway did not start")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequential", type=int, default=60)
    parser.add_argument("--bursts", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--body-mb", type=int, default=50)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--upstream-json", default="{}", help="overlay of the upstream settings section")
    parser.add_argument("--warmup", type=int, default=200, help="requests before the idle figure")
    parser.add_argument("--idle-only", action="store_true", help="measure the idle worker only")
    args = parser.parse_args()

    member_port, gateway_port = free_port(), free_port()
    runner = web.AppRunner(huge_member(args.body_mb * 1024 * 1024), access_log=None, shutdown_timeout=0.2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", member_port).start()
    try:
        await idle(member_port, args.warmup)
    except BaseException:
        await runner.cleanup()
        raise
    if args.idle_only:
        await runner.cleanup()
        return
    config = {
        "host": "127.0.0.1", "port": gateway_port,
        "store": {"url": "sqlite:///:memory:"}, "refcommons": {"enabled": False},
        "log": {"level": "error", "access": False},
        "resolver": {"cache": False, "fanout_budget": 0},
        "upstream": {"retries": 0, **json.loads(args.upstream_json)},
        "registry": {"members": [{"id": "huge", "name": "huge", "kind": "drs", "prefixes": ["dg.HUGE"],
                                  "base_url": f"http://127.0.0.1:{member_port}"}]},
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gateway.yaml"
        path.write_text(json.dumps(config))  # JSON is YAML
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(path)], env=env,
                                cwd=tmp, stdout=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{gateway_port}"
        statuses: Counter[int] = Counter()
        try:
            async with httpx.AsyncClient(timeout=120.0, limits=httpx.Limits(max_connections=200)) as client:
                await wait_ready(client, base, proc)

                async def one() -> None:
                    response = await client.get(f"{base}/ga4gh/drs/v1/objects/dg.HUGE/{uuid.uuid4()}")
                    statuses[response.status_code] += 1

                await one()  # warm-up: imports, pools, the first code paths
                await asyncio.sleep(args.settle)
                before = rss_mb(proc.pid)
                start = time.perf_counter()
                for _ in range(args.sequential):
                    await one()
                for _ in range(args.bursts):
                    await asyncio.gather(*(one() for _ in range(args.concurrency)))
                took = time.perf_counter() - start
                await asyncio.sleep(args.settle)
                after = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            await runner.cleanup()
    growth = after - before
    print(f"upstream overlay: {args.upstream_json}")
    print(f"requests: 1 warm-up + {args.sequential} sequential + {args.bursts}x{args.concurrency} concurrent "
          f"in {took:.1f} s; statuses {dict(sorted(statuses.items()))}")
    print(f"gateway RSS: {before:.0f} MB before, {after:.0f} MB after: growth {growth:.0f} MB "
          f"({growth / TARGET_MB:.2f} of the {TARGET_MB:.0f} MB target)")


if __name__ == "__main__":
    asyncio.run(main())
