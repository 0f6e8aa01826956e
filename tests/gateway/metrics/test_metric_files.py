"""Multiprocess mode's values counted in memory and written in batches (gateway/core/metric_files.py), each scenario
in a fresh process with ``PROMETHEUS_MULTIPROC_DIR`` set (the value class is process-wide), the files read back by
``prometheus_client``'s own multiprocess collector, as ``/metrics`` reads them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PRELUDE = textwrap.dedent("""
    import asyncio, json, os, sys
    from prometheus_client import CollectorRegistry, multiprocess
    from gateway.core import metric_files
    from gateway.core.metrics import Metrics

    def in_files(name, **labels):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return sum(s.value for family in registry.collect() for s in family.samples
                   if s.name == name and labels.items() <= s.labels.items())

    def requests():
        return in_files("gateway_http_requests_total", route="/x")

    seen = {}
    m = Metrics()
""")


def run(tmp_path: Path, body: str) -> dict:
    """``body`` after the prelude in a fresh process; what it put in ``seen``."""
    script = PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(seen))\nsys.stdout.flush()\nos._exit(0)\n"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_counts_reach_the_file_when_flushed_and_a_gauge_at_once(tmp_path):
    seen = run(tmp_path, """
        m.request("/x", "GET", 200, 0.01)
        m.request("/x", "GET", 200, 0.01)
        m.health("m0", True)
        seen["before"] = requests()
        seen["duration before"] = in_files("gateway_http_request_duration_seconds_count", route="/x")
        seen["gauge before"] = in_files("gateway_member_healthy", member="m0")
        metric_files.flush()
        seen["after"] = requests()
        seen["duration after"] = in_files("gateway_http_request_duration_seconds_count", route="/x")
        m.request("/x", "GET", 200, 0.01)
        metric_files.flush()
        seen["again"] = requests()
    """)
    assert seen == {"before": 0, "duration before": 0, "gauge before": 1, "after": 2, "duration after": 2,
                    "again": 3}


def test_the_exposition_shows_this_process_counts_exactly(tmp_path):
    seen = run(tmp_path, """
        m.request("/x", "GET", 200, 0.01)
        text = m.exposition().decode()
        seen["exposed"] = [line for line in text.splitlines() if line.startswith("gateway_http_requests_total{")]
    """)
    assert len(seen["exposed"]) == 1 and seen["exposed"][0].endswith(" 1.0")


def test_a_running_app_writes_its_counts_within_the_flush_interval(tmp_path):
    seen = run(tmp_path, """
        async def main():
            flusher = metric_files.metrics_flusher(None)
            await flusher.__anext__()
            m.request("/x", "GET", 200, 0.01)
            seen["at once"] = requests()
            await asyncio.sleep(metric_files.FLUSH_INTERVAL * 2)
            seen["later"] = requests()
            m.request("/x", "GET", 200, 0.01)
            try:
                await flusher.__anext__()  # the app stops: one last flush
            except StopAsyncIteration:
                pass
            seen["stopped"] = requests()
        asyncio.run(main())
    """)
    assert seen == {"at once": 0, "later": 1, "stopped": 2}


def test_a_process_that_exits_normally_writes_its_counts(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", PRELUDE + 'm.request("/x", "GET", 200, 0.01)\n'], env=env, check=True,
                   timeout=60)
    seen = run(tmp_path, 'seen["others"] = requests()')
    assert seen == {"others": 1}


def test_a_forked_child_counts_from_its_own_file_and_never_writes_the_parents_counts(tmp_path):
    seen = run(tmp_path, """
        m.request("/x", "GET", 200, 0.01)  # the parent's, not yet written
        pid = os.fork()
        if pid == 0:
            m.request("/x", "GET", 200, 0.01)
            metric_files.flush()
            os._exit(0)
        os.waitpid(pid, 0)
        seen["child written"] = requests()
        metric_files.flush()
        seen["both"] = requests()
        seen["files"] = len([f for f in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"]) if f.startswith("counter_")])
    """)
    assert seen == {"child written": 1, "both": 2, "files": 2}
