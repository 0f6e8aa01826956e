"""A false "not found" (issue 14), played for real: three reference commons on loopback, the one holding a file is
stopped and the health prober (short interval, threshold 1) marks it unhealthy. A bare-UUID lookup then asks the
two others only; neither has the id, but the answer is not a definitive 404: it is 503 with ``Retry-After``
naming the member not asked (the DRS shape on DRS routes), and it is not remembered as a miss: once the holder
is back and healthy, the id resolves at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from drs_federation import assert_drs_error, open_file
from servers import Server, restart_commons, start_commons, start_gateway

DRS = "/ga4gh/drs/v1"
RECHECK = 1.2


@dataclass
class World:
    gateway: Server
    commons: dict[str, Server]


@asynccontextmanager
async def world() -> AsyncIterator[World]:
    async with AsyncExitStack() as stack:
        commons: dict[str, Server] = {}
        for n, (name, prefix) in enumerate((("ua", "dg.UNA1"), ("ub", "dg.UNB2"), ("uc", "dg.UNC3"))):
            commons[name] = await start_commons(prefix, 60 + n, 6)
        members: list[dict[str, Any]] = [
            {"id": name, "name": name, "base_url": s.base_url, "kind": "gen3",
             "prefixes": [s.commons.settings.prefix]}  # type: ignore[union-attr]
            for name, s in commons.items()
        ]
        gateway = await start_gateway(
            store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False}, registry={"members": members},
            upstream={"retries": 0}, health={"interval": 0.2, "timeout": 0.5, "failure_threshold": 1},
            aggregate={"harvest": {"enabled": False}},
        )
        stack.push_async_callback(gateway.stop)
        w = World(gateway, commons)
        try:
            yield w
        finally:
            for server in w.commons.values():
                await server.stop()


async def state_of(client: httpx.AsyncClient, member: str, want: str) -> None:
    for _ in range(100):
        if (await client.get(f"/registry/v1/commons/{member}/health")).json().get("state") == want:
            await asyncio.sleep(RECHECK)  # the directory re-reads the shared health state at most this often
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{member} never became {want}")


async def test_an_unhealthy_holder_makes_a_bare_uuid_503_naming_it_not_404_and_nothing_is_cached():
    async with world() as w:
        f = open_file(w.commons["ub"])
        uuid = f.guid.split("/", 1)[1]
        other = open_file(w.commons["ub"], 1).guid.split("/", 1)[1]  # the id itself is not cached beforehand
        ok = await w.gateway.client.get("/resolver/v1/resolve", params={"id": other})
        assert ok.status_code == 200 and ok.json()["member"]["id"] == "ub", ok.text
        missing = "0b0b0b0b-0000-4000-8000-00000000abcd"
        assert (await w.gateway.client.get("/resolver/v1/resolve", params={"id": missing})).status_code == 404

        await w.commons["ub"].stop()
        await state_of(w.gateway.client, "ub", "unhealthy")
        for path in (f"/resolver/v1/resolve?id={uuid}", f"/resolver/v1/resolve?id={missing[:-1]}e", f"/index/{uuid}"):
            r = await w.gateway.client.get(path)
            assert r.status_code == 503, (path, r.status_code, r.text)
            assert int(r.headers["Retry-After"]) >= 1
            assert "ub" in r.text and "not asked" in r.text, r.text
        for path in (f"{DRS}/objects/{uuid}", f"{DRS}/objects/{uuid}/access/s3"):
            r = await w.gateway.client.get(path)
            body = assert_drs_error(r, 503)
            assert "ub" in body["msg"] and int(r.headers["Retry-After"]) >= 1
        bulk = await w.gateway.client.post("/resolver/v1/resolve", json={"ids": [uuid]})
        assert bulk.status_code == 200 and "ub" in bulk.text and "404" not in bulk.text.split("503")[0], bulk.text

        w.commons["ub"] = await restart_commons(w.commons["ub"])
        await state_of(w.gateway.client, "ub", "healthy")
        back = await w.gateway.client.get("/resolver/v1/resolve", params={"id": uuid})
        assert back.status_code == 200 and back.json()["member"]["id"] == "ub", back.text  # the 503 was not cached
        assert (await w.gateway.client.get(f"{DRS}/objects/{uuid}")).status_code == 200
