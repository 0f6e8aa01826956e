"""OpenTelemetry spans: exported to a real OTLP/HTTP collector when ``tracing.otlp_endpoint`` is set, and the SDK not
even imported when it is not."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from faults import plain_drs, serve
from multidict import CIMultiDict
from servers import running, start_gateway

from gateway.core.traceparent import parse

ROOT = Path(__file__).resolve().parents[3]
DRS = "/ga4gh/drs/v1"
KNOWN = "dg.OTL1/known"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
DOC = {"id": KNOWN, "size": 1, "created_time": "2024-01-01T00:00:00Z",
       "checksums": [{"type": "md5", "checksum": "0" * 32}], "self_uri": "drs://x/known"}


@contextmanager
def collector() -> Iterator[tuple[str, list[bytes]]]:
    """An OTLP/HTTP collector in its own thread (the exporter posts from the SDK's thread, and the final flush from
    the event loop's: a collector on that loop could not answer it). Records each body posted to /v1/traces."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", bodies
    finally:
        server.shutdown()
        server.server_close()


def spans_of(bodies: list[bytes]) -> list:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    found = []
    for body in bodies:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        found += [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
    return found


async def test_a_request_and_its_member_call_are_exported_as_linked_spans():
    with collector() as (endpoint, bodies):
        async with serve(plain_drs({KNOWN: DOC}, delay=0.0)) as member, running(start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
            registry={"members": [{"id": "otl1", "name": "otl1", "base_url": member.url, "kind": "drs",
                                   "prefixes": ["dg.OTL1"]}]},
            health={"interval": 3600.0}, aggregate={"harvest": {"enabled": False}},
            tracing={"otlp_endpoint": endpoint, "service_name": "gw-test"},
        )) as gateway:
            r = await gateway.client.get(f"{DRS}/objects/{KNOWN}", headers={"traceparent": f"00-{TRACE}-{SPAN}-01"})
            assert r.status_code == 200, r.text
            lost = await gateway.client.get("/no/such/route", headers={"traceparent": f"00-{TRACE}-{SPAN}-01"})
            assert lost.status_code == 404
        # stopped: the pipeline flushed
        got = [parse(CIMultiDict(h).get("traceparent")) for _, p, h in member.hits if p.startswith(f"{DRS}/objects/")]
    spans = [s for s in spans_of(bodies) if s.trace_id.hex() == TRACE]
    server = [s for s in spans if s.kind == s.SPAN_KIND_SERVER]
    client = [s for s in spans if s.kind == s.SPAN_KIND_CLIENT]
    assert len(server) == 2, spans
    unmatched = [s for s in server if s.name != f"GET {DRS}/objects/{{object_id}}"]
    assert len(unmatched) == 1 and unmatched[0].status.code == unmatched[0].status.STATUS_CODE_UNSET  # a 404: no error
    assert {a.key: a.value.int_value for a in unmatched[0].attributes}["http.response.status_code"] == 404
    assert "/no/such/route" not in unmatched[0].name  # never the raw path
    server.remove(unmatched[0])
    assert server[0].name == f"GET {DRS}/objects/{{object_id}}" and server[0].parent_span_id.hex() == SPAN
    assert client and all(c.parent_span_id == server[0].span_id for c in client)
    assert got and {tp.span_id for tp in got if tp} == {c.span_id.hex() for c in client}  # the member was told
    assert all(tp and tp.trace_id == TRACE for tp in got)
    attributes = {a.key: a.value for a in server[0].attributes}
    assert attributes["http.response.status_code"].int_value == 200


SCRIPT = """
import asyncio, sys
sys.path.insert(0, "tests/support")
from faults import plain_drs, serve
from servers import running, start_gateway

async def main():
    async with serve(plain_drs({}, delay=0.0)) as member:
        async with running(start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
            registry={"members": [{"id": "m", "name": "m", "base_url": member.url, "kind": "drs",
                                   "prefixes": ["dg.M"]}]},
            health={"interval": 3600.0}, aggregate={"harvest": {"enabled": False}},
        )) as gateway:
            r = await gateway.client.get("/ga4gh/drs/v1/objects/dg.M/x")
            assert r.status_code == 404 and member.hits, (r.status_code, r.text)
    from gateway.core import otel
    assert otel.active() is None
    print(sorted(m for m in sys.modules if m.startswith(OURS)))

OURS = ("opentelemetry.sdk.trace", "opentelemetry.exporter", "opentelemetry.proto")
asyncio.run(main())
"""


def test_without_an_endpoint_the_sdk_is_not_even_imported():
    """What tracing would import (the SDK's tracing, the OTLP exporter and its protobufs) is not, and no pipeline
    exists. (redis-py, when OpenTelemetry is installed, imports its API and the SDK's *metrics* itself: not ours.)"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env = {k: v for k, v in env.items() if not k.startswith("GATEWAY_")}
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
