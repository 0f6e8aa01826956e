"""The gateway's aiohttp application factory: the only composition root.

:func:`create_app` opens the store, the cache and (by default) the in-process reference commons, builds every
service (:mod:`gateway.app.federation`: registry, directory, resolver, DRS; :mod:`gateway.app.passports`: the
Passport gate; :mod:`gateway.app.features`: discovery, search, export), keeps them under their
:mod:`gateway.web.keys`, wires middlewares and routes, and registers their cleanup. Route modules only declare
handlers. The app carries its connection limits (``keepalive_timeout`` in its ``handler_args``, the body guard in
its middlewares) wherever it is served; the request-head deadline comes with :func:`serve_runner`. It is a
coroutine so ``web.run_app`` and tests can both await it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import AsyncExitStack

from aiohttp import web

from gateway.app.features import setup_callers, setup_discovery, setup_search
from gateway.app.federation import add_resolution_routes, setup_drs, setup_federation
from gateway.app.passports import open_gate
from gateway.app.portal import setup_portal
from gateway.app.refcommons import mount_refcommons
from gateway.cache import open_cache
from gateway.core import otel
from gateway.core.egress import EgressPolicy
from gateway.core.logs import log_flusher
from gateway.core.metric_files import metrics_flusher
from gateway.core.metrics import OFF, Metrics
from gateway.settings.gateway import Settings
from gateway.store import open_store
from gateway.web.body import body_guard
from gateway.web.errors import PARSER_LIMITS, STORE_RETRY_AFTER, error_middleware
from gateway.web.keys import GATE, METRICS, RESOLVER, STATE
from gateway.web.metrics import metrics_middleware
from gateway.web.query import empty_query_middleware
from gateway.web.requestid import request_id_middleware
from gateway.web.routes import metrics as metrics_api
from gateway.web.routes import passports as passports_api
from gateway.web.routes import status
from gateway.web.slowclients import GatewayRunner
from gateway.web.state import GatewayState
from gateway.web.tracing import tracing_middleware

log = logging.getLogger("gateway.app")

LINGERING_TIME = 2.0
"""Seconds aiohttp keeps reading (and discarding) the unread rest of a body after answering without it (a 413 for
its ``Content-Length``, a 408), so the client reads the answer before the connection closes (10 s by aiohttp's
default: a client dripping the rest would hold the connection that long)."""


def egress_policy(settings: Settings) -> EgressPolicy:
    """The gateway's one egress policy, from ``egress.*`` (``registry.join_deny_networks`` already folded in by the
    settings, with a warning here: it is deprecated)."""
    if settings.registry.join_deny_networks is not None:
        log.warning("registry.join_deny_networks is deprecated: it now sets egress.deny_networks, the one egress "
                    "policy of every outbound connection; set that instead")
    return EgressPolicy.denying(settings.egress.deny_networks, allow=settings.egress.allow_networks)


async def open_state(settings: Settings, opened: AsyncExitStack) -> GatewayState:
    """The store and the cache ``settings`` name, opened (closed by ``opened``), with the settings and the egress
    policy."""
    store = await open_store(
        settings.store.url, key_prefix=settings.store.key_prefix, timeout=settings.store.timeout,
        pool_size=settings.store.pool_size, migrate_on_start=settings.store.migrate_on_start,
    )
    opened.push_async_callback(store.close)
    cache = await open_cache(
        settings.cache.url,
        max_entries=settings.cache.max_entries,
        default_ttl=settings.cache.default_ttl,
        key_prefix=settings.cache.key_prefix,
        timeout=settings.cache.timeout,
        breaker_failures=settings.cache.breaker_failures,
        breaker_cooldown=settings.cache.breaker_cooldown,
    )
    opened.push_async_callback(cache.close)
    return GatewayState(
        settings=settings,
        store=store,
        cache=cache,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        egress=egress_policy(settings),
    )


async def create_app(settings: Settings) -> web.Application:
    """A ready gateway application for ``settings``. Whatever it opened is closed again if a later step
    fails (e.g. a configuration conflict in the registry), and otherwise when the app is cleaned up."""
    async with AsyncExitStack() as opened:
        metrics = Metrics() if settings.metrics.enabled else OFF  # one registry per app: no global state
        state = await open_state(settings, opened)
        # spans only when an endpoint is set: else the SDK is not imported and no middleware is added
        tracing = ([tracing_middleware(otel.enable(settings.tracing.otlp_endpoint, settings.tracing.service_name))]
                   if settings.tracing.otlp_endpoint else [])
        if tracing:
            opened.push_async_callback(asyncio.to_thread, otel.disable)  # flushes off the event loop
        app = web.Application(
            # the query is cleaned (a clone of the request) before the body guard reads the body into the
            # request the handler gets; metrics outermost: they count the status the client got
            middlewares=[*([metrics_middleware(metrics)] if metrics.enabled else []),
                         request_id_middleware, *tracing, empty_query_middleware,
                         body_guard(settings.max_body_bytes, settings.body_timeout), error_middleware],
            client_max_size=settings.max_body_bytes,
            handler_args={**PARSER_LIMITS, "keepalive_timeout": settings.keepalive_timeout,
                          "lingering_time": LINGERING_TIME},
        )
        app[STATE] = state
        app[METRICS] = metrics
        app[STORE_RETRY_AFTER] = settings.store.retry_after
        app.add_routes(status.routes)
        if metrics.enabled:
            app.add_routes(metrics_api.routes)
        if settings.refcommons.enabled:
            await mount_refcommons(app, state, opened)

        directory = await setup_federation(app, state)
        resolver = app[RESOLVER]
        gate = None
        if settings.passports.enabled:
            gate = app[GATE] = await open_gate(state, opened)
            app.add_routes(passports_api.routes)
        setup_drs(app, state, resolver, gate)
        setup_callers(app, state, directory)
        setup_discovery(app, state, directory)
        setup_search(app, state, directory)
        add_resolution_routes(app)
        setup_portal(app, settings)
        opened.push_async_callback(directory.close)
        if resolver.upstream is not None:
            opened.push_async_callback(resolver.upstream.close)
        to_close = opened.pop_all()  # set-up succeeded: the app owns these now

    async def close_resources(_: web.Application) -> None:
        await to_close.aclose()  # in reverse order of opening

    app.on_cleanup.append(close_resources)
    app.cleanup_ctx.append(log_flusher)
    app.cleanup_ctx.append(metrics_flusher)
    return app


def serve_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """The runner to serve the gateway ``app`` with (``gateway serve``, tests): aiohttp's, with the request-head
    deadline ``settings.header_timeout`` (:mod:`gateway.web.slowclients`), in-flight requests given
    ``settings.shutdown_timeout`` to finish at cleanup, and aiohttp's access log off (ours is
    :mod:`gateway.web.requestid`)."""
    return GatewayRunner(app, header_timeout=settings.header_timeout, access_log=None, handle_signals=False,
                         shutdown_timeout=settings.shutdown_timeout)
