"""The gateway scaled out on one machine, as a platform operator runs it (issue 15): two gateway processes on one
PostgreSQL store and one Redis cache, behind nginx configured by the shipped ``deploy/nginx.conf`` (adapted to
127.0.0.1 and free ports, nothing else changed), federating two standalone reference commons; every part a real
process (``python -m gateway serve``, ``python -m gateway refcommons serve``, Debian's ``nginx`` — installed by
``.ci/nginx`` when missing — a ``postgres`` of the test's own, a ``redis-server`` of the test's own).

One scenario, in order, each step depending on the state the previous one left:

1. a commons joins through one replica and is approved through the other; each replica at once serves the
   objects of both commons (shared state is the store's, never a process's);
2. ``/metrics`` of the two replicas, scraped directly, together count exactly the requests served through nginx;
3. one replica is SIGKILLed under load through nginx: at most 0.1 % of the requests fail; the replica restarted
   on its port serves what was joined before it died;
4. PostgreSQL crashes under both replicas: through nginx, the routes that need the store answer 503 with
   ``Retry-After`` within ``store.timeout``, cached DRS objects still 200; PostgreSQL back, the same routes answer
   200 again from the same gateway processes (no restart).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import yaml
from postgres_server import OwnPostgres
from processes import Processes
from redis_server import OwnRedis
from servers import free_port

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx.conf"
DRS_ROUTE = "/ga4gh/drs/v1/objects/{object_id}"
ADMIN_TOKEN = "scale-admin-token"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
STORE_TIMEOUT = 1.0
RETRY_AFTER = 2
LOAD_SECONDS = 6.0
KILL_AFTER = 2.0
CONCURRENCY = 64
MAX_FAILED_SHARE = 0.001


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if found is None:
        pytest.fail("no nginx: `make test` installs Debian's nginx (.ci/nginx)", pytrace=False)
    return found


def nginx_config(template: str, listen: int, replicas: list[int], workdir: Path) -> str:
    """``deploy/nginx.conf`` with the compose names replaced by loopback ports, its logs and temporary files in
    ``workdir``. Fails if the shipped file no longer has what is replaced (the test would run something else)."""
    upstreams = re.findall(r"server gateway-\d+:8080", template)
    assert len(upstreams) == len(replicas), f"deploy/nginx.conf upstreams changed: {upstreams}"
    text = template
    for upstream, port in zip(upstreams, replicas, strict=True):
        text = text.replace(upstream, f"server 127.0.0.1:{port}", 1)
    replacements = {
        "listen 8080;": f"listen 127.0.0.1:{listen};",
        "access_log /dev/stdout;": "access_log off;",
        "error_log  /dev/stderr warn;": f"error_log {workdir}/nginx-error.log warn;",
        "http {": "http {\n" + "".join(f"    {kind}_temp_path {workdir}/nginx-{kind};\n"
                                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")),
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new, 1)
    head = f"daemon off;\npid {workdir}/nginx.pid;\nerror_log {workdir}/nginx-error.log warn;\n"
    if os.geteuid() == 0:
        head += "user root;\n"  # worker processes that can read and write this test's (private) directory
    return head + text


def counted(metrics_text: str) -> float:
    """``gateway_http_requests_total`` of 200 answers to DRS object GETs in one replica's exposition."""
    total = 0.0
    for line in metrics_text.splitlines():
        if (line.startswith("gateway_http_requests_total{") and f'route="{DRS_ROUTE}"' in line
                and 'status="200"' in line and 'method="GET"' in line):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def scrape(ports: list[int]) -> float:
    async with httpx.AsyncClient(timeout=5) as client:
        texts = [(await client.get(f"http://127.0.0.1:{p}/metrics")).text for p in ports]
    return sum(counted(t) for t in texts)


