"""What metrics cost on the hot path: cached ``GET /ga4gh/drs/v1/objects/<id>`` with ``metrics.enabled`` on vs off.

One standalone reference commons, two gateways on it (identical but for ``metrics.enabled``), each in its own
process on 127.0.0.1, caches warmed first. The two are loaded in alternating rounds (so drift of a shared machine
falls on both alike) and the median throughput of each is compared: the printed ratio is on/off (1.00 = free).

    python bench/bench_metrics.py [--seconds 4] [--rounds 3] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import timeit
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import wrk  # noqa: E402
from bench_refcommons import fetch, free_port, load, stop_all, wait_until_up  # noqa: E402
from bench_resolver import gateway_config, start  # noqa: E402

DRS = "/ga4gh/drs/v1"


def recording_us(n: int = 200_000) -> float:
    """Microseconds of CPU the recordings of one cached GET take (the request's counter and histogram, the cache
    lookup and the store read of the registry version), measured in this process."""
    from gateway.core.metrics import Metrics

    metrics = Metrics()

    def one() -> None:
        metrics.request("/ga4gh/drs/v1/objects/{object_id}", "GET", 200, 0.0012)
        metrics.cache_lookup("drs_objects", True)

    return timeit.timeit(one, number=n) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--ids", type=int, default=50)
    args = parser.parse_args()
    tool = "wrk" if wrk.available() else "python"
    tmp = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    procs = []
    try:
        port = free_port()
        member = f"http://127.0.0.1:{port}"
        procs.append(start(["refcommons", "serve", "--port", str(port), "--prefix", "dg.BM01", "--seed", "1",
                            "--subjects", "100"]))
        gw = {}
        for name, enabled in (("on", True), ("off", False)):
            gport = free_port()
            config = gateway_config(tmp, [("dg.BM01", member)], name, True, {"metrics": {"enabled": enabled}})
            procs.append(start(["serve", "--port", str(gport), "--config", str(config)]))
            gw[name] = f"http://127.0.0.1:{gport}"
        wait_until_up(member + "/index/_status")
        for url in gw.values():
            wait_until_up(url + "/_status")
        guids = [r["did"] for r in json.loads(fetch(f"{member}/index/index?limit={args.ids}"))["records"]]
        paths = [f"{DRS}/objects/{g}" for g in guids]
        for url in gw.values():
            for p in paths:
                fetch(url + p)  # warm the caches
        rps: dict[str, list[float]] = {"on": [], "off": []}
        p99: dict[str, list[float]] = {"on": [], "off": []}
        print(f"load tool: {tool}, {args.concurrency} connections, {args.seconds:g} s per run, {args.rounds} rounds")
        for _ in range(args.rounds):
            for name in ("on", "off"):
                result = load([gw[name] + p for p in paths], args.seconds, args.concurrency, tool)
                rps[name].append(result["rps"])
                p99[name].append(result["p99_ms"])
        on, off = statistics.median(rps["on"]), statistics.median(rps["off"])
        print(f"cached GET /objects: metrics on {on:8.0f} rps p99 {statistics.median(p99['on']):.2f} ms"
              f" | metrics off {off:8.0f} rps p99 {statistics.median(p99['off']):.2f} ms"
              f" | ratio on/off {on / off:.3f}")
        print(f"recording per cached GET (request counter + histogram, cache lookup): {recording_us():.2f} µs of CPU")
        assert b"gateway_http_requests_total" in fetch(gw["on"] + "/metrics")
    finally:
        stop_all(procs)


if __name__ == "__main__":
    main()
