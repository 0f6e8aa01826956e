"""``GET /metrics`` against real gateways and real members: the counters move with the right labels.

Each test starts a gateway on 127.0.0.1 with a standalone reference commons (or a dead port) as its member, sends
real requests, then scrapes ``/metrics`` and reads the exposition with prometheus_client's own parser.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import textwrap
from contextlib import AsyncExitStack
from pathlib import Path

from drs_federation import open_file
from passport_kit import dev_broker, passports_config
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port, running, start_commons, start_gateway

DRS = "/ga4gh/drs/v1"
OBJECT_ROUTE = DRS + "/objects/{object_id}"
ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "docs" / "grafana-dashboard.json"
PLAIN = {"store": {"url": "sqlite:///:memory:"}, "refcommons": {"enabled": False}}


def member(mid: str, url: str, prefix: str, kind: str = "gen3") -> dict:
    return {"id": mid, "name": mid.upper(), "base_url": url, "kind": kind, "prefixes": [prefix],
            "auth": {"type": "none"}}


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample: (name, labels) → value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples(text).items() if n == name and want <= ls)


def served_names(text: str) -> set[str]:
    """Every series name a query may use: the families' sample names, also for families with no sample yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
                    "gauge": ("",)}.get(family.type, ("",))
        names.update(family.name + s for s in suffixes)
    return names


async def scrape(gateway) -> str:
    r = await gateway.client.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


async def test_requests_members_caches_and_store_are_counted_by_template():
    async with AsyncExitStack() as stack:
        commons = await stack.enter_async_context(running(start_commons("dg.MX01", 5, 5)))
        gateway = await stack.enter_async_context(running(start_gateway(
            **PLAIN, registry={"members": [member("mx", commons.base_url, "dg.MX01")]})))
        guid = open_file(commons).guid
        for _ in range(2):  # a miss (asks the member), then a hit
            r = await gateway.client.get(f"{DRS}/objects/{guid}")
            assert r.status_code == 200, r.text
        assert (await gateway.client.get(f"{DRS}/objects/dg.MX01/00000000-0000-4000-8000-000000000000")
                ).status_code == 404
        assert (await gateway.client.get("/no/such/path/" + "x" * 40)).status_code == 404
        bulk = await gateway.client.post(f"{DRS}/objects", json={"bulk_object_ids": [guid, open_file(commons, 1).guid]})
        assert bulk.status_code == 200, bulk.text
        bare = open_file(commons, 2).guid.split("/", 1)[1]  # no prefix: every member is asked
        assert (await gateway.client.get(f"/resolver/v1/resolve?id={bare}")).status_code == 200
        text = await scrape(gateway)

    assert value(text, "gateway_http_requests_total", route=OBJECT_ROUTE, method="GET", status="200") == 2
    assert value(text, "gateway_http_requests_total", route=OBJECT_ROUTE, method="GET", status="404") == 1
    assert value(text, "gateway_http_request_duration_seconds_count", route=OBJECT_ROUTE, method="GET") == 3
    assert value(text, "gateway_http_requests_total", route="unmatched", status="404") == 1
    assert guid not in text and "xxxxxxxx" not in text  # raw paths never become labels
    # the GETs: a miss, a hit, a miss (the 404); the bulk: guid a hit (as rendered for the GET), the other a miss
    assert value(text, "gateway_cache_lookups_total", cache="drs_objects", result="miss") == 3
    assert value(text, "gateway_cache_lookups_total", cache="drs_objects", result="hit") == 2
    assert value(text, "gateway_upstream_calls_total", member="mx", outcome="2xx") >= 1
    assert value(text, "gateway_upstream_call_duration_seconds_count", member="mx") >= 1
    assert value(text, "gateway_store_operation_duration_seconds_count") > 0  # the registry read at start
    assert value(text, "gateway_bulk_ids_count", operation="resolve") == 1
    assert value(text, "gateway_bulk_ids_sum", operation="resolve") == 1  # the bulk's one id not cached rendered
    assert value(text, "gateway_fanout_members_count", kind="resolve") == 1
    assert value(text, "gateway_fanout_members_sum", kind="resolve") == 1


