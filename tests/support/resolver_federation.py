"""A three-member federation for the resolver's tests, every request the members receive counted.

* ``x``: ``dg.RX01``, a reference commons as a Gen3 member;
* ``y``: ``dg.RY02``, a reference commons as a DRS member;
* ``s``: ``dg.CS01``, a Gen3 indexd that matches ids exactly (:func:`drs_fakes.strict_indexd`), serving
  :attr:`Fed.strict` (a test may change a record there: the member answers what it holds now);

plus any ``extra_members`` (purpose-built apps, kind ``gen3``, prefix ``dg.<id>``). The gateway keeps everything in
memory, makes no retries, runs no health round and harvests no studies: what the members receive is what resolution
asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from drs_fakes import count, indexd_doc, serve, start_recorded_commons, strict_indexd
from servers import Server, start_gateway

from gateway.resolver.service import Resolver
from gateway.web.keys import RESOLVER

DRS = "/ga4gh/drs/v1"
INDEXD_BULK = "/index/bulk/documents"


def cache_settings(request: pytest.FixtureRequest, backend: str, space: str) -> dict[str, Any] | None:
    """The gateway's ``cache`` section for ``backend``: ``None`` (the in-process default) for ``memory``; for
    ``redis``, the test session's Redis with keys under ``space`` (so parametrised tests never share entries)."""
    if backend == "memory":
        return None
    return {"url": request.getfixturevalue("redis_url"),
            "key_prefix": request.getfixturevalue("redis_key_prefix") + space}


def strict_guids(n: int) -> list[str]:
    """The first ``n`` GUIDs member ``s`` holds."""
    return [f"dg.CS01/{i}0000000-0000-4000-8000-000000000000" for i in range(1, n + 1)]


@dataclass
class Fed:
    gateway: Server
    resolver: Resolver
    x: Server
    y: Server
    s: Any
    strict: dict[str, dict[str, Any]]
    """What ``s`` holds: GUID → its indexd record."""
    extra: dict[str, Any]

    def guids(self, server: Server, n: int, start: int = 0) -> list[str]:
        return [f.guid for f in server.commons.dataset.files[start:start + n]]

    def calls(self) -> dict[str, int]:
        """Requests each member received so far, but health probes and service-info."""
        return {
            "x_bulk": count(self.x.app, "POST", INDEXD_BULK), "x_get": count(self.x.app, "GET", "/index/index/"),
            "y_bulk": count(self.y.app, "POST", f"{DRS}/objects"),
            "y_get": count(self.y.app, "GET", f"{DRS}/objects/"),
            "s_bulk": count(self.s.app, "POST", INDEXD_BULK), "s_get": count(self.s.app, "GET", "/index/index/"),
        }


@asynccontextmanager
async def resolver_federation(
    *, subjects: int = 8, strict: int = 4, cache: dict[str, Any] | None = None,
    extra_members: dict[str, web.Application] | None = None, x_delay: float = 0.0, **settings: Any,
) -> AsyncIterator[Fed]:
    """The federation, ``x`` and ``y`` with ``subjects`` subjects each (``x`` answering ``x_delay`` seconds late),
    ``s`` holding :func:`strict_guids` (``strict``); ``cache`` and ``settings`` go to the gateway."""
    async with AsyncExitStack() as stack:
        x = await start_recorded_commons("dg.RX01", 11, subjects, delay=x_delay)
        stack.push_async_callback(x.stop)
        y = await start_recorded_commons("dg.RY02", 12, subjects)
        stack.push_async_callback(y.stop)
        held = {guid: indexd_doc(guid) for guid in strict_guids(strict)}
        s = await stack.enter_async_context(serve(strict_indexd(held)))
        extra = {mid: await stack.enter_async_context(serve(app)) for mid, app in (extra_members or {}).items()}
        members = [
            {"id": "x", "name": "X", "base_url": x.base_url, "kind": "gen3", "prefixes": ["dg.RX01"]},
            {"id": "y", "name": "Y", "base_url": y.base_url, "kind": "drs", "prefixes": ["dg.RY02"]},
            {"id": "s", "name": "S", "base_url": s.url, "kind": "gen3", "prefixes": ["dg.CS01"]},
        ] + [{"id": mid, "name": mid, "base_url": srv.url, "kind": "gen3", "prefixes": [f"dg.{mid}"]}
             for mid, srv in extra.items()]
        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False}, registry={"members": members},
            upstream={"retries": 0}, **({"cache": cache} if cache else {}),
            **{"health": {"interval": 3600.0}, "aggregate": {"harvest": {"enabled": False}}, **settings},
        )
        stack.push_async_callback(gateway.stop)
        yield Fed(gateway, gateway.app[RESOLVER], x, y, s, held, extra)
