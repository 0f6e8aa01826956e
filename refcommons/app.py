"""The reference commons' aiohttp application, its composition root: indexd, DRS, fence subset, Arborist's auth
mapping, MDS, Guppy and sheepdog's data dictionary routes (:mod:`refcommons.routes`) over one
:class:`~refcommons.commons.ReferenceCommons` (Guppy with the commons' own tier level and limit).

:func:`build_app` makes a standalone app (with the gateway's JSON-error and request-id middlewares);
:func:`build_subapp` makes one to mount inside the gateway, where the parent's middlewares apply.
"""

from __future__ import annotations

from aiohttp import web

from gateway.core.logs import log_flusher
from gateway.web.errors import PARSER_LIMITS, error_middleware
from gateway.web.query import empty_query_middleware
from gateway.web.requestid import request_id_middleware
from refcommons.commons import ReferenceCommons
from refcommons.routes import authz as authz_api
from refcommons.routes import drs as drs_api
from refcommons.routes import fence as fence_api
from refcommons.routes import indexd as indexd_api
from refcommons.routes import mds as mds_api
from refcommons.routes import submission as submission_api
from refcommons.routes.guppy import GuppyApi
from refcommons.routes.keys import COMMONS

DEFAULT_MAX_BODY = 8 * 1024 * 1024


def _add_routes(app: web.Application, commons: ReferenceCommons) -> web.Application:
    app[COMMONS] = commons
    for module in (indexd_api, drs_api, fence_api, authz_api, mds_api, submission_api):
        app.add_routes(module.routes)
    app.add_routes(GuppyApi.for_settings(commons.settings).routes)  # its tier level and limit, per commons
    return app


def build_subapp(commons: ReferenceCommons) -> web.Application:
    """An app to mount with ``parent.add_subapp(prefix, app)``; the parent owns middlewares and limits."""
    return _add_routes(web.Application(), commons)


def build_app(commons: ReferenceCommons, *, max_body: int = DEFAULT_MAX_BODY) -> web.Application:
    """A standalone commons app; closes the commons on shutdown."""
    app = web.Application(
        middlewares=[request_id_middleware, error_middleware, empty_query_middleware], client_max_size=max_body,
        handler_args=PARSER_LIMITS,
    )

    async def close_commons(_: web.Application) -> None:
        await commons.close()

    app.on_cleanup.append(close_commons)
    app.cleanup_ctx.append(log_flusher)
    return _add_routes(app, commons)
