"""``gateway serve --workers 2`` as an operator runs it: a real subprocess on a free port with a SQLite file store and
one DRS member (a fault server in this process). Requests are answered by two worker processes; SIGTERM with a slow
request in flight lets it finish and exits 0; a killed worker is replaced while service continues; the health
prober probes the member once per interval across both workers, not once per worker."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import yaml
from faults import STATE, Server, free_port, plain_drs, serve

from gateway.core.metric_files import FLUSH_INTERVAL

DRS = "/ga4gh/drs/v1"
KNOWN = "dg.WRK1/known"
DOC = {"id": KNOWN, "size": 1, "created_time": "2024-01-01T00:00:00Z",
       "checksums": [{"type": "md5", "checksum": "0" * 32}], "self_uri": "drs://x/known"}
SLOW_ID = "dg.WRK1/slow"
OBJECTS = {KNOWN: DOC, SLOW_ID: DOC | {"id": SLOW_ID, "self_uri": "drs://x/slow"}}
INTERVAL = 0.5
SLOW = 1.5


@asynccontextmanager
async def workers_gateway(tmp_path: Path, member: Server, *, workers: int = 2, **environ: str) -> AsyncIterator[
        tuple[subprocess.Popen[str], str]]:
    port = free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "store": {"url": f"sqlite:///{tmp_path / 'gateway.sqlite3'}"}, "cache": {"url": "memory://"},
        "refcommons": {"enabled": False}, "health": {"interval": INTERVAL, "timeout": 1.0},
        "shutdown_timeout": 5.0,
        "registry": {"members": [{"id": "plain", "name": "Plain", "base_url": member.url, "kind": "drs",
                                  "prefixes": ["dg.WRK1"]}]},
    }))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PROMETHEUS_"))}
    env["PYTHONPATH"] = os.getcwd()
    env.update(environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--config", str(config), "--port", str(port),
         "--workers", str(workers)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        await _until_serving(base, proc, workers)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def _until_serving(base: str, proc: subprocess.Popen[str], workers: int, timeout: float = 30.0) -> None:
    """Until ``workers`` distinct workers have answered (each worker's first request after it is up)."""
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        while len(seen) < workers:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"gateway did not come up: {proc.stderr.read() if proc.stderr else ''}")
            try:
                async with httpx.AsyncClient(base_url=base, timeout=2) as fresh:  # a new connection each time
                    r = await fresh.get("/_status")
                seen.add(r.headers.get("X-Gateway-Worker", "single"))
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        del client


def _children(pid: int) -> set[int]:
    return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}


async def _worker_of_new_connection(base: str) -> tuple[int, str]:
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        r = await client.get(f"{DRS}/objects/{KNOWN}")
    return r.status_code, r.headers["X-Gateway-Worker"]


async def test_two_workers_answer_and_sigterm_drains_in_flight_request(tmp_path):
    async with serve(plain_drs(OBJECTS, delay=SLOW)) as member, workers_gateway(tmp_path, member) as (proc, base):
        answered: list[tuple[int, str]] = []
        deadline = time.monotonic() + 20
        while len(answered) < 12 or len({pid for _, pid in answered}) < 2:  # the kernel picks: under load, unevenly
            answered.append(await _worker_of_new_connection(base))
            assert time.monotonic() < deadline, f"one worker answered all of {len(answered)}"
        assert all(status == 200 for status, _ in answered)
        pids = {int(pid) for _, pid in answered}
        assert pids == _children(proc.pid) and len(pids) == 2  # the parent's two children answered
        # whichever worker answers: both counted, the other worker's counts written within its flush interval
        counted = []
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            deadline = time.monotonic() + 8 * FLUSH_INTERVAL
            while not counted or (counted[-1] < len(answered) and time.monotonic() < deadline):
                await asyncio.sleep(FLUSH_INTERVAL / 5)
                text = (await client.get("/metrics")).text
                line = next(x for x in text.splitlines() if x.startswith("gateway_http_requests_total{")
                            and 'route="/ga4gh/drs/v1/objects/{object_id}"' in x and 'status="200"' in x)
                counted.append(float(line.rsplit(" ", 1)[1]))
        assert counted[-1] == len(answered), counted

        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            slow = asyncio.create_task(client.get(f"{DRS}/objects/{SLOW_ID}"))  # not cached: asks the member
            while not _member_busy(member, SLOW_ID.rsplit("/", 1)[1]):
                await asyncio.sleep(0.02)
            proc.send_signal(signal.SIGTERM)
            response = await slow
        assert response.status_code == 200 and response.json()["id"] == SLOW_ID  # finished, not cut
        assert await asyncio.to_thread(proc.wait, 15) == 0
        stderr = proc.stderr.read() if proc.stderr else ""
        assert "Traceback" not in stderr


def _member_busy(member: Server, object_id: str) -> bool:
    """Is the member answering ``object_id`` (not only the prober's calls)?"""
    return bool(member.app[STATE]["in_flight"]) and any(object_id in hit[1] for hit in member.hits)


