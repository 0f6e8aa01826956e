"""Attacker test: hostile members must not make the gateway tell an anonymous caller what listens inside its
network. Members on 127.0.0.1 that are not listening, reset the connection, hang, answer 500 with a secret-looking
body, answer garbage, or redirect to an internal URL; each is met through every route that relays a member's
failure (resolver, bulk resolver, DRS object, DRS access, indexd, bulk indexd, dataguids, DRSHub, cohort search).

Every answer names the member id and a generic kind of failure, never a host, port, IP, URL, exception text or
class, or anything the member sent; the detail (the member's URL, what went wrong, what it said) is in a warning
logged under the request's id, so an operator can find it from the ``X-Request-Id`` a caller reports.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import orjson
import pytest
import pytest_asyncio
from drs_fakes import drs_doc
from faults import HOSTILE_MODES, free_port, hostile, serve
from servers import Server, start_gateway

from gateway.core import egress, errors, http_client, redirects
from gateway.core.logs import JsonFormatter

pytestmark = pytest.mark.asyncio(loop_scope="module")

UUID = "6f1c0e2a-9b1d-4c3e-8f00-0123456789ab"
MARKER = "SeCrEt-7Q4Z"
INTERNAL_HOST = "10.9.8.7"
MODES = ("closed", *HOSTILE_MODES)
KIND = {"closed": "unreachable", "reset": "unreachable", "hang": "timed out", "500": "answered HTTP 500",
        "garbage": "sent a malformed answer", "redirect": "answered HTTP 302"}
"""The generic kind of failure each hostile member is described with."""
SEARCH_KIND = {**KIND, "hang": ("timed out", "no answer before the deadline")}
"""In a search, a hanging member is cut by the member's own timeout or by the search's deadline, whichever first."""
DEADLINE = 1.0


def _exception_names() -> set[str]:
    modules = (httpx, aiohttp, errors, egress, http_client, redirects, __builtins__)
    names = set()
    for module in modules:
        space = module if isinstance(module, dict) else vars(module)
        names |= {n for n, v in space.items() if isinstance(v, type) and issubclass(v, BaseException)}
    return {n for n in names if len(n) > 8 and n not in ("Exception", "TimeoutError")} | {"Errno", "Traceback"}


EXCEPTION_NAMES = _exception_names()


class Captured(logging.Handler):
    """Every log record as the JSON line the gateway writes (formatted when emitted, so with its request id)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(orjson.loads(self.format(record)))

    def warnings_of(self, request_id: str) -> list[str]:
        return [orjson.dumps(line).decode() for line in self.lines
                if line.get("request_id") == request_id and line["level"] in ("warning", "error")]


@dataclass
class Env:
    gateway: Server
    ports: dict[str, int]
    """member id → the port it listens on (or, for ``g-closed``, does not)."""
    logs: Captured

    @property
    def client(self) -> httpx.AsyncClient:
        return self.gateway.client


@pytest.fixture(scope="module")
def logs() -> Iterator[Captured]:
    handler = Captured()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(logs: Captured) -> AsyncIterator[Env]:
    async with AsyncExitStack() as stack:
        members: list[dict[str, Any]] = []
        ports: dict[str, int] = {}

        def member(mid: str, url: str, kind: str) -> None:
            ports[mid] = int(url.rsplit(":", 1)[1])
            members.append({"id": mid, "name": mid, "base_url": url, "kind": kind, "prefixes": [f"dg.{mid}"]})

        member("g-closed", f"http://127.0.0.1:{free_port()}", "gen3")
        for mode in HOSTILE_MODES:
            member(f"g-{mode}", (await stack.enter_async_context(
                serve(hostile(mode, marker=MARKER, internal=f"http://{INTERNAL_HOST}:6543")))).url, "gen3")
            oid = f"dg.a-{mode}/obj"
            doc = drs_doc(oid, access_methods=[{"type": "s3", "access_id": "s3"}])
            member(f"a-{mode}", (await stack.enter_async_context(
                serve(hostile(mode, marker=MARKER, internal=f"http://{INTERNAL_HOST}:6543", objects={oid: doc})))).url,
                "drs")
        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False}, registry={"members": members},
            resolver={"deadline": DEADLINE}, drs={"deadline": DEADLINE},
            # no connect timeout of its own (the deadline caps it): a loaded run stalling a connect must not turn
            # a member's answer into "unreachable"
            upstream={"retries": 0, "connect_timeout": 5.0, "read_timeout": 5.0},
            health={"interval": 3600.0}, aggregate={"deadline": DEADLINE, "harvest": {"enabled": False}},
        )
        stack.push_async_callback(gateway.stop)
        yield Env(gateway, ports, logs)


_ids = itertools.count()


