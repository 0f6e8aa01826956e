"""Resolution figures, each as a ratio against a baseline measured in the same run.

1. Cached hits: ``GET /resolver/v1/resolve?id=<guid>`` (answer in the cache) vs a bare aiohttp handler
   returning the same bytes: throughput and p50/p99 (wrk when installed, else bench/load.py).
2. Misses (a gateway with ``resolver.cache: false``): the same request vs calling the member's indexd directly
   (``GET /index/index/<guid>``): throughput ratio and added latency. Figures 1 and 2: medians of ``--rounds``
   rounds, the variants alternated.
3. Prefix-less fan-out: resolving a bare UUID across 5 members vs asking the slowest member alone,
   sequential samples, medians.
4. The egress policy's cost on an uncached member call: the miss of 2. through a gateway whose policy denies
   the default networks vs one whose policy denies nothing (``egress.deny_networks: []``): throughput under load
   and the median of sequential requests, the two gateways measured in alternation (``--egress-rounds``).
   ``--only-egress`` runs this figure alone.

Five standalone reference commons, two gateways (cached / uncached) and the bare baseline each run in
their own process; everything is on 127.0.0.1.

    python bench/bench_resolver.py [--seconds 5] [--concurrency 32] [--rounds 3] [--samples 200] [--only-egress]
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
import urllib.request
from pathlib import Path

import httpx
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import wrk  # noqa: E402
from bench_refcommons import fetch, free_port, load, load_alternated, stop_all, wait_until_up  # noqa: E402

PY = sys.executable
MEMBERS = 5


def start(args: list[str], log: Path | None = None) -> subprocess.Popen:
    """``python -m gateway ARGS`` in the background; stderr (the JSON logs) to ``log`` or discarded."""
    err = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    return subprocess.Popen([PY, "-m", "gateway", *args], stdout=subprocess.DEVNULL, stderr=err)


def gateway_config(tmp: Path, members: list[tuple[str, str]], name: str, cached: bool,
                   extra: dict | None = None) -> Path:
    cfg = {
        "store": {"url": f"sqlite:///{tmp / (name + '.sqlite3')}"},
        "refcommons": {"enabled": False},
        "health": {"interval": 3600},
        "registry": {"members": [
            {"id": f"m{i}", "name": f"Member {i}", "base_url": url, "kind": "gen3", "prefixes": [prefix]}
            for i, (prefix, url) in enumerate(members)
        ]},
    }
    cfg["resolver"] = {"fanout_budget": 0}  # one client sends every sample: no per-client budget here
    if not cached:
        cfg["resolver"]["cache"] = False
    cfg.update(extra or {})
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1000, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--guids", type=int, default=50)
    parser.add_argument("--egress-rounds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds of figures 1 and 2 (medians)")
    parser.add_argument("--only-egress", action="store_true", help="measure figure 4 only")
    args = parser.parse_args()
    tool = "wrk" if wrk.available() else "python"
    procs: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-resolver-"))
    try:
        members = []
        for i in range(MEMBERS):
            port = free_port()
            prefix = f"dg.BR0{i}"
            procs.append(start(["refcommons", "serve", "--port", str(port), "--prefix", prefix, "--seed", str(i + 1),
                                "--subjects", "100", "--log-level", "warning"]))
            members.append((prefix, f"http://127.0.0.1:{port}"))
        gw = {}
        gateways = [("uncached-open", False, {"egress": {"deny_networks": []}}),
                    ("uncached-policy", False, {})]  # the default policy: metadata and private ranges denied
        if not args.only_egress:
            gateways = [("cached", True, {}), ("uncached", False, {}), *gateways]
        for name, cached, extra in gateways:
            port = free_port()
            config = gateway_config(tmp, members, name, cached, extra)
            procs.append(start(["serve", "--port", str(port), "--config", str(config)]))
            gw[name] = f"http://127.0.0.1:{port}"
        for _, url in members:
            wait_until_up(url + "/index/_status")
        for url in gw.values():
            wait_until_up(url + "/_status")

        first = members[0][1]
        guids = [r["did"] for r in json.loads(fetch(f"{first}/index/index?limit={args.guids}"))["records"]]
        resolve_paths = [f"/resolver/v1/resolve?id={urllib.parse.quote(g, safe='')}" for g in guids]
        print(f"load tool: {tool}, {args.concurrency} connections, {args.seconds:g} s per run, figures 1 and 2 "
              f"medians of {args.rounds} alternated rounds; {MEMBERS} members")
        egress_figure(gw, resolve_paths, args, tool)
        if args.only_egress:
            return
        direct_paths = [f"/index/index/{g}" for g in guids]
        bodies = {}
        for path in resolve_paths:  # warm the cache; the bare baseline serves the very same bytes
            bare_path = urllib.parse.unquote(path.split("?")[0] + "/" + path.split("=", 1)[1])
            bodies[bare_path] = fetch(gw["cached"] + path).decode()
        bare_port = free_port()
        bare_paths = list(bodies)
        with open(tmp / "bodies.json", "w") as fh:
            json.dump(bodies, fh)
        procs.append(subprocess.Popen([PY, str(HERE / "bare_server.py"), str(bare_port), str(tmp / "bodies.json")]))
        bare = f"http://127.0.0.1:{bare_port}"
        wait_until_up(bare + urllib.parse.quote(bare_paths[0]))

        got = load_alternated({"hit": [gw["cached"] + p for p in resolve_paths],
                               "base": [bare + urllib.parse.quote(p) for p in bare_paths]},
                              args.seconds, args.concurrency, tool, args.rounds)
        hit, base = got["hit"], got["base"]
        print(f"1. cached hits      {hit['rps']:8.0f} rps p50 {hit['p50_ms']:.2f} ms p99 {hit['p99_ms']:.2f} ms | "
              f"bare aiohttp {base['rps']:8.0f} rps p50 {base['p50_ms']:.2f} ms | ratio {hit['rps'] / base['rps']:.2f} "
              "(target >= 0.6)")
        got = load_alternated({"miss": [gw["uncached"] + p for p in resolve_paths],
                               "direct": [first + p for p in direct_paths]},
                              args.seconds, args.concurrency, tool, args.rounds)
        miss, direct = got["miss"], got["direct"]
        print(f"2. misses (uncached) {miss['rps']:7.0f} rps p50 {miss['p50_ms']:.2f} ms p99 {miss['p99_ms']:.2f} ms | "
              f"member direct {direct['rps']:8.0f} rps p50 {direct['p50_ms']:.2f} ms | ratio "
              f"{miss['rps'] / direct['rps']:.2f}, +{miss['p50_ms'] - direct['p50_ms']:.2f} ms p50")

        # 3. fan-out: bare UUIDs that live in the LAST member, uncached gateway, vs each member asked alone
        last = members[-1][1]
        records = json.loads(fetch(f"{last}/index/index?limit={args.guids}"))["records"]
        uuids = [r["did"].split("/", 1)[1] for r in records]
        fan, slowest = [], []
        with httpx.Client(timeout=10) as client:
            for i in range(args.samples):
                u = uuids[i % len(uuids)]
                t = time.perf_counter()
                r = client.get(gw["uncached"] + "/resolver/v1/resolve", params={"id": u})
                fan.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
                per_member = []
                for _, url in members:
                    t = time.perf_counter()
                    client.get(f"{url}/index/index/{u}")
                    per_member.append(time.perf_counter() - t)
                slowest.append(max(per_member))
        print(f"3. fan-out of a bare UUID over {MEMBERS} members: median {median_ms(fan)} ms | slowest member alone "
              f"median {median_ms(slowest)} ms | ratio {statistics.median(fan) / statistics.median(slowest):.2f}")
    finally:
        stop_all(procs)


def egress_figure(gw: dict[str, str], paths: list[str], args: argparse.Namespace, tool: str) -> None:
    """4.: the same uncached member call through a policy that denies something vs one that denies nothing."""
    rps: dict[str, list[float]] = {"open": [], "policy": []}
    seq: dict[str, list[float]] = {"open": [], "policy": []}
    with httpx.Client(timeout=10) as client:
        for _ in range(args.egress_rounds):
            for kind in ("open", "policy"):
                base = gw[f"uncached-{kind}"]
                rps[kind].append(load([base + p for p in paths], args.seconds, args.concurrency, tool)["rps"])
                for i in range(args.samples):
                    t = time.perf_counter()
                    r = client.get(base + paths[i % len(paths)])
                    seq[kind].append(time.perf_counter() - t)
                    assert r.status_code == 200, r.text
    med = {k: statistics.median(v) for k, v in rps.items()}
    print(f"4. egress policy on an uncached member call: denying the defaults {med['policy']:7.0f} rps, sequential "
          f"median {median_ms(seq['policy'])} ms | denying nothing {med['open']:7.0f} rps, "
          f"{median_ms(seq['open'])} ms | ratio {med['policy'] / med['open']:.3f} (throughput), "
          f"{statistics.median(seq['policy']) / statistics.median(seq['open']):.3f} (latency); "
          f"{args.egress_rounds} alternating rounds")


if __name__ == "__main__":
    main()
