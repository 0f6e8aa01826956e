"""Attacker test: paths that cannot be ids cost no upstream call. A stray indexd request (``/index/index/_stats``,
``/index/index/urls``, ``/index/index/index``, …), a DRS path word taken for an id, or text with characters no
GUID holds is answered by the gateway itself (indexd's 404 under ``/index/index``, a 400 elsewhere); members
that count every request they get (real HTTP) see none of them. Real ids still go out: a prefixed GUID (with its
``/``) to its owner once, a bare UUID to every member once (the positive control)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from aiohttp import web
from faults import Server as FakeServer
from faults import recording_app, serve
from servers import Server, start_gateway

pytestmark = pytest.mark.asyncio(loop_scope="module")

UUID = "6f1c0e2a-9b1d-4c3e-8f00-0123456789ab"

INDEXD_WORDS = ["_stats", "urls", "index", "_version", "_dist", "_status", "bulk", "_query/urls/q", "index/_stats",
                "urls/", "index/index", "blank", "bundle", "_anything", "INDEX", f"{UUID}/versions",
                f"{UUID}/latest", f"{UUID}/aliases", "dg.cnt1//x", "a//b", "%2E/x", "a/%2E%2E", "%3Cscript%3E",
                quote('x"y', safe=""), "%E5%90%8D", "a%7Cb", "a%5Cb", "a%2525b"]
"""What follows ``/index/index/`` in stray requests; none can be an id. (Behind a prefix a path word is left to the
one member the prefix routes to: ``dg.cnt1/index`` costs one call, never a fan-out.)"""
STRAY = [
    *((("GET", f"/index/index/{w}", None), 404) for w in INDEXD_WORDS),
    # (``/index/_stats`` and ``/index/index`` are the federated stats and listing: they do ask the members)
    *((("GET", f"/index/{w}", None), 400) for w in ("urls", "_query/urls/q", "bulk", "blank/")),
    *((("GET", f"/ga4gh/drs/v1/objects/{w}", None), 400) for w in ("index", "_stats", "access", "service-info",
                                                                      "urls/", "objects")),
    (("GET", "/ga4gh/drs/v1/objects/index/access/s3", None), 400),
    (("OPTIONS", "/ga4gh/drs/v1/objects/_stats", None), 400),
    (("GET", "/resolver/v1/resolve?id=_stats", None), 400),
    (("GET", "/resolver/v1/resolve?id=index%2F_stats", None), 400),
    (("POST", "/api/v4/drs/resolve", {"url": "drs://dg.cnt1:a%3Cb"}), 400),
    (("POST", "/api/v4/drs/resolve", {"url": "drs://dg.cnt1:a%2F%2Fb"}), 400),
]
BULK = [
    ("POST", "/index/bulk/documents", ["_stats", "index", "urls", f"{UUID}/versions"]),
    ("POST", "/resolver/v1/resolve", {"ids": ["_status", "urls", "index/index"]}),
    ("POST", "/ga4gh/drs/v1/objects", {"bulk_object_ids": ["_stats", "index"]}),
]
"""Bulk requests made only of non-ids: answered (each id failing on its own) without a call."""


def counting(kind: str) -> web.Application:
    """A member that has nothing and says so, in its kind's words; every request is counted (``hits``)."""
    async def handler(request: web.Request) -> web.Response:
        if kind == "gen3" and request.method == "POST":
            return web.json_response([])  # indexd bulk: none of these
        if kind == "gen3":
            return web.json_response({"error": "no record found"}, status=404)
        return web.json_response({"msg": "no such object", "status_code": 404}, status=404)

    return recording_app([web.route("*", "/{tail:.*}", handler)])


@dataclass
class Env:
    gateway: Server
    members: list[FakeServer]

    def calls(self) -> int:
        return sum(len(m.hits) for m in self.members)

    async def send(self, method: str, path: str, body: Any) -> tuple[int, Any, int]:
        """(status, JSON body, upstream calls it cost)."""
        before = self.calls()
        r = await self.gateway.client.request(method, path, json=body)
        return r.status_code, r.json(), self.calls() - before


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env() -> AsyncIterator[Env]:
    async with AsyncExitStack() as stack:
        gen3 = await stack.enter_async_context(serve(counting("gen3")))
        drs = await stack.enter_async_context(serve(counting("drs")))
        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
            registry={"members": [
                {"id": "cnt1", "name": "cnt1", "base_url": gen3.url, "kind": "gen3", "prefixes": ["dg.cnt1"]},
                {"id": "cnt2", "name": "cnt2", "base_url": drs.url, "kind": "drs", "prefixes": ["dg.cnt2"]},
            ]},
            resolver={"cache": False}, health={"interval": 3600.0}, aggregate={"harvest": {"enabled": False}},
        )
        stack.push_async_callback(gateway.stop)
        yield Env(gateway, [gen3, drs])


@pytest.mark.parametrize(("request_", "status"), STRAY, ids=lambda v: " ".join(map(str, v[:2])) if
                         isinstance(v, tuple) else str(v))
async def test_a_path_that_cannot_be_an_id_is_answered_locally(env, request_, status):
    got, body, calls = await env.send(*request_)
    assert (got, calls) == (status, 0), (got, body, calls)
    if request_[1].startswith("/index/index/"):
        assert body["error"].startswith("no record found"), body  # indexd's 404


@pytest.mark.parametrize("request_", BULK, ids=lambda v: v[1])
async def test_a_bulk_request_of_non_ids_costs_no_upstream_call(env, request_):
    got, body, calls = await env.send(*request_)
    assert calls == 0, (got, body, calls)
    assert got in (200, 400), (got, body)


async def test_real_ids_still_go_out(env):
    gen3, drs = env.members
    before = len(gen3.hits), len(drs.hits)
    got, _, _ = await env.send("GET", f"/index/index/dg.cnt1/{UUID}", None)
    assert got == 404 and len(gen3.hits) > before[0] and len(drs.hits) == before[1]  # to its owner, '/' and all
    assert any(path.startswith(f"/index/index/dg.cnt1/{UUID}") for _, path, _ in gen3.hits)
    before = len(gen3.hits), len(drs.hits)
    got, _, _ = await env.send("GET", f"/index/index/{UUID}", None)
    assert got == 404 and len(gen3.hits) > before[0] and len(drs.hits) > before[1]  # a bare UUID: every member
    before = len(gen3.hits), len(drs.hits)
    got, _, _ = await env.send("GET", f"/ga4gh/drs/v1/objects/dg.cnt2%2F{UUID}", None)
    assert got == 404 and len(gen3.hits) == before[0] and len(drs.hits) > before[1]