def leaks(text: str, *ports: int) -> list[str]:
    """What ``text`` (an answer's body) gives away about members listening on ``ports``."""
    found = [s for s in ("127.0.0.1", MARKER, INTERNAL_HOST, "http://", "https://", "db.internal", "/srv/app.py")
             if s in text]
    found += [f"port {p}" for p in ports if re.search(rf"(?<![0-9]){p}(?![0-9])", text)]
    return found + sorted(n for n in EXCEPTION_NAMES if n in text)


def gen3_calls(mode: str) -> list[tuple[str, str, Any]]:
    """(method, path, JSON body) of every route a gen3 member's failure to resolve reaches."""
    gid = f"dg.g-{mode}/{UUID}"
    return [
        ("GET", f"/resolver/v1/resolve?id={gid}", None),
        ("POST", "/resolver/v1/resolve", {"ids": [gid]}),
        ("GET", f"/ga4gh/drs/v1/objects/{gid}", None),
        ("GET", f"/ga4gh/drs/v1/objects/{gid}/access/s3", None),
        ("OPTIONS", f"/ga4gh/drs/v1/objects/{gid}", None),
        ("GET", f"/index/index/{gid}", None),
        ("POST", "/index/bulk/documents", [gid]),
        ("GET", f"/index/{gid}", None),
        ("POST", "/api/v4/drs/resolve", {"url": f"drs://dg.g-{mode}:{UUID}"}),
    ]


def access_calls(mode: str) -> list[tuple[str, str, Any]]:
    """The routes a DRS member's failure to sign a URL reaches (its object resolves)."""
    oid = f"dg.a-{mode}/obj"
    return [
        ("GET", f"/ga4gh/drs/v1/objects/{oid}/access/s3", None),
        ("POST", "/api/v4/drs/resolve", {"url": f"drs://dg.a-{mode}:obj", "fields": ["accessUrl"],
                                         "cloudPlatform": "s3"}),
    ]


async def call(env: Env, method: str, path: str, body: Any) -> tuple[str, httpx.Response]:
    rid = f"leak-{next(_ids)}"
    r = await env.client.request(method, path, json=body, headers={"X-Request-Id": rid}, timeout=30)
    return rid, r


def check(env: Env, member_id: str, kind: str, rid: str, r: httpx.Response, *evidence: str) -> None:
    """The answer names the member and the kind and gives nothing away; the log has the detail."""
    where = f"{r.request.method} {r.request.url.path} → {r.status_code} {r.text[:400]}"
    assert r.status_code >= 400 or '"status":5' in r.text, where  # a bulk answer: 200, each id its own status
    port = env.ports[member_id]
    assert not leaks(r.text, port), (leaks(r.text, port), where)
    assert member_id in r.text and kind in r.text, where
    logged = env.logs.warnings_of(rid)
    for needle in (f"127.0.0.1:{port}", *evidence):
        assert any(needle in line for line in logged), (needle, where, logged)


EVIDENCE = {"closed": (), "reset": (), "hang": (), "500": (MARKER,), "garbage": (MARKER,),
            "redirect": (INTERNAL_HOST,)}
"""What the log must hold besides the member's address: what the member said, or where it pointed."""


@pytest.mark.parametrize("mode", MODES)
async def test_a_failing_member_is_named_never_described(env, mode):
    member_id = f"g-{mode}"
    answers = await asyncio.gather(*(call(env, *c) for c in gen3_calls(mode)))
    for rid, r in answers:
        check(env, member_id, KIND[mode], rid, r, *EVIDENCE[mode])


@pytest.mark.parametrize("mode", HOSTILE_MODES)
async def test_a_member_failing_to_sign_a_url_is_named_never_described(env, mode):
    member_id = f"a-{mode}"
    answers = await asyncio.gather(*(call(env, *c) for c in access_calls(mode)))
    for rid, r in answers:
        check(env, member_id, KIND[mode], rid, r, *EVIDENCE[mode])


async def test_cohort_search_sources_name_the_kind_only(env):
    rid, r = await call(env, "POST", "/search/v1/cohort", {"index": "subject"})
    assert r.status_code in (503, 504), r.text
    sources = {s["commons"]: s for s in r.json()["sources"]}
    logged = env.logs.warnings_of(rid)
    for mode in MODES:
        member_id = f"g-{mode}"
        port = env.ports[member_id]
        text = orjson.dumps(sources[member_id]).decode()
        assert not leaks(text, port), (leaks(text, port), text)
        kinds = SEARCH_KIND[mode] if isinstance(SEARCH_KIND[mode], tuple) else (SEARCH_KIND[mode],)
        assert any(kind in (sources[member_id]["error"] or "") for kind in kinds), text
        if mode != "hang":  # cut at the deadline: the search stops waiting, nothing fails upstream
            assert any(f"127.0.0.1:{port}" in line for line in logged), (member_id, logged)
    assert not leaks(r.text, *env.ports.values())
