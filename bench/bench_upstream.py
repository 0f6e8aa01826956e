"""The upstream client's figures, each as a ratio against a baseline measured in the same run.

1. CPU per upstream call: :class:`gateway.members.http.MemberHttp` ``get_object`` (the whole policy: deadline,
   retries, redirects, capped body, byte budget, egress policy, request id and traceparent, metrics) vs a plain
   ``aiohttp.ClientSession`` GET + read + ``orjson.loads`` under ``asyncio.timeout``, same member, same process,
   sequential calls, interleaved rounds; ``time.process_time`` of this process only (the member runs in its own).
   Target: ratio <= 1.5.
2. Uncached ``GET /resolver/v1/resolve?id=<guid>`` and uncached DRS ``GET /objects/<id>`` (a gateway with
   ``resolver.cache: false``) vs the member's own indexd / DRS GET for the same ids: throughput at
   ``--concurrency`` (target >= 0.4x) and the p50 of sequential requests (target <= +0.3 ms), gateway and member
   measured in alternation, medians of ``--rounds``; and where the CPU goes: the gateway's processes' CPU per
   request (its workers included) vs the member's, from ``/proc``. Beside them, the floor of any proxy on aiohttp:
   ``bench/bare_proxy.py`` (a bare aiohttp app forwarding the same GETs to the member through the members' client,
   no policy, no middleware), measured in the same alternation: how far the gateway is from merely being in the path.

One standalone reference commons and one gateway, each in its own process on 127.0.0.1 (wrk when installed, else
bench/load.py). Expect noise on a shared machine: each figure is a median of interleaved rounds.

    python bench/bench_upstream.py [--calls 2000] [--rounds 3] [--seconds 5] [--concurrency 32] [--samples 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import aiohttp
import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))
import wrk  # noqa: E402
from bench_refcommons import fetch, free_port, load, stop_all, wait_until_up  # noqa: E402
from bench_resolver import gateway_config, start  # noqa: E402

from gateway.app import egress_policy  # noqa: E402
from gateway.core.deadline import Deadline  # noqa: E402
from gateway.members.http import MemberHttp  # noqa: E402
from gateway.settings.gateway import Settings  # noqa: E402
from gateway.settings.sections import UpstreamConfig  # noqa: E402

PY = sys.executable
DRS = "/ga4gh/drs/v1"


async def cpu_per_call(member: str, paths: list[str], calls: int, rounds: int) -> tuple[float, float]:
    """Median µs of CPU per call: (MemberHttp, plain aiohttp), interleaved rounds."""
    http = MemberHttp("m0", member, UpstreamConfig(), egress=egress_policy(Settings()))
    session = aiohttp.ClientSession()
    urls = [member + p for p in paths]

    async def ours(i: int) -> None:
        doc = await http.get_object(paths[i % len(paths)], Deadline.after(10.0), "indexd record")
        assert doc is not None

    async def plain(i: int) -> None:
        async with asyncio.timeout(10.0), session.get(urls[i % len(urls)]) as response:
            doc = orjson.loads(await response.read())
        assert response.status == 200 and isinstance(doc, dict)

    async def run(call, n: int) -> float:
        began = time.process_time()
        for i in range(n):
            await call(i)
        return (time.process_time() - began) / n * 1e6

    try:
        await run(ours, 200)
        await run(plain, 200)
        figures: dict[str, list[float]] = {"ours": [], "plain": []}
        for _ in range(rounds):
            figures["ours"].append(await run(ours, calls))
            figures["plain"].append(await run(plain, calls))
        return statistics.median(figures["ours"]), statistics.median(figures["plain"])
    finally:
        await http.close()
        await session.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its live children (a ``--workers`` supervisor's workers), from /proc."""
    def own(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    children.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return own(pid) + sum(own(c) for c in children)


def sequential_p50(urls: list[str], samples: int) -> float:
    """p50 ms of one-at-a-time GETs (keep-alive)."""
    import httpx

    took = []
    with httpx.Client() as client:
        for i in range(samples):
            began = time.perf_counter()
            response = client.get(urls[i % len(urls)])
            took.append(time.perf_counter() - began)
            assert response.status_code == 200, response.text
    return statistics.median(took) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--guids", type=int, default=50)
    parser.add_argument("--only-cpu", action="store_true", help="measure figure 1 only")
    args = parser.parse_args()
    tool = "wrk" if wrk.available() else "python"
    procs: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-upstream-"))
    try:
        port = free_port()
        prefix = "dg.BU00"
        procs.append(start(["refcommons", "serve", "--port", str(port), "--prefix", prefix, "--seed", "1",
                            "--subjects", "100", "--log-level", "warning"]))
        member = f"http://127.0.0.1:{port}"
        gw = f"http://127.0.0.1:{free_port()}"
        proxy = f"http://127.0.0.1:{free_port()}"
        if not args.only_cpu:
            config = gateway_config(tmp, [(prefix, member)], "uncached", cached=False)
            gateway = start(["serve", "--port", gw.rsplit(":", 1)[1], "--config", str(config)])
            procs.append(gateway)
            procs.append(subprocess.Popen([PY, str(HERE / "bare_proxy.py"), proxy.rsplit(":", 1)[1], member],
                                          stdout=subprocess.DEVNULL))
        wait_until_up(member + "/index/_status")
        guids = [r["did"] for r in json.loads(fetch(f"{member}/index/index?limit={args.guids}"))["records"]]
        record_paths = [f"/index/index/{urllib.parse.quote(g, safe='')}" for g in guids]

        ours, plain = asyncio.run(cpu_per_call(member, record_paths, args.calls, args.rounds))
        print(f"1. CPU per upstream call: MemberHttp {ours:6.1f} us | plain aiohttp GET+read+orjson {plain:6.1f} us | "
              f"ratio {ours / plain:.2f} (target <= 1.5); medians of {args.rounds} interleaved rounds of {args.calls}")
        if args.only_cpu:
            return

        wait_until_up(gw + "/_status")
        wait_until_up(proxy + "/index/_status")
        print(f"load tool: {tool}, {args.concurrency} connections, {args.seconds:g} s per run, "
              f"{args.rounds} alternating rounds")
        cases = {
            "uncached resolve": ([f"/resolver/v1/resolve?id={urllib.parse.quote(g, safe='')}" for g in guids],
                                 [f"/index/index/{g}" for g in guids]),
            "uncached DRS GET": ([f"{DRS}/objects/{urllib.parse.quote(g, safe='/')}" for g in guids],
                                 [f"{DRS}/objects/{urllib.parse.quote(g, safe='/')}" for g in guids]),
        }
        for n, (name, (through, direct)) in enumerate(cases.items(), start=2):
            gw_urls, member_urls = [gw + p for p in through], [member + p for p in direct]
            proxy_urls = [proxy + p for p in direct]
            for url in gw_urls[:3] + proxy_urls[:3]:  # the gateway and the proxy answer what the member answers
                fetch(url)
            rps: dict[str, list[float]] = {"gateway": [], "member": [], "proxy": []}
            p50: dict[str, list[float]] = {"gateway": [], "member": [], "proxy": []}
            cpu: dict[str, list[float]] = {"gateway": [], "member": [], "member behind": []}
            for _ in range(args.rounds):
                g0, m0 = cpu_seconds(gateway.pid), cpu_seconds(procs[0].pid)
                through_run = load(gw_urls, args.seconds, args.concurrency, tool)
                g1, m1 = cpu_seconds(gateway.pid), cpu_seconds(procs[0].pid)
                direct_run = load(member_urls, args.seconds, args.concurrency, tool)
                m2 = cpu_seconds(procs[0].pid)
                # bench/load.py warms up for 1 s it does not count: count those requests too (at the same rate)
                through_n, direct_n = (run["requests"] * (1 if tool == "wrk" else (args.seconds + 1) / args.seconds)
                                       for run in (through_run, direct_run))
                rps["gateway"].append(through_run["rps"])
                rps["member"].append(direct_run["rps"])
                cpu["gateway"].append((g1 - g0) / max(1, through_n) * 1e6)
                cpu["member behind"].append((m1 - m0) / max(1, through_n) * 1e6)
                cpu["member"].append((m2 - m1) / max(1, direct_n) * 1e6)
                rps["proxy"].append(load(proxy_urls, args.seconds, args.concurrency, tool)["rps"])
                p50["gateway"].append(sequential_p50(gw_urls, args.samples))
                p50["member"].append(sequential_p50(member_urls, args.samples))
                p50["proxy"].append(sequential_p50(proxy_urls, args.samples))
            g, m, f = (statistics.median(rps[k]) for k in ("gateway", "member", "proxy"))
            gp, mp, fp = (statistics.median(p50[k]) for k in ("gateway", "member", "proxy"))
            print(f"{n}. {name}: c={args.concurrency} gateway {g:7.0f} rps | member {m:7.0f} rps | ratio {g / m:.2f} "
                  f"(target >= 0.4); c=1 p50 gateway {gp:.2f} ms | member {mp:.2f} ms | +{gp - mp:.2f} ms "
                  f"(target <= +0.3)")
            print(f"   the floor, a bare proxy through the same client: c={args.concurrency} {f:7.0f} rps (ratio "
                  f"{f / m:.2f}; the gateway at {g / f:.2f} of it); c=1 p50 {fp:.2f} ms (+{fp - mp:.2f} ms over the "
                  f"member)")
            print(f"   CPU per request: gateway {statistics.median(cpu['gateway']):.0f} us (+ the member behind it "
                  f"{statistics.median(cpu['member behind']):.0f} us) | member direct "
                  f"{statistics.median(cpu['member']):.0f} us")
    finally:
        stop_all(procs)


if __name__ == "__main__":
    main()
