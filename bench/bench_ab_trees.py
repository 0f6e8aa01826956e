"""Two versions of the gateway side by side in one run (issue 17's before/after): this tree vs another checkout
(``--baseline-tree``, e.g. ``git worktree add --detach ../base main``), samples interleaved, medians.

1. Bulk ``POST /objects`` of 1,000 ids over 3 members: uncached (``resolver.cache: false``) and warm (every object
   cached), wall time (median) and the gateway's CPU per bulk (its worker processes included; the mean over the
   samples, as the kernel counts CPU in 10 ms ticks); one single-id GET of each kind for scale.
2. Cached ``GET /resolver/v1/resolve`` hits of both vs a bare aiohttp handler returning the same bytes, rounds
   alternated, medians.
3. ``GET /ga4gh/drs/v1/objects/{id}`` under load (32 connections): uncached through each tree vs the member's own
   DRS endpoint, and cached through each tree, rounds alternated, medians.

The members are the reference commons of this tree; each gateway runs its own tree's code.

    python bench/bench_ab_trees.py --baseline-tree ../base [--rounds 9] [--load-rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
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
import bench_refcommons  # noqa: E402
import wrk  # noqa: E402
from bench_refcommons import fetch, free_port, load, load_alternated, stop_all  # noqa: E402
from bench_resolver import gateway_config  # noqa: E402

PY = sys.executable
DRS = "/ga4gh/drs/v1"
KINDS = ("bulk_uncached", "bulk_warm", "get_uncached", "get_cached")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its descendants (``gateway serve`` runs its workers as children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for task in os.listdir(f"/proc/{pid}/task"):
        for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split():
            total += cpu_seconds(int(child))
    return total


def start(tree: str, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([PY, "-m", "gateway", *args], cwd=tree, env={**os.environ, "PYTHONPATH": tree},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def up(url: str) -> None:
    bench_refcommons.wait_until_up(url, 180)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-tree", required=True)
    parser.add_argument("--rounds", type=int, default=9, help="interleaved samples of each bulk and single GET")
    parser.add_argument("--load-rounds", type=int, default=3, help="alternated wrk rounds of the load figures")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    trees = {"new": str(HERE.parent), "base": str(Path(args.baseline_tree).resolve())}
    tool = "wrk" if wrk.available() else "python"
    procs: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    try:
        members = []
        for i in range(3):
            port = free_port()
            procs.append(start(trees["new"], ["refcommons", "serve", "--port", str(port), "--prefix", f"dg.BD0{i}",
                                              "--seed", str(i + 1), "--subjects", "170", "--log-level", "warning"]))
            members.append((f"dg.BD0{i}", f"http://127.0.0.1:{port}"))
        gw: dict[tuple[str, str], str] = {}
        pids: dict[tuple[str, str], int] = {}
        for tree, root in trees.items():
            for name, cached in (("cached", True), ("uncached", False)):
                port = free_port()
                config = gateway_config(tmp, members, f"{tree}-{name}", cached)
                procs.append(start(root, ["serve", "--port", str(port), "--config", str(config)]))
                gw[tree, name], pids[tree, name] = f"http://127.0.0.1:{port}", procs[-1].pid
        for _, url in members:
            up(url + "/index/_status")
        for url in gw.values():
            up(url + "/_status")
        ids: list[str] = []
        for _, url in members:
            ids += [r["did"] for r in json.loads(fetch(f"{url}/index/index?limit=334"))["records"]]
        ids = ids[:1000]
        paths = [f"{DRS}/objects/{urllib.parse.quote(i, safe='/')}" for i in ids[:10]]
        wall: dict[tuple[str, str], list[float]] = {(t, k): [] for t in trees for k in KINDS}
        cpu: dict[tuple[str, str], list[float]] = {(t, k): [] for t in trees for k in KINDS[:2]}
        with httpx.Client(timeout=60) as client:
            for tree in trees:
                for _ in range(2):  # each of the (default two) workers' caches
                    r = client.post(gw[tree, "cached"] + f"{DRS}/objects", json={"bulk_object_ids": ids})
                    assert r.status_code == 200, r.text[:300]
            for n in range(args.rounds):
                for tree in (list(trees) if n % 2 == 0 else list(trees)[::-1]):
                    for kind, name in (("bulk_uncached", "uncached"), ("bulk_warm", "cached")):
                        before, t = cpu_seconds(pids[tree, name]), time.perf_counter()
                        r = client.post(gw[tree, name] + f"{DRS}/objects", json={"bulk_object_ids": ids})
                        wall[tree, kind].append(time.perf_counter() - t)
                        cpu[tree, kind].append(cpu_seconds(pids[tree, name]) - before)
                        assert r.status_code == 200 and r.json()["summary"]["resolved"] == len(ids), r.text[:300]
                    for path in paths:
                        for kind, name in (("get_uncached", "uncached"), ("get_cached", "cached")):
                            t = time.perf_counter()
                            r = client.get(gw[tree, name] + path)
                            wall[tree, kind].append(time.perf_counter() - t)
                            assert r.status_code == 200, r.text[:300]
        ms = {k: statistics.median(v) * 1000 for k, v in wall.items()}
        for tree in trees:
            print(f"{tree:4s}: bulk of {len(ids)} uncached {ms[tree, 'bulk_uncached']:.1f} ms (gateway CPU "
                  f"{statistics.mean(cpu[tree, 'bulk_uncached']) * 1000:.1f} ms), warm {ms[tree, 'bulk_warm']:.1f} ms"
                  f" (CPU {statistics.mean(cpu[tree, 'bulk_warm']) * 1000:.1f} ms) | single GET uncached "
                  f"{ms[tree, 'get_uncached']:.2f} ms, cached {ms[tree, 'get_cached']:.2f} ms | uncached bulk / "
                  f"single GET {ms[tree, 'bulk_uncached'] / ms[tree, 'get_uncached']:.1f} (target <= 5)")
        print(f"warm bulk: baseline {ms['base', 'bulk_warm']:.1f} ms / this tree {ms['new', 'bulk_warm']:.1f} ms = "
              f"{ms['base', 'bulk_warm'] / ms['new', 'bulk_warm']:.2f}x faster (target >= 2.5); uncached bulk: "
              f"{ms['base', 'bulk_uncached'] / ms['new', 'bulk_uncached']:.2f}x faster")

        resolve_paths = [f"/resolver/v1/resolve?id={urllib.parse.quote(g, safe='')}" for g in ids[:50]]
        bodies = {}
        for path in resolve_paths:
            for tree in trees:
                for _ in range(3):  # every worker's cache, most likely
                    fetch(gw[tree, "cached"] + path)
            bodies[urllib.parse.unquote(path.split("?")[0] + "/" + path.split("=", 1)[1])] = fetch(
                gw["new", "cached"] + path).decode()
        (tmp / "bodies.json").write_text(json.dumps(bodies))
        bare_port = free_port()
        procs.append(subprocess.Popen([PY, str(HERE / "bare_server.py"), str(bare_port), str(tmp / "bodies.json")]))
        bare = f"http://127.0.0.1:{bare_port}"
        up(bare + urllib.parse.quote(next(iter(bodies))))
        rps: dict[str, list[float]] = {"new": [], "base": [], "bare": []}
        for _ in range(args.load_rounds):
            for who in rps:
                urls = ([bare + urllib.parse.quote(p) for p in bodies] if who == "bare" else
                        [gw[who, "cached"] + p for p in resolve_paths])
                rps[who].append(load(urls, args.seconds, 32, tool)["rps"])
        med = {k: statistics.median(v) for k, v in rps.items()}
        print(f"cached resolver hit ({tool}, {args.load_rounds} alternated rounds): this tree {med['new']:.0f} rps, "
              f"baseline {med['base']:.0f} rps, bare aiohttp {med['bare']:.0f} rps | this tree / bare "
              f"{med['new'] / med['bare']:.2f} (target >= 0.6), baseline / bare {med['base'] / med['bare']:.2f}, "
              f"this tree / baseline {med['new'] / med['base']:.2f}")

        first = members[0][1]
        drs_paths = [f"{DRS}/objects/{r['did']}" for r in json.loads(fetch(f"{first}/index/index?limit=50"))["records"]]
        for path in drs_paths:
            for tree in trees:
                for _ in range(3):  # every worker's cache, most likely
                    fetch(gw[tree, "cached"] + path)
        bases = {"new uncached": gw["new", "uncached"], "base uncached": gw["base", "uncached"], "member": first,
                 "new cached": gw["new", "cached"], "base cached": gw["base", "cached"]}
        got = load_alternated({who: [url + p for p in drs_paths] for who, url in bases.items()}, args.seconds, 32,
                              tool, args.load_rounds)
        med = {who: figures["rps"] for who, figures in got.items()}
        print(f"DRS GET /objects ({tool}, 32 connections, {args.load_rounds} alternated rounds): uncached this tree "
              f"{med['new uncached']:.0f} rps, baseline {med['base uncached']:.0f}, the member itself "
              f"{med['member']:.0f} | this tree / member {med['new uncached'] / med['member']:.2f} (target >= 0.4), "
              f"baseline / member {med['base uncached'] / med['member']:.2f}, this tree / baseline "
              f"{med['new uncached'] / med['base uncached']:.2f} | cached this tree {med['new cached']:.0f} rps, "
              f"baseline {med['base cached']:.0f}, this tree / baseline {med['new cached'] / med['base cached']:.2f}")
    finally:
        stop_all(procs)


if __name__ == "__main__":
    main()
