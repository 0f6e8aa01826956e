"""DRS federation figures, each as a ratio against a baseline measured in the same run.

1. Cached ``GET /ga4gh/drs/v1/objects/<id>`` through the gateway (default settings: access log on, written
   to /dev/null) vs a bare aiohttp handler returning the very same bytes: throughput, p50, p99.
2. Uncached (a gateway with ``resolver.cache: false``) vs the member's own DRS endpoint for the same ids:
   throughput under load, and the added latency at p50 and p99 of sequential requests (one at a time, so
   the figure is the gateway's own overhead, not queueing on a saturated core).
3. Bulk ``POST /objects`` of 1,000 ids spread over 3 members vs one single-id ``GET``: upstream calls
   (counted in the members' access logs) and wall time, uncached gateway, medians of ``--bulk-samples``
   (target: at most 5x one GET).
4. The same bulk, warm (every object already in the cached gateway's cache, 0 upstream calls) vs one cached
   single-id ``GET`` and vs the uncached bulk of 3., samples interleaved, medians of ``--bulk-samples``.

Three standalone reference commons, two gateways (cached / uncached) and the bare baseline each run in their
own process on 127.0.0.1 (wrk when installed, else bench/load.py). Figures 1 and 2 under load are medians of
``--rounds`` rounds, the two variants alternated (a shared machine's slow spell hits both alike).

    python bench/bench_drs.py [--seconds 5] [--concurrency 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import wrk  # noqa: E402
from bench_refcommons import fetch, free_port, load_alternated, stop_all, wait_until_up  # noqa: E402
from bench_resolver import gateway_config, start  # noqa: E402

PY = sys.executable
MEMBERS = 3
DRS = "/ga4gh/drs/v1"


def upstream_calls(logs: list[Path]) -> int:
    return sum(1 for log in logs for line in log.read_text().splitlines() if '"gateway.access"' in line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--ids", type=int, default=50)
    parser.add_argument("--bulk", type=int, default=1000)
    parser.add_argument("--bulk-samples", type=int, default=5)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds of figures 1 and 2 (medians)")
    args = parser.parse_args()
    tool = "wrk" if wrk.available() else "python"
    procs: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-drs-"))
    try:
        members, logs = [], []
        per_member = -(-args.bulk // MEMBERS)
        for i in range(MEMBERS):
            port = free_port()
            prefix = f"dg.BD0{i}"
            log = tmp / f"member{i}.log"
            procs.append(start(["refcommons", "serve", "--port", str(port), "--prefix", prefix, "--seed", str(i + 1),
                                "--subjects", str(max(100, per_member // 2))], log))
            members.append((prefix, f"http://127.0.0.1:{port}"))
            logs.append(log)
        gw = {}
        for name, cached in (("cached", True), ("uncached", False)):
            port = free_port()
            procs.append(start(["serve", "--port", str(port), "--config", str(gateway_config(tmp, members, name,
                                                                                              cached))]))
            gw[name] = f"http://127.0.0.1:{port}"
        for _, url in members:
            wait_until_up(url + "/index/_status")
        for url in gw.values():
            wait_until_up(url + "/_status")

        first = members[0][1]
        guids = [r["did"] for r in json.loads(fetch(f"{first}/index/index?limit={args.ids}"))["records"]]
        paths = [f"{DRS}/objects/{g}" for g in guids]
        bodies = {p: fetch(gw["cached"] + p).decode() for p in paths}  # warms the cache, too
        bare_port = free_port()
        (tmp / "bodies.json").write_text(json.dumps(bodies))
        procs.append(subprocess.Popen([PY, str(HERE / "bare_server.py"), str(bare_port), str(tmp / "bodies.json")]))
        bare = f"http://127.0.0.1:{bare_port}"
        wait_until_up(bare + paths[0])

        print(f"load tool: {tool}, {args.concurrency} connections, {args.seconds:g} s per run, medians of "
              f"{args.rounds} alternated rounds; {MEMBERS} members")
        got = load_alternated({"hit": [gw["cached"] + p for p in paths], "base": [bare + p for p in paths]},
                              args.seconds, args.concurrency, tool, args.rounds)
        hit, base = got["hit"], got["base"]
        print(f"1. cached GET /objects   {hit['rps']:8.0f} rps p50 {hit['p50_ms']:.2f} ms p99 {hit['p99_ms']:.2f} ms"
              f" | bare aiohttp {base['rps']:8.0f} rps p50 {base['p50_ms']:.2f} ms p99 {base['p99_ms']:.2f} ms"
              f" | ratio {hit['rps'] / base['rps']:.2f} (target >= 0.7, issue 17)")
        got = load_alternated({"miss": [gw["uncached"] + p for p in paths], "direct": [first + p for p in paths]},
                              args.seconds, args.concurrency, tool, args.rounds)
        miss, direct = got["miss"], got["direct"]
        print(f"2. uncached GET /objects {miss['rps']:8.0f} rps p50 {miss['p50_ms']:.2f} ms p99 {miss['p99_ms']:.2f} ms"
              f" | member direct {direct['rps']:8.0f} rps p50 {direct['p50_ms']:.2f} ms p99 {direct['p99_ms']:.2f} ms"
              f" | throughput ratio {miss['rps'] / direct['rps']:.2f}")
        seq = {"gateway": [], "member": []}
        with httpx.Client(timeout=10) as client:
            for i in range(args.samples):
                for name, base_url in (("gateway", gw["uncached"]), ("member", first)):
                    t = time.perf_counter()
                    r = client.get(base_url + paths[i % len(paths)])
                    seq[name].append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200, r.text[:200]
        q = {k: statistics.quantiles(v, n=100) for k, v in seq.items()}
        (g50, g99), (m50, m99) = (q["gateway"][49], q["gateway"][98]), (q["member"][49], q["member"][98])
        print(f"   one at a time ({args.samples} each): gateway p50 {g50:.2f} ms p99 {g99:.2f} ms"
              f" | member direct p50 {m50:.2f} ms p99 {m99:.2f} ms"
              f" | overhead p50 +{g50 - m50:.2f} ms, p99 +{g99 - m99:.2f} ms (ratio p50 {g50 / m50:.2f})")

        ids: list[str] = []
        for _, url in members:
            records = json.loads(fetch(f"{url}/index/index?limit={per_member}"))["records"]
            ids.extend(r["did"] for r in records)
        ids = ids[:args.bulk]
        bulk_times, single_times, bulk_calls, single_calls = [], [], [], []
        warm_times, warm_single, warm_calls = [], [], []
        with httpx.Client(timeout=60) as client:
            r = client.post(gw["cached"] + f"{DRS}/objects", json={"bulk_object_ids": ids})  # warms every object
            assert r.status_code == 200 and r.json()["summary"]["resolved"] == len(ids), r.text[:300]
            for i in range(args.bulk_samples):
                before = upstream_calls(logs)
                for _ in range(3):
                    t = time.perf_counter()
                    r = client.post(gw["cached"] + f"{DRS}/objects", json={"bulk_object_ids": ids})
                    warm_times.append(time.perf_counter() - t)
                    assert r.status_code == 200 and r.json()["summary"]["resolved"] == len(ids), r.text[:300]
                for p in paths[:20]:
                    t = time.perf_counter()
                    r = client.get(gw["cached"] + p)
                    warm_single.append(time.perf_counter() - t)
                    assert r.status_code == 200, r.text[:300]
                time.sleep(0.6)
                warm_calls.append(upstream_calls(logs) - before)
                before = upstream_calls(logs)
                t = time.perf_counter()
                r = client.post(gw["uncached"] + f"{DRS}/objects", json={"bulk_object_ids": ids})
                bulk_times.append(time.perf_counter() - t)
                assert r.status_code == 200 and r.json()["summary"]["resolved"] == len(ids), r.text[:300]
                time.sleep(0.6)  # let the members flush their (batched) access logs
                bulk_calls.append(upstream_calls(logs) - before)
                before = upstream_calls(logs)
                t = time.perf_counter()
                r = client.get(gw["uncached"] + f"{DRS}/objects/{urllib.parse.quote(ids[i], safe='/')}")
                single_times.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text[:300]
                time.sleep(0.6)
                single_calls.append(upstream_calls(logs) - before)
        b, s = statistics.median(bulk_times), statistics.median(single_times)
        print(f"3. bulk of {len(ids)} ids over {MEMBERS} members: {statistics.median(bulk_calls):.0f} upstream calls, "
              f"{b * 1000:.1f} ms | one single-id GET: {statistics.median(single_calls):.0f} upstream call, "
              f"{s * 1000:.2f} ms | wall-time ratio {b / s:.1f} for {len(ids)}x the objects "
              f"({b / s / len(ids) * 100:.1f}% of a single call per id) (target <= 5)")
        w, ws = statistics.median(warm_times), statistics.median(warm_single)
        print(f"4. warm bulk of {len(ids)} ids (all cached): {statistics.median(warm_calls):.0f} upstream calls, "
              f"{w * 1000:.1f} ms | one cached single-id GET {ws * 1000:.2f} ms: ratio {w / ws:.1f} "
              f"({w / ws / len(ids) * 100:.1f}% of a cached GET per id) | uncached bulk {b * 1000:.1f} ms: "
              f"warm is {b / w:.1f}x faster (target: warm >= 2.5x faster than main's code, see the report of issue 17)")
    finally:
        stop_all(procs)


if __name__ == "__main__":
    main()
