"""The federated cohort search under test: a gateway wired to given members, and direct questions to them."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from servers import Server, _serve, free_port, start_commons

from gateway.app import create_app
from gateway.settings.gateway import Settings
from gateway.web.routes.search import PATH

DEADLINE = 1.5


GQL = "/guppy/graphql"


async def start_search_gateway(members: list[dict[str, Any]], **aggregate: Any) -> Server:
    """The full gateway app (the cohort search is wired in ``gateway/app.py``)."""
    port = free_port()
    settings = Settings(
        port=port, store={"url": "sqlite:///:memory:"}, refcommons={"enabled": False},
        registry={"members": members}, health={"interval": 3600.0},
        upstream={"retries": 0, "backoff": 0.01},
        aggregate={"deadline": DEADLINE, "harvest": {"enabled": False}, **aggregate},  # members see search calls only
    )
    app = await create_app(settings)
    runner, client, base = await _serve(app, port)
    return Server(base, port, client, runner, app)


async def start_all(stack: AsyncExitStack, specs: Any, subjects: int) -> dict[str, Server]:
    """A standalone reference commons per ``(prefix, seed)``, stopped with ``stack``; keyed ``dg.AAA1`` → ``aaa1``."""
    commons = {}
    for prefix, seed in specs:
        s = await start_commons(prefix, seed, subjects)
        stack.push_async_callback(s.stop)
        commons[prefix.split(".")[1].lower()] = s
    return commons


def gen3(mid: str, url: str, prefix: str, kind: str = "gen3") -> dict[str, Any]:
    return {"id": mid, "name": mid, "base_url": url, "kind": kind, "prefixes": [prefix]}


async def search(server: Server, body: dict[str, Any], **kw: Any):
    return await server.client.post(PATH, json=body, **kw)


async def direct(s: Server, flt: Any, facets: list[str], accessibility: str) -> dict[str, Any]:
    """A member asked directly (anonymously), as the gateway's members are."""
    body = " ".join(["_totalCount", *(f"{f} {{ asTextHistogram {{ key count }} }}" for f in facets)])
    q = f"query($f: JSON) {{ _aggregation {{ subject(filter: $f, accessibility: {accessibility}) {{ {body} }} }} }}"
    r = await s.client.post(GQL, json={"query": q, "variables": {"f": flt}})
    return r.json()["data"]["_aggregation"]["subject"]


def sources(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["commons"]: s for s in doc["sources"]}
