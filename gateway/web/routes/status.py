"""Operational routes: ``/_status`` (liveness and dependencies), GA4GH ``/service-info``, ``/openapi.json``.

``/_status`` answers **200** whenever this process serves, with ``"status": "ok"`` or ``"degraded"`` and, per
dependency, ``"checks": {"store": "ok"|"down", "cache": "ok"|"down", "registry": …}``: store and cache each
checked with a PING bounded by :data:`PING_TIMEOUT`; the registry against the declared members (``ok``,
``empty`` or ``missing declared members: …`` — degraded —, ``diverged: …``, or ``unknown``). A dead Redis is *not*
a reason to answer 503 here: every replica shares it, so a load balancer that pulled replicas on it would pull
them all, while a degraded gateway still answers every route that needs no store (the cache being a miss) and
answers 503 with ``Retry-After`` on the routes that do. Monitoring alerts on ``status != "ok"`` in the body.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway import __version__
from gateway.web.keys import REGISTRY, STATE
from gateway.web.openapi import build_openapi, operation
from gateway.web.render import json_response
from gateway.web.service_info import service_info

OPERATION_ID_PREFIX = "gateway.status"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()
PING_TIMEOUT = 2.0


async def _answers(ping: object) -> bool:
    try:
        return bool(await asyncio.wait_for(ping(), PING_TIMEOUT))  # type: ignore[operator]
    except Exception:  # any failure to answer is "down"
        return False


async def _registry_check(app: web.Application) -> tuple[str, bool]:
    """The registry against the declared members: ``ok``, ``empty``, ``missing declared members: a, b`` (degraded:
    they answer 404 until re-created) or ``diverged: a`` (another replica declares it otherwise; serves)."""
    keeper = app[REGISTRY].keeper if REGISTRY in app else None
    if keeper is None:
        return "unknown", True
    try:
        check = await asyncio.wait_for(keeper.check(), PING_TIMEOUT)
    except Exception:  # the store answered the ping but not the scan: the store check tells the rest
        return "unknown", True
    return check.text(), check.healthy


@routes.get("/_status")
@operation("Gateway health: the gateway, its store and cache, and the registry against the declared members "
           "(200 also when degraded: see the body)", tags=("operations",))
async def get_status(request: web.Request) -> web.Response:
    """Gateway health."""
    state = request.app[STATE]
    store_ok, cache_ok = await asyncio.gather(_answers(state.store.ping), _answers(state.cache.ping))
    registry, registry_ok = await _registry_check(request.app) if store_ok else ("unknown", True)
    healthy = store_ok and cache_ok and registry_ok
    body = {
        "status": "ok" if healthy else "degraded",
        "version": __version__,
        "checks": {"store": "ok" if store_ok else "down", "cache": "ok" if cache_ok else "down",
                   "registry": registry},
    }
    return json_response(body)


@routes.get("/service-info")
@operation("GA4GH service-info of the gateway", tags=("operations",))
async def get_service_info(request: web.Request) -> web.Response:
    """GA4GH service-info."""
    state = request.app[STATE]
    return json_response(service_info(state.settings, started_at=state.started_at))


@routes.get("/openapi.json")
@operation("OpenAPI description of every route this gateway serves", tags=("operations",))
async def get_openapi(request: web.Request) -> web.Response:
    """OpenAPI document."""
    state = request.app[STATE]
    if state.openapi is None:
        state.openapi = build_openapi(
            request.app,
            title=state.settings.service_info.name,
            version=__version__,
            description=state.settings.service_info.description,
        )
    return json_response(state.openapi)
