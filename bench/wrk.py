"""Drive ``wrk`` (Debian package ``wrk``) over a rotating list of paths and parse its report.

Same output dict as :func:`bench.load.run`: requests, errors, rps, p50_ms, p99_ms.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from urllib.parse import urlsplit

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def available() -> bool:
    return shutil.which("wrk") is not None


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if not m:
        raise ValueError(f"unparsable wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run(urls: list[str], concurrency: int, seconds: float, threads: int = 1, cpus: str | None = None) -> dict:
    """wrk's report over ``urls``; ``cpus``: a CPU list wrk is pinned to (``taskset -c``)."""
    base = urlsplit(urls[0])
    paths = [(lambda p: p.path + (f"?{p.query}" if p.query else ""))(urlsplit(u)) for u in urls]
    script = (
        f"local paths = {json.dumps(paths).replace('[', '{').replace(']', '}')}\n"
        "local i = 0\n"
        "request = function()\n  i = i % #paths + 1\n  return wrk.format('GET', paths[i])\nend\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as fh:
        fh.write(script)
        fh.flush()
        out = subprocess.run(
            [*(["taskset", "-c", cpus] if cpus else []), "wrk", "-t", str(threads), "-c", str(concurrency),
             "-d", f"{int(seconds)}s", "--latency", "-s", fh.name, f"{base.scheme}://{base.netloc}"],
            check=True, capture_output=True, text=True,
        ).stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(g) for g in socket_errors.groups()) if socket_errors else 0
    )
    return {
        "requests": requests,
        "errors": errors,
        "error_detail": "; ".join(m.group(0) for m in (non2xx, socket_errors) if m),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(re.search(r"\s50%\s+(\S+)", out).group(1)),
        "p99_ms": _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
    }
