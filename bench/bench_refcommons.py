"""Throughput of the reference commons' hottest reads against a bare aiohttp baseline.

Measures ``GET /index/index/{guid}`` and ``GET /ga4gh/drs/v1/objects/{id}`` on a standalone reference
commons (default settings, JSON access logs on, written to /dev/null) and a bare aiohttp handler that
returns the very same bytes, each in its own process, driven by the same load tool (``bench/load.py``)
in a third process (``wrk`` when installed, else ``bench/load.py``). Prints requests/s for each and the
ratio commons/bare.

    python bench/bench_refcommons.py [--seconds 5] [--concurrency 32] [--guids 50]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not come up")


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.read()


def stop_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=10)


def load(urls: list[str], seconds: float, concurrency: int, tool: str) -> dict:
    """Throughput and latency of GETs over ``urls``; an error if any answer was not 2xx (a benchmark of
    error responses would measure the wrong thing)."""
    if tool == "wrk":
        import wrk

        result = wrk.run(urls, concurrency, seconds)
    else:
        out = subprocess.run(
            [PY, str(HERE / "load.py"), *urls, "--seconds", str(seconds), "--concurrency", str(concurrency)],
            check=True, capture_output=True, text=True,
        )
        result = json.loads(out.stdout)
    if result.get("errors"):
        raise SystemExit(f"load: {result['errors']} of {result.get('requests', '?')} requests to {urls[0]} failed"
                         + (f" ({result['error_detail']})" if result.get("error_detail") else ""))
    return result


def load_alternated(variants: dict[str, list[str]], seconds: float, concurrency: int, tool: str,
                    rounds: int) -> dict[str, dict]:
    """:func:`load` of each variant (name → URLs) ``rounds`` times, the order reversed every other round, so a
    shared machine's slow spell hits every variant alike; per variant the median of each figure."""
    runs: dict[str, list[dict]] = {name: [] for name in variants}
    for n in range(rounds):
        for name in (list(variants) if n % 2 == 0 else list(variants)[::-1]):
            runs[name].append(load(variants[name], seconds, concurrency, tool))
    return {name: {key: statistics.median(r[key] for r in results) for key in ("rps", "p50_ms", "p99_ms")}
            for name, results in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--guids", type=int, default=50)
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto",
                        help="load generator: wrk (Debian package) when installed, else bench/load.py")
    parser.add_argument("--log-level", default="info",
                        help="commons log level; info (default) includes one JSON access-log line per request")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    import wrk

    tool = ("wrk" if wrk.available() else "python") if args.tool == "auto" else args.tool

    cport, bport = free_port(), free_port()
    commons_url, bare_url = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{bport}"
    procs: list[subprocess.Popen] = []
    try:
        procs.append(subprocess.Popen(
            [PY, "-m", "gateway", "refcommons", "serve", "--port", str(cport), "--prefix", "dg.BEN1",
             "--seed", "3", "--subjects", "500", "--log-level", args.log_level],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        wait_until_up(commons_url + "/index/_status")
        records = json.loads(fetch(f"{commons_url}/index/index?limit={args.guids}"))["records"]
        guids = [r["did"] for r in records]
        # the same paths and bytes for the baseline
        bodies: dict[str, str] = {}
        targets = {"indexd GET /index/index/{guid}": [], "DRS GET /objects/{id}": []}
        for guid in guids:  # prefixed GUIDs with a raw "/", as the gen3 SDK and drsclient send them
            for name, path in (
                ("indexd GET /index/index/{guid}", f"/index/index/{guid}"),
                ("DRS GET /objects/{id}", f"/ga4gh/drs/v1/objects/{guid}"),
            ):
                bodies[path] = fetch(commons_url + path).decode()
                targets[name].append(path)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
            json.dump(bodies, fh)
        procs.append(subprocess.Popen([PY, str(HERE / "bare_server.py"), str(bport), fh.name]))
        wait_until_up(bare_url + targets["DRS GET /objects/{id}"][0])

        print(f"load tool: {tool}, {args.concurrency} connections, {args.seconds:g} s per run, "
              f"commons log level {args.log_level}")
        print(f"{'endpoint':34} {'commons rps':>12} {'bare rps':>10} {'ratio':>7} {'p99 ms (c/b)':>14}")
        for name, paths in targets.items():
            c = load([commons_url + p for p in paths], args.seconds, args.concurrency, tool)
            b = load([bare_url + p for p in paths], args.seconds, args.concurrency, tool)
            if c["errors"] or b["errors"]:
                print(f"  errors: commons {c['errors']}, bare {b['errors']}")
            ratio = c["rps"] / b["rps"] if b["rps"] else float("nan")
            print(f"{name:34} {c['rps']:12.0f} {b['rps']:10.0f} {ratio:7.2f} {c['p99_ms']:6.1f}/{b['p99_ms']:<6.1f}")
    finally:
        stop_all(procs)


if __name__ == "__main__":
    main()