async def test_a_dead_member_counts_errors_and_retries():
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused, retried
    async with running(start_gateway(**PLAIN, registry={"members": [member("gone", dead, "dg.GONE")]},
                                     upstream={"retries": 1, "backoff": 0.01})) as gateway:
        r = await gateway.client.get(f"{DRS}/objects/dg.GONE/00000000-0000-4000-8000-000000000001")
        assert r.status_code in (502, 503, 504), r.text
        text = await scrape(gateway)
    assert value(text, "gateway_upstream_retries_total", member="gone") >= 1
    assert value(text, "gateway_upstream_errors_total", member="gone", kind="unavailable") >= 1
    assert value(text, "gateway_upstream_calls_total", member="gone", outcome="unavailable") >= 1
    assert value(text, "gateway_http_requests_total", route=OBJECT_ROUTE, status=str(r.status_code)) == 1


async def test_passport_admissions_are_counted_by_outcome(tmp_path):
    async with dev_broker(tmp_path / "broker") as broker, running(start_gateway(
            **PLAIN, passports=passports_config(broker.url).model_dump(mode="json"))) as gateway:
        url = f"{DRS}/objects/dg.NONE/00000000-0000-4000-8000-000000000002/access/s3"
        good = broker.passport([broker.visa("phs000001")])
        assert (await gateway.client.post(url, json={"passports": [good]})).status_code == 404  # admitted; no member
        refused = await gateway.client.post(url, json={"passports": ["not.a.passport"]})
        assert refused.status_code in (400, 401, 403), refused.text
        text = await scrape(gateway)
    assert value(text, "gateway_passport_decisions_total", stage="admit", outcome="accepted") == 1
    assert value(text, "gateway_passport_decisions_total", stage="admit",
                 outcome=f"rejected_{refused.status_code}") == 1
    assert value(text, "gateway_http_requests_total", route=DRS + "/objects/{object_id}/access/{access_id}",
                 method="POST", status="404") == 1


async def test_many_gateways_in_one_process_keep_their_own_counts():
    async with running(start_gateway(**PLAIN)) as one, running(start_gateway(**PLAIN)) as two:
        for _ in range(3):
            assert (await one.client.get("/_status")).status_code == 200
        first, second = await scrape(one), await scrape(two)
    assert value(first, "gateway_http_requests_total", route="/_status", status="200") == 3
    assert value(second, "gateway_http_requests_total", route="/_status", status="200") == 0


async def test_metrics_can_be_turned_off():
    async with running(start_gateway(**PLAIN, metrics={"enabled": False})) as gateway:
        assert (await gateway.client.get("/metrics")).status_code == 404
        assert (await gateway.client.get("/_status")).status_code == 200


async def test_the_dashboard_queries_only_served_metric_names():
    async with running(start_gateway(**PLAIN)) as gateway:
        served = served_names(await scrape(gateway))
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 8
    used = {name for e in exprs for name in re.findall(r"\bgateway_[a-z_]+\b", e)}
    assert used and used <= served, sorted(used - served)
    families = {n for n in served if n.startswith("gateway_")}
    for wanted in ("gateway_http_requests_total", "gateway_upstream_calls_total", "gateway_cache_lookups_total",
                   "gateway_passport_decisions_total", "gateway_fanout_members_bucket", "gateway_bulk_ids_bucket",
                   "gateway_export_jobs_total", "gateway_store_errors_total", "gateway_member_healthy",
                   "gateway_upstream_retries_total", "gateway_breaker_open"):
        assert wanted in families, wanted


RECORD = textwrap.dedent("""
    from gateway.core.metrics import Metrics
    Metrics().request("/_status", "GET", 200, 0.01)
""")
EXPOSE = textwrap.dedent("""
    import sys
    from gateway.core.metrics import Metrics
    sys.stdout.write(Metrics().exposition().decode())
""")