async def load(url_of: Any, ids: list[str], seconds: float, on_the_way: Any) -> Counter[str]:
    """``CONCURRENCY`` closed-loop clients GETting DRS objects through ``url_of`` for ``seconds``; ``on_the_way``
    runs meanwhile. Each request's outcome is counted: its status, or the client error's type."""
    outcomes: Counter[str] = Counter()
    stop_at = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=10)

    async def client(n: int) -> None:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            i = n
            while time.monotonic() < stop_at:
                try:
                    async with session.get(url_of(ids[i % len(ids)])) as r:
                        await r.read()
                        outcomes[str(r.status)] += 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    outcomes[type(exc).__name__] += 1
                i += CONCURRENCY

    await asyncio.gather(on_the_way(), *(client(n) for n in range(CONCURRENCY)))
    return outcomes


def join_body(base_url: str, name: str, prefix: str) -> dict[str, Any]:
    return {"name": name, "base_url": base_url, "kind": "gen3", "prefixes": [prefix], "contact": "ops@example.org"}


async def test_two_replicas_behind_nginx_on_postgres_and_redis(tmp_path: Path, own_postgres: OwnPostgres) -> None:
    nginx = nginx_binary()
    redis = OwnRedis()
    procs = Processes(tmp_path)
    try:
        await _scenario(tmp_path, procs, own_postgres, redis, nginx)
    finally:
        procs.stop_all()
        redis.kill()


