"""Operational routes: ``/_status`` (dependencies and members), ``/_live`` and ``/_ready`` (for orchestrators),
GA4GH ``/service-info``, ``/openapi.json``.

``/_status`` answers **200** whenever this process serves, with ``"status": "ok"`` or ``"degraded"`` and, per
dependency, ``"checks": {"store": "ok"|"down", "cache": "ok"|"down", "registry": …}``: store and cache each
checked with a PING bounded by :data:`PING_TIMEOUT`; the registry against the declared members (``ok``,
``empty`` or ``missing declared members: …`` — degraded —, ``diverged: …``, or ``unknown``). ``"members"``
summarises the active members' shared health (:func:`gateway.registry.readiness.summarise`: ``active``,
``healthy``, ``unhealthy``, ``unknown``, and the ids ``down``; ``null`` when it could not be read); a member down
makes the status ``degraded``. A dead Redis is *not* a reason to answer 503 here: every replica shares it, so a load
balancer that pulled replicas on it would pull them all, while a degraded gateway still answers every route that
needs no store (the cache being a miss) and answers 503 with ``Retry-After`` on the routes that do. Monitoring
alerts on ``status != "ok"`` in the body.

``/_live`` (liveness) answers 200 while the process serves HTTP, touching nothing: restart the process only when
it fails. ``/_ready`` (readiness) answers 200 when this replica can serve federation requests and **503** (with
``Retry-After``) when it cannot: its store does not answer, or its routing view never read the registry
(:func:`gateway.registry.readiness.unready_because`). Members are summarised in its body, never a reason for 503.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from gateway import __version__
from gateway.registry.readiness import MembersSummary, overall, summarise, unready_because
from gateway.web.keys import REGISTRY, RESOLVER, STATE
from gateway.web.openapi import build_openapi, operation
from gateway.web.render import json_response
from gateway.web.service_info import service_info

OPERATION_ID_PREFIX = "gateway.status"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()
PING_TIMEOUT = 2.0
READY_RETRY_AFTER = 5
"""Seconds a 503 from ``/_ready`` tells a client to wait."""


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


async def _members(app: web.Application, *, store_ok: bool) -> tuple[MembersSummary | None, bool]:
    """The active members' health summary (``None`` when unreadable: always when the store did not answer its
    ping) and whether the routing view has read the registry at least once (reading it now if it never did)."""
    resolver = app.get(RESOLVER)
    if resolver is None:  # no federation in this app: nothing to route, nothing to load
        return None, True
    directory = resolver.directory
    if not store_ok:
        return None, directory.loaded
    try:
        routes = await asyncio.wait_for(directory.routes(), PING_TIMEOUT)
        states = await asyncio.wait_for(directory.health.states(routes.members), PING_TIMEOUT)
    except Exception:  # the store does not answer: its own check says so
        return None, directory.loaded
    return summarise(routes.members, states, routes.members), True


@routes.get("/_status")
@operation("Gateway health: the gateway, its store and cache, the registry against the declared members, and the "
           "members' health (200 also when degraded: see the body)", tags=("operations",))
async def get_status(request: web.Request) -> web.Response:
    """Gateway health."""
    state = request.app[STATE]
    store_ok, cache_ok = await asyncio.gather(_answers(state.store.ping), _answers(state.cache.ping))
    registry, registry_ok = await _registry_check(request.app) if store_ok else ("unknown", True)
    members, _ = await _members(request.app, store_ok=store_ok)
    body = {
        "status": overall(store=store_ok, cache=cache_ok, registry=registry_ok, members=members),
        "version": __version__,
        "checks": {"store": "ok" if store_ok else "down", "cache": "ok" if cache_ok else "down",
                   "registry": registry},
        "members": members.to_doc() if members is not None else None,
    }
    return json_response(body)


@routes.get("/_live")
@operation("Liveness: 200 while this process serves HTTP (it checks nothing else)", tags=("operations",))
async def get_live(request: web.Request) -> web.Response:
    """Liveness."""
    return json_response({"status": "alive", "version": __version__})


@routes.get("/_ready")
@operation("Readiness: 200 when this replica can serve (its store answers, its registry was loaded), else 503",
           tags=("operations",), responses={503: "not ready: the store does not answer or the registry was never "
                                                 "loaded (Retry-After)"})
async def get_ready(request: web.Request) -> web.Response:
    """Readiness."""
    state = request.app[STATE]
    store_ok = await _answers(state.store.ping)
    members, loaded = await _members(request.app, store_ok=store_ok)
    reasons = unready_because(store=store_ok, registry_loaded=loaded)
    body = {
        "status": "not ready" if reasons else "ready",
        "reasons": reasons,
        "checks": {"store": "ok" if store_ok else "down", "registry": "loaded" if loaded else "not loaded"},
        "members": members.to_doc() if members is not None else None,
    }
    if reasons:
        return json_response(body, status=503, headers={"Retry-After": str(READY_RETRY_AFTER)})
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