def test_several_processes_are_summed_in_multiprocess_mode(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    for _ in range(2):  # two workers, each counting one request, then gone
        subprocess.run([sys.executable, "-c", RECORD], env=env, check=True, timeout=60)
    out = subprocess.run([sys.executable, "-c", EXPOSE], env=env, check=True, timeout=60,
                         capture_output=True, text=True).stdout
    assert value(out, "gateway_http_requests_total", route="/_status", method="GET", status="200") == 2
    assert value(out, "gateway_http_request_duration_seconds_count", route="/_status") == 2


async def test_export_jobs_and_cohort_fanout_are_counted(tmp_path):
    from jobs_env import OPEN, job_in, member, start_export_gateway, start_job

    async with AsyncExitStack() as stack:
        commons = await stack.enter_async_context(running(start_commons("dg.AAA1", 1, 10)))
        gateway = await stack.enter_async_context(running(start_export_gateway(
            [member("aaa1", commons.base_url)], store={"url": f"sqlite:///{tmp_path / 'jobs.sqlite3'}"},
            directory=tmp_path / "jobs")))
        url, _ = await start_job(gateway, {"index": "file", "filter": OPEN, "format": "manifest"})
        await job_in(gateway, url, "done")
        text = await scrape(gateway)
    assert value(text, "gateway_export_jobs_total", event="submitted") == 1
    assert value(text, "gateway_export_jobs_total", event="done") == 1
    assert value(text, "gateway_fanout_members_count", kind="cohort_counts") >= 1
    assert value(text, "gateway_upstream_calls_total", member="aaa1", outcome="2xx") >= 1


async def test_member_health_is_a_gauge_set_by_the_background_prober():
    dead = f"http://127.0.0.1:{free_port()}"
    async with AsyncExitStack() as stack:
        commons = await stack.enter_async_context(running(start_commons("dg.HL01", 6, 5)))
        gateway = await stack.enter_async_context(running(start_gateway(
            **PLAIN, health={"interval": 0.2, "timeout": 1.0, "failure_threshold": 1},
            registry={"members": [member("live", commons.base_url, "dg.HL01"), member("gone", dead, "dg.GONE")]})))
        for _ in range(100):  # the prober runs in the background, outside any request
            text = await scrape(gateway)
            if (("gateway_member_healthy", frozenset({("member", "gone")})) in samples(text)
                    and ("gateway_member_healthy", frozenset({("member", "live")})) in samples(text)):
                break
            await asyncio.sleep(0.1)
    assert value(text, "gateway_member_healthy", member="gone") == 0
    assert value(text, "gateway_member_healthy", member="live") == 1


async def test_store_latency_and_errors_are_counted_when_the_store_dies(own_redis):
    async with running(start_gateway(store={"url": own_redis.url, "timeout": 0.5, "key_prefix": "metrics-t:"},
                                     refcommons={"enabled": False})) as gateway:
        assert (await gateway.client.get("/registry/v1/commons/nobody/health")).status_code in (200, 404)
        before = await scrape(gateway)
        own_redis.kill()
        r = await gateway.client.get("/registry/v1/commons/nobody/health")
        assert r.status_code == 503, r.text
        text = await scrape(gateway)
    assert value(before, "gateway_store_errors_total") == 0
    assert value(before, "gateway_store_operation_duration_seconds_count") > 0
    assert value(text, "gateway_store_errors_total") >= 1
    assert value(text, "gateway_http_requests_total", route="/registry/v1/commons/{id}/health", status="503") == 1


async def test_the_cache_breaker_state_is_a_gauge(own_redis):
    async with running(start_gateway(**PLAIN, cache={"url": own_redis.url, "timeout": 0.3, "key_prefix": "mt:",
                                                     "breaker_failures": 1, "breaker_cooldown": 30})) as gateway:
        own_redis.kill()
        for _ in range(3):  # every cache call a miss, the breaker open after the first failure
            assert (await gateway.client.get("/resolver/v1/resolve?id=dg.NONE/x")).status_code in (404, 503)
        text = await scrape(gateway)
    assert value(text, "gateway_breaker_open", breaker="cache") == 1
