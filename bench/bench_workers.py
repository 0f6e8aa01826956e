"""What ``gateway serve --workers N`` buys: cached ``GET /ga4gh/drs/v1/objects/<id>`` throughput with ``--workers 1``
and ``--workers 2``, each against the bare-aiohttp baseline (bench/bare_server.py) run as the same number of
processes (``SO_REUSEPORT`` copies on one port) serving the very same bytes.

One standalone reference commons; the gateways on it (SQLite store, in-process caches: every worker warms its
own), each warmed first. The targets are loaded in alternating rounds (drift of a shared machine falls on all
alike) by ``--clients`` load generators at once (bench/load.py, or wrk when installed), and the median throughput
of each is printed with the ratios gateway/bare (per process count) and 2 workers/1 worker.

    python bench/bench_workers.py [--seconds 4] [--rounds 3] [--concurrency 32] [--clients 2]
                                  [--wrk-threads N] [--pin-load CPUS]

On a 2-core machine the load generator takes CPU from the workers it measures: the bare baseline's own 2/1 scaling,
printed beside the gateway's, is the ceiling there. ``--wrk-threads`` (default: ``--clients``) and ``--pin-load``
(a CPU list for ``taskset -c``, e.g. ``1``) let one look at how much wrk's own CPU costs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import wrk  # noqa: E402
from bench_refcommons import PY, fetch, free_port, stop_all, wait_until_up  # noqa: E402
from bench_resolver import gateway_config, start  # noqa: E402

DRS = "/ga4gh/drs/v1"


def load(urls: list[str], seconds: float, concurrency: int, clients: int, threads: int | None = None,
         cpus: str | None = None) -> float:
    """Requests/s of ``clients`` closed-loop generators at once over ``urls`` (summed); exits on any non-2xx. With wrk:
    ``threads`` threads (default ``clients``), pinned to ``cpus`` when given."""
    if wrk.available():
        result = wrk.run(urls, concurrency * clients, seconds, threads=threads or clients, cpus=cpus)
        if result.get("errors"):
            raise SystemExit(f"load: {result['errors']} errors on {urls[0]} ({result['error_detail']})")
        return float(result["rps"])
    procs = [subprocess.Popen([PY, str(HERE / "load.py"), *urls, "--seconds", str(seconds), "--concurrency",
                               str(concurrency)], stdout=subprocess.PIPE, text=True) for _ in range(clients)]
    total = 0.0
    for p in procs:
        out, _ = p.communicate()
        result = json.loads(out)
        if result.get("errors"):
            raise SystemExit(f"load: {result['errors']} errors on {urls[0]}")
        total += result["rps"]
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32, help="connections per load generator")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes at once")
    parser.add_argument("--ids", type=int, default=50)
    parser.add_argument("--wrk-threads", type=int, help="wrk threads (default: --clients)")
    parser.add_argument("--pin-load", help="CPU list the load generator is pinned to (taskset -c), e.g. 1")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    procs: list[subprocess.Popen] = []
    try:
        port = free_port()
        member = f"http://127.0.0.1:{port}"
        procs.append(start(["refcommons", "serve", "--port", str(port), "--prefix", "dg.BW01", "--seed", "1",
                            "--subjects", "100"]))
        targets: dict[str, str] = {}
        for n in (1, 2):
            gport = free_port()
            config = gateway_config(tmp, [("dg.BW01", member)], f"w{n}", True)
            procs.append(start(["serve", "--port", str(gport), "--config", str(config), "--workers", str(n)]))
            targets[f"gateway x{n}"] = f"http://127.0.0.1:{gport}"
        wait_until_up(member + "/index/_status")
        for url in targets.values():
            wait_until_up(url + "/_status")
        guids = [r["did"] for r in json.loads(fetch(f"{member}/index/index?limit={args.ids}"))["records"]]
        paths = [f"{DRS}/objects/{g}" for g in guids]
        bodies = {p: fetch(targets["gateway x1"] + p).decode() for p in paths}
        (tmp / "bodies.json").write_text(json.dumps(bodies))
        for n in (1, 2):
            bport = free_port()
            for _ in range(n):
                procs.append(subprocess.Popen([PY, str(HERE / "bare_server.py"), str(bport), str(tmp / "bodies.json"),
                                               "--reuse-port"]))
            targets[f"bare x{n}"] = f"http://127.0.0.1:{bport}"
            wait_until_up(targets[f"bare x{n}"] + paths[0])
        for name, url in targets.items():
            if name.startswith("gateway"):
                load([url + p for p in paths], 1.0, args.concurrency, args.clients)  # warm every worker's cache
        rps: dict[str, list[float]] = {name: [] for name in targets}
        tool = "wrk" if wrk.available() else "python"
        print(f"load: {tool}, {args.clients} generators x {args.concurrency} connections, {args.seconds:g} s per run,"
              f" {args.rounds} rounds" + (f", wrk threads {args.wrk_threads}" if args.wrk_threads else "")
              + (f", pinned to CPUs {args.pin_load}" if args.pin_load else ""))
        for _ in range(args.rounds):
            for name, url in targets.items():
                rps[name].append(load([url + p for p in paths], args.seconds, args.concurrency, args.clients,
                                      args.wrk_threads, args.pin_load))
        med = {name: statistics.median(values) for name, values in rps.items()}
        for n in (1, 2):
            g, b = med[f"gateway x{n}"], med[f"bare x{n}"]
            print(f"{n} process(es): gateway {g:8.0f} rps | bare aiohttp {b:8.0f} rps | gateway/bare {g / b:.3f}")
        print(f"scaling 2/1: gateway {med['gateway x2'] / med['gateway x1']:.3f} (target >= 1.7, issue 17)"
              f" | bare {med['bare x2'] / med['bare x1']:.3f} (the ceiling on this machine: the load generator"
              f" shares its {os.cpu_count()} cores)")
    finally:
        stop_all(procs)


if __name__ == "__main__":
    main()
