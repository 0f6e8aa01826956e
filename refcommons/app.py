"""The reference commons' aiohttp applications, its composition root: indexd, DRS, fence subset, Arborist's auth
mapping, MDS, Guppy and sheepdog's data dictionary routes (:mod:`refcommons.routes`) over one
:class:`~refcommons.commons.ReferenceCommons` (Guppy with the commons' own tier level and limit).

Each service's routes are written relative to the service's own root; the commons' layout
(:mod:`refcommons.layout`, ``settings.layout``) says which server serves them under which path prefix.
:func:`build_apps` makes one app per server of the layout; :func:`build_app` the one app of a single-server layout
(``gen3``, the default, or ``indexd``), closing the commons on shutdown; :func:`build_subapp` one to mount inside
the gateway (always the ``gen3`` layout), where the parent's middlewares apply.
"""

from __future__ import annotations

from aiohttp import web

from gateway.core.logs import log_flusher
from gateway.web.errors import PARSER_LIMITS, error_middleware
from gateway.web.query import empty_query_middleware
from gateway.web.requestid import request_id_middleware
from refcommons.commons import ReferenceCommons
from refcommons.layout import GEN3, SERVERS, Layout, Mount, Part
from refcommons.routes import authz as authz_api
from refcommons.routes import drs as drs_api
from refcommons.routes import fence as fence_api
from refcommons.routes import indexd as indexd_api
from refcommons.routes import mds as mds_api
from refcommons.routes import submission as submission_api
from refcommons.routes.guppy import GuppyApi
from refcommons.routes.keys import COMMONS

DEFAULT_MAX_BODY = 8 * 1024 * 1024


def _part_routes(part: Part, commons: ReferenceCommons) -> web.RouteTableDef:
    if part == "guppy":
        return GuppyApi.for_settings(commons.settings).routes  # its tier level and limit, per commons
    return {
        "indexd": indexd_api.routes, "indexd-drs": drs_api.routes, "indexd-drs-no-access": drs_api.no_access_routes,
        "drs-passports": drs_api.passport_routes,
        "fence": fence_api.routes, "fence-drs": drs_api.access_routes, "storage": fence_api.storage_routes,
        "wts": fence_api.wts_routes, "arborist": authz_api.routes, "mds": mds_api.routes,
        "sheepdog": submission_api.routes,
    }[part]


def mount(app: web.Application, mounted: Mount, routes: web.RouteTableDef) -> None:
    """Add ``routes`` (paths relative to their service's root) to ``app`` at their public paths."""
    for route in routes:
        if not isinstance(route, web.RouteDef):
            raise TypeError(f"only plain routes can be mounted, not {route!r}")
        web.RouteDef(route.method, mounted.path(route.path), route.handler, route.kwargs).register(app.router)


def _add_routes(app: web.Application, commons: ReferenceCommons, mounts: tuple[Mount, ...]) -> web.Application:
    app[COMMONS] = commons
    for mounted in mounts:
        mount(app, mounted, _part_routes(mounted.part, commons))
    return app


def _standalone(max_body: int) -> web.Application:
    app = web.Application(
        middlewares=[request_id_middleware, error_middleware, empty_query_middleware], client_max_size=max_body,
        handler_args=PARSER_LIMITS,
    )
    app.cleanup_ctx.append(log_flusher)
    return app


def build_subapp(commons: ReferenceCommons) -> web.Application:
    """An app to mount with ``parent.add_subapp(prefix, app)`` (the ``gen3`` layout); the parent owns middlewares
    and limits."""
    return _add_routes(web.Application(), commons, SERVERS[GEN3]["commons"])


def build_apps(commons: ReferenceCommons, layout: Layout | None = None, *, max_body: int = DEFAULT_MAX_BODY
               ) -> dict[str, web.Application]:
    """One standalone app per server of ``layout`` (default: the commons' own), by server name, in the layout's
    order. They share the commons, which they do not close: the caller closes it once they all stopped."""
    chosen = layout or commons.settings.layout
    return {name: _add_routes(_standalone(max_body), commons, mounts) for name, mounts in SERVERS[chosen].items()}


def build_app(commons: ReferenceCommons, *, max_body: int = DEFAULT_MAX_BODY) -> web.Application:
    """The standalone app of a commons whose layout has one server (``gen3``, ``indexd``); closes the commons on
    shutdown."""
    apps = build_apps(commons, max_body=max_body)
    if len(apps) != 1:
        raise ValueError(f"layout {commons.settings.layout} runs {len(apps)} servers: use build_apps")
    (app,) = apps.values()

    async def close_commons(_: web.Application) -> None:
        await commons.close()

    app.on_cleanup.append(close_commons)
    return app