async def test_a_killed_worker_is_replaced_and_service_continues(tmp_path):
    async with serve(plain_drs({KNOWN: DOC}, delay=0.0)) as member, workers_gateway(tmp_path, member) as (proc, base):
        before = _children(proc.pid)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        failures = 0
        deadline = time.monotonic() + 15
        while True:  # service goes on throughout (the survivor answers), and the victim is replaced
            try:
                status, _ = await _worker_of_new_connection(base)
                failures += status != 200
            except httpx.TransportError:
                failures += 1
            now = _children(proc.pid)
            if len(now) == 2 and victim not in now:
                break
            assert time.monotonic() < deadline, f"not replaced: {now}"
            await asyncio.sleep(0.05)
        assert failures == 0
        replacement = (now - before).pop()
        seen: set[str] = set()
        while str(replacement) not in seen:  # the new worker serves
            seen.add((await _worker_of_new_connection(base))[1])
            assert time.monotonic() < deadline + 15, "the replacement never answered"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 15) == 0


async def test_health_prober_runs_once_per_slot_across_workers(tmp_path):
    async with serve(plain_drs({KNOWN: DOC}, delay=0.0)) as member, workers_gateway(tmp_path, member) as (proc, _):
        start = len(member.hits)
        t0 = time.time()
        await asyncio.sleep(INTERVAL * 6)
        asked = [h for h in member.hits[start:] if h[1].endswith("/service-info")]
        probes = [h for h in asked if h[2].get("User-Agent") != "gateway-registry-check"]
        rechecks = [h for h in asked if h[2].get("User-Agent") == "gateway-registry-check"]  # what it offers
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 15) == 0
    slots = (time.time() - t0) / INTERVAL
    assert 3 <= len(probes) <= slots + 1, f"{len(probes)} probes in {slots:.1f} intervals (one per interval expected)"
    assert len(rechecks) <= slots + 1, f"{len(rechecks)} capability re-checks in {slots:.1f} intervals"


async def test_workers_die_with_a_killed_parent(tmp_path):
    metrics = tmp_path / "metrics"  # ours: a killed parent cannot remove the temporary one it would make
    metrics.mkdir()
    async with serve(plain_drs({KNOWN: DOC}, delay=0.0)) as member, \
            workers_gateway(tmp_path, member, PROMETHEUS_MULTIPROC_DIR=str(metrics)) as (proc, _):
        workers = _children(proc.pid)
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 5
        while any(Path(f"/proc/{pid}").exists() and "zombie" not in _state(pid) for pid in workers):
            assert time.monotonic() < deadline, "orphaned workers still running"
            await asyncio.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split("\n")[0].lower()
    except (OSError, IndexError):
        return "zombie"


def test_workers_that_keep_failing_at_start_make_the_parent_exit_1(tmp_path):
    """A store no worker can open: each worker exits at start; the parent gives up (exit 1), not restarts forever."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PROMETHEUS_"))}
    env.update({"PYTHONPATH": os.getcwd(), "GATEWAY_STORE__URL": "redis://127.0.0.1:9/0",
                "GATEWAY_REFCOMMONS__ENABLED": "false"})
    result = subprocess.run([sys.executable, "-m", "gateway", "serve", "--port", str(free_port()), "--workers", "2"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "workers keep exiting at start" in result.stderr and "cannot open the store" in result.stderr
    assert "Traceback" not in result.stderr


def test_restart_rules():
    from gateway.cli.workers import START_WINDOW, failed_at_start, restart_delay

    assert [restart_delay(n) for n in (0, 1, 2, 3, 4, 10)] == [0.5, 0.5, 1.0, 2.0, 4.0, 10.0]
    assert failed_at_start(100.0, 100.0 + START_WINDOW - 0.1) and not failed_at_start(100.0, 100.0 + START_WINDOW)


def _burst_owners(port: int, count: int) -> list[str]:
    """``count`` connections opened back to back (as fast as a C load generator opens its pool), then one request
    on each: the worker that answered each connection."""
    connections = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    try:
        for conn in connections:
            conn.sendall(b"GET /_status HTTP/1.1\r\nHost: gateway\r\n\r\n")
        owners = []
        for conn in connections:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(65536)
                assert chunk, "connection closed"
                head += chunk
            owners.append(next(line.split(":", 1)[1].strip() for line in head.decode("latin-1").split("\r\n")
                               if line.lower().startswith("x-gateway-worker:")))
        return owners
    finally:
        for conn in connections:
            conn.close()


async def test_a_burst_of_keep_alive_connections_is_spread_over_the_workers(tmp_path):
    """64 connections opened at once (a load balancer's keep-alive pool, a benchmark): each worker holds a fair
    share. With one socket shared by all workers, whichever wakes first accepted nearly all of them (asyncio accepts
    up to its backlog per wake-up) and the others idled; per-slot ``SO_REUSEPORT`` sockets let the kernel spread them
    (a binomial split: below 20 % for one worker has a chance of about 1e-6)."""
    async with serve(plain_drs({KNOWN: DOC}, delay=0.0)) as member, workers_gateway(tmp_path, member) as (proc, base):
        owners = await asyncio.to_thread(_burst_owners, int(base.rsplit(":", 1)[1]), 64)
        shares = {pid: owners.count(pid) for pid in set(owners)}
        assert len(shares) == 2 and min(shares.values()) >= 0.2 * len(owners), shares
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 15) == 0
