"""A small closed-loop HTTP load generator (the same tool for every target, so ratios are fair).

``python bench/load.py URL [URL ...] --concurrency 32 --seconds 5`` prints one JSON line:
requests, errors, requests/s and latency percentiles. Loopback only; bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import time

import aiohttp


async def _worker(session: aiohttp.ClientSession, urls, deadline: float, lat: list[float], errs: list[int]) -> None:
    while (now := time.perf_counter()) < deadline:
        url = next(urls)
        try:
            async with session.get(url) as resp:
                await resp.read()
                if resp.status != 200:
                    errs.append(resp.status)
        except aiohttp.ClientError:
            errs.append(0)
        lat.append(time.perf_counter() - now)


async def run(urls: list[str], concurrency: int, seconds: float, warmup: float = 1.0) -> dict:
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        cycle = itertools.cycle(urls)
        warm_until = time.perf_counter() + warmup
        await asyncio.gather(*[_worker(session, cycle, warm_until, [], []) for _ in range(concurrency)])
        lat: list[float] = []
        errs: list[int] = []
        start = time.perf_counter()
        await asyncio.gather(*[_worker(session, cycle, start + seconds, lat, errs) for _ in range(concurrency)])
        elapsed = time.perf_counter() - start
    lat.sort()
    q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [0.0] * 99
    return {
        "requests": len(lat),
        "errors": len(errs),
        "rps": round(len(lat) / elapsed, 1),
        "p50_ms": round(q[49] * 1000, 2),
        "p99_ms": round(q[98] * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.urls, args.concurrency, args.seconds))))


if __name__ == "__main__":
    main()
