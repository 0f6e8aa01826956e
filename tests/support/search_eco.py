"""A federation for the search-access tests (real HTTP on 127.0.0.1): a development broker, a gateway with GA4GH
Passports enabled, and standalone reference commons as its members:

* ``tok`` (gen3, ``gateway_token``): trusts the gateway's JWKS (``--trust-gateway``);
* ``pp`` (gen3, ``passport``): validates Passports itself (``--passports-config``);
* ``pt`` (gen3, ``passthrough``): the caller's own fence token goes to it;
* ``px`` (gen3, ``passthrough``): ``pt``'s commons behind a proxy recording every path asked.

Expected values always come from asking the commons directly (their Guppy as admin, their MDS and ``/user/user``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from passport_kit import Broker, dev_broker, passports_config
from servers import Server, free_port, start_commons, start_gateway

from gateway.discovery.mapping.reference import REFCOMMONS_FIELD_MAPPINGS
from gateway.passports.tokens.token_keys import JWKS_PATH
from gateway.web.keys import HARVESTER
from refcommons.authz.default_policy import ADMIN_USER
from refcommons.fence.gateway_trust import TrustedGateway

SUBJECTS = 150
RESOURCES = {"templates": [{"template": "/programs/{dataset}.{consent}", "authority": "dbgap"}]}
GQL = "/guppy/graphql"


@dataclass
class Eco:
    gateway: Server
    broker: Broker
    commons: dict[str, Server]
    proxied: list[str] = field(default_factory=list)
    """Every path the ``px`` proxy was asked for."""

    def passport(self, *grants: tuple[str, str]) -> str:
        return self.broker.passport([self.broker.visa(phs, consent) for phs, consent in grants])

    def token(self, name: str, user: str = ADMIN_USER) -> str:
        commons = self.commons[name].commons
        assert commons is not None
        return commons.fence.tokens.issue_access_token(user)

    async def studies(self, name: str) -> dict[str, dict[str, Any]]:
        """The commons' own discovery records (``project_id`` → study), from its MDS."""
        r = await self.commons[name].client.get("/mds/metadata", params={
            "data": "true", "_guid_type": "discovery_metadata", "limit": "1000"})
        assert r.status_code == 200
        return {guid: rec["gen3_discovery"] for guid, rec in r.json().items()}

    async def controlled(self, name: str) -> list[dict[str, Any]]:
        return [s for s in (await self.studies(name)).values() if s["access"] == "controlled"]

    async def open_paths(self, name: str) -> list[str]:
        return [a for s in (await self.studies(name)).values() if s["access"] == "open" for a in s["authz"]]

    async def direct_count(self, name: str, flt: Any, *, token: str | None = None,
                           accessibility: str = "all", index: str = "subject") -> int:
        """The commons' own Guppy total (as admin by default, so nothing is hidden)."""
        q = (f"query($f: JSON) {{ _aggregation {{ {index}(filter: $f, accessibility: {accessibility}) "
             "{ _totalCount } } }")
        headers = {"Authorization": f"Bearer {token or self.token(name)}"}
        r = await self.commons[name].client.post(GQL, json={"query": q, "variables": {"f": flt}}, headers=headers)
        assert r.status_code == 200 and "errors" not in r.json(), r.text
        return r.json()["data"]["_aggregation"][index]["_totalCount"]


def _proxy(target: str, seen: list[str]) -> web.Application:
    client = httpx.AsyncClient(base_url=target, timeout=10)

    async def forward(request: web.Request) -> web.Response:
        seen.append(request.path)
        got = await client.request(request.method, request.rel_url.path_qs, content=await request.read(),
                                   headers={k: v for k, v in request.headers.items()
                                            if k.lower() in ("authorization", "content-type")})
        return web.Response(body=got.content, status=got.status_code,
                            content_type=got.headers.get("content-type", "application/json").split(";")[0])

    async def close(_: web.Application) -> None:
        await client.aclose()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    app.on_cleanup.append(close)
    return app


@asynccontextmanager
async def search_eco(directory: Path) -> AsyncIterator[Eco]:
    async with AsyncExitStack() as stack:
        broker = await stack.enter_async_context(dev_broker(directory))
        gw_port = free_port()
        gw_url = f"http://127.0.0.1:{gw_port}"
        config = passports_config(broker.url)
        commons = {
            "tok": await start_commons("dg.STOK", 51, SUBJECTS, trusted_gateways=(
                TrustedGateway(gw_url, gw_url + JWKS_PATH),), allow_insecure_loopback=True),
            "pp": await start_commons("dg.SPPA", 52, SUBJECTS, passports=config, allow_insecure_loopback=True),
            "pt": await start_commons("dg.SPTH", 53, SUBJECTS),
        }
        for server in commons.values():
            stack.push_async_callback(server.stop)
        proxied: list[str] = []
        proxy_port = free_port()
        runner = web.AppRunner(_proxy(commons["pt"].base_url, proxied), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", proxy_port).start()
        stack.push_async_callback(runner.cleanup)

        def member(mid: str, url: str, prefix: str, mode: str) -> dict[str, Any]:
            return {"id": mid, "name": mid, "base_url": url, "kind": "gen3", "prefixes": [prefix],
                    "auth": {"type": mode}}

        gateway = await start_gateway(
            port=gw_port, store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
            health={"interval": 3600.0}, upstream={"retries": 0},
            registry={"members": [
                member("tok", commons["tok"].base_url, "dg.STOK", "gateway_token"),
                member("pp", commons["pp"].base_url, "dg.SPPA", "passport"),
                member("pt", commons["pt"].base_url, "dg.SPTH", "passthrough"),
                member("px", f"http://127.0.0.1:{proxy_port}", "dg.SPX0", "passthrough"),
            ]},
            passports={**config.model_dump(mode="json"), "resource_maps": {"tok": RESOURCES, "pp": RESOURCES}},
            aggregate={"deadline": 8.0, "harvest": {"interval": 3600.0, "timeout": 8.0}, "mappings": {"members": {
                name: {"field_mappings": {**REFCOMMONS_FIELD_MAPPINGS, "commons": name}}
                for name in ("tok", "pp", "pt", "px")}}},
        )
        stack.push_async_callback(gateway.stop)
        await gateway.app[HARVESTER].started()
        yield Eco(gateway, broker, commons, proxied)