async def _scenario(tmp_path: Path, procs: Processes, postgres: OwnPostgres, redis: OwnRedis, nginx: str) -> None:
    # --- two standalone commons, two replicas on one store and cache, nginx in front -------------------------
    commons = {}
    for name, prefix, seed in (("one", "dg.SCL1", 7), ("two", "dg.SCL2", 11)):
        port = free_port()
        procs.gateway(f"commons-{name}", "refcommons", "serve", "--host", "127.0.0.1", "--port", str(port),
                      "--prefix", prefix, "--seed", str(seed), "--subjects", "12")
        commons[name] = (prefix, f"http://127.0.0.1:{port}")
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "store": {"url": postgres.url, "timeout": STORE_TIMEOUT, "retry_after": RETRY_AFTER},
        "cache": {"url": redis.url}, "refcommons": {"enabled": False}, "admin_token": ADMIN_TOKEN,
        "health": {"interval": 2.0, "timeout": 1.0}, "shutdown_timeout": 2.0,
    }))
    replicas = {name: free_port() for name in ("gateway-1", "gateway-2")}

    def start_replica(name: str) -> None:
        procs.gateway(name, "serve", "--config", str(config), "--host", "127.0.0.1", "--port",
                      str(replicas[name]), "--workers", "1")

    for name in replicas:
        start_replica(name)
    lb_port = free_port()
    (tmp_path / "nginx.conf").write_text(nginx_config(NGINX_CONF.read_text(), lb_port, list(replicas.values()),
                                                      tmp_path))
    procs.start("nginx", [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")])
    for name, (_, base) in commons.items():
        procs.wait_http(f"commons-{name}", base + "/index/_status")
    for name, port in replicas.items():
        procs.wait_http(name, f"http://127.0.0.1:{port}/_status")
    lb = f"http://127.0.0.1:{lb_port}"
    procs.wait_http("nginx", lb + "/_lb")
    one, two = (f"http://127.0.0.1:{port}" for port in replicas.values())

    async with httpx.AsyncClient(timeout=10) as client:
        ids: dict[str, list[str]] = {}
        for name, (_, base) in commons.items():
            listing = (await client.get(f"{base}/index/index", params={"limit": 8})).json()
            ids[name] = [r["did"] for r in listing["records"]]
            assert len(ids[name]) == 8

        # --- 1. joined through one replica, approved through the other, served by both ----------------------
        for name, (joiner, approver) in {"one": (one, two), "two": (two, one)}.items():
            prefix, base = commons[name]
            joined = await client.post(f"{joiner}/registry/v1/commons", json=join_body(base, f"Scale {name}", prefix))
            assert joined.status_code == 201, joined.text
            member = joined.json()["id"]
            approved = await client.post(f"{approver}/registry/v1/commons/{member}/approve", headers=ADMIN)
            assert approved.status_code == 200 and approved.json()["status"] == "active", approved.text
        every_id = ids["one"] + ids["two"]
        for replica in (one, two):
            for object_id in (ids["one"][0], ids["two"][0]):
                r = await _eventually_200(client, f"{replica}/ga4gh/drs/v1/objects/{object_id}", within=5.0)
                assert r.json()["id"] == object_id

        # --- 2. the replicas' own /metrics count what nginx served ------------------------------------------
        before = await scrape(list(replicas.values()))
        served = 0
        for i in range(60):
            r = await client.get(f"{lb}/ga4gh/drs/v1/objects/{every_id[i % len(every_id)]}")
            assert r.status_code == 200, r.text
            served += 1
        assert await scrape(list(replicas.values())) - before == served
        per_replica = [counted((await client.get(f"{u}/metrics")).text) for u in (one, two)]
        assert all(n > 0 for n in per_replica), f"nginx sent everything to one replica: {per_replica}"
        assert (await client.get(f"{lb}/metrics")).status_code == 404  # per-replica metrics are not public

    # --- 3. one replica killed under load: at most 0.1 % of the requests fail ---------------------------------
    async def kill_one() -> None:
        await asyncio.sleep(KILL_AFTER)
        procs.kill("gateway-1")

    outcomes = await load(lambda i: f"{lb}/ga4gh/drs/v1/objects/{i}", every_id, LOAD_SECONDS, kill_one)
    total = sum(outcomes.values())
    failed = total - outcomes["200"]
    assert total >= 500, f"too little load to judge: {outcomes}"
    assert failed <= MAX_FAILED_SHARE * total, f"{failed} of {total} failed: {outcomes}"
    print(f"\nscale-out: a replica killed under load through nginx: {failed} of {total} requests failed "
          f"({failed / total:.3%}; at most {MAX_FAILED_SHARE:.1%})")

    start_replica("gateway-1")  # back on its port: what was joined before it died is in the store
    procs.wait_http("gateway-1", f"{one}/_status")
    async with httpx.AsyncClient(timeout=10) as client:
        for object_id in (ids["one"][1], ids["two"][1]):
            r = await client.get(f"{one}/ga4gh/drs/v1/objects/{object_id}")
            assert r.status_code == 200, r.text

        # --- 4. PostgreSQL crashes and comes back: 503 fast meanwhile, 200 after, no gateway restart --------
        pids = {name: procs.running[name].pid for name in replicas}
        assert (await client.get(f"{lb}/registry/v1/admins", headers=ADMIN)).status_code == 200
        postgres.stop()
        outage_answers = []
        for _ in range(4):  # nginx alternates: both replicas answer
            started = time.monotonic()
            r = await client.get(f"{lb}/registry/v1/admins", headers=ADMIN)
            outage_answers.append(time.monotonic() - started)
            assert outage_answers[-1] < STORE_TIMEOUT + 1.5, "the store outage was not answered fast"
            assert r.status_code == 503 and r.headers["Retry-After"] == str(RETRY_AFTER), r.text
            assert str(postgres.port) not in r.text
            cached = await client.get(f"{lb}/ga4gh/drs/v1/objects/{every_id[0]}")
            assert cached.status_code == 200, cached.text  # what does not need the store keeps answering
        postgres.start()
        back = time.monotonic()
        for replica in (one, two):
            r = await _eventually_200(client, f"{replica}/registry/v1/admins", within=15.0, headers=ADMIN)
        print(f"scale-out: PostgreSQL down: 503 in {max(outage_answers):.2f} s at most (store.timeout "
              f"{STORE_TIMEOUT:g} s); both replicas 200 again {time.monotonic() - back:.2f} s after it restarted")
        assert {name: procs.running[name].pid for name in replicas} == pids
        assert all(procs.running[name].alive() for name in replicas)


async def _eventually_200(client: httpx.AsyncClient, url: str, *, within: float,
                          headers: dict[str, str] | None = None) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        r = await client.get(url, headers=headers)
        if r.status_code == 200:
            return r
        assert time.monotonic() < deadline, f"{url}: {r.status_code} {r.text[:300]}"
        await asyncio.sleep(0.1)
