"""The gateway's aiohttp application factory.

:func:`create_app` opens the store, the cache and (by default) the in-process reference commons,
wires middlewares and routes, and registers their cleanup. It is a coroutine so ``web.run_app``
and tests can both await it.
"""

from __future__ import annotations

import logging
import time
from contextlib import AsyncExitStack
from urllib.parse import urlsplit

from aiohttp import web

from gateway.cache import open_cache
from gateway.core.logs import log_flusher
from gateway.core.member import Member
from gateway.drs.service import DrsService
from gateway.export.dictionary import from_gen3_dictionary
from gateway.members.factory import build_adapter
from gateway.members.protocols import MemberAdapter
from gateway.registry.directory import Directory
from gateway.registry.health import adapter_probe
from gateway.resolver.service import Resolver
from gateway.resolver.upstream import UpstreamDist
from gateway.settings.gateway import Settings
from gateway.store import open_store
from gateway.web.caller import GATE
from gateway.web.errors import PARSER_LIMITS, error_middleware
from gateway.web.requestid import request_id_middleware
from gateway.web.routes import drs as drs_api
from gateway.web.routes import drshub as drshub_api
from gateway.web.routes import fence as fence_api
from gateway.web.routes import indexd as indexd_api
from gateway.web.routes import passports as passports_web
from gateway.web.routes import resolver as resolver_api
from gateway.web.routes import status
from gateway.web.routes.discovery import setup_discovery
from gateway.web.routes.drs import DRS
from gateway.web.routes.export import DEFAULT_DICTIONARY, setup_export
from gateway.web.routes.registry import setup_registry
from gateway.web.routes.resolver import RESOLVER
from gateway.web.routes.search import setup_search
from gateway.web.state import STATE, GatewayState
from refcommons.submission.dictionary import document as refcommons_dictionary

log = logging.getLogger("gateway.app")


async def _open_refcommons(settings: Settings):  # type: ignore[no-untyped-def]
    from refcommons.commons import ReferenceCommons
    from refcommons.settings import CommonsSettings

    cfg = settings.refcommons
    return await ReferenceCommons.open(
        CommonsSettings(
            prefix=cfg.prefix,
            seed=cfg.seed,
            subjects=cfg.subjects,
            base_url=settings.base_url + cfg.mount,
            data_dir=cfg.data_dir / cfg.prefix if cfg.data_dir else None,
            user_yaml=cfg.user_yaml,
            tier_access_level=cfg.tier_access_level,
            tier_access_limit=cfg.tier_access_limit,
        )
    )


async def _setup_federation(app: web.Application, state: GatewayState, opened: AsyncExitStack) -> Resolver:
    """Registry (members, health) → directory (routing view, one adapter per member) → resolver."""
    settings = state.settings

    def adapter_for(member: Member) -> MemberAdapter:
        return directory.adapter(member)  # bound below; the prober runs only once the app has started

    registry = await setup_registry(app, state, probe=adapter_probe(adapter_for))
    directory = Directory(
        registry.repository,
        registry.health,
        build_adapter=lambda m: build_adapter(m, settings.upstream, refcommons=state.refcommons),
    )
    upstream = (
        UpstreamDist(settings.resolver.dist_urls, state.cache, settings.resolver.dist_ttl)
        if settings.resolver.dist_urls else None
    )
    resolver = Resolver(directory, state.cache, settings.resolver, upstream, own_hostnames=own_hostnames(settings))
    app[RESOLVER] = resolver
    gate = None
    if settings.passports.enabled:
        gate = app[GATE] = await passports_web.open_gate(state, opened)
        app.add_routes(passports_web.routes)
    app[DRS] = DrsService(resolver, state.cache, settings.drs, settings.drs_profile, settings.drs_hostname, gate)
    setup_discovery(app, state, directory, settings.aggregate)
    setup_search(app, state, directory, settings.aggregate)
    setup_export(app, state, directory, settings.aggregate)  # POST /search/v1/export, on the search's service
    app.add_routes(drs_api.routes)
    app.add_routes(indexd_api.routes)  # before resolver_api's GET /index/{guid}, which would take /index/index/…
    app.add_routes(fence_api.routes)
    app.add_routes(drshub_api.routes)
    app.add_routes(resolver_api.routes)
    return resolver


def own_hostnames(settings: Settings) -> frozenset[str]:
    """Every ``host[:port]`` a ``drs://`` URI may name to mean the gateway itself."""
    names = {urlsplit(settings.base_url).netloc.lower().removesuffix(":443"), settings.drs_hostname}
    if settings.tls.cert is not None:
        host = urlsplit(settings.base_url).hostname or settings.host
        names.add(host if settings.tls.port == 443 else f"{host}:{settings.tls.port}")
    return frozenset(names)


async def create_app(settings: Settings) -> web.Application:
    """A ready gateway application for ``settings``. Whatever it opened is closed again if a later step
    fails (e.g. a configuration conflict in the registry), and otherwise when the app is cleaned up."""
    async with AsyncExitStack() as opened:
        store = await open_store(settings.store.url, key_prefix=settings.store.key_prefix)
        opened.push_async_callback(store.close)
        cache = await open_cache(
            settings.cache.url,
            max_entries=settings.cache.max_entries,
            default_ttl=settings.cache.default_ttl,
            key_prefix=settings.cache.key_prefix,
        )
        opened.push_async_callback(cache.close)
        state = GatewayState(
            settings=settings,
            store=store,
            cache=cache,
            started_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        )
        app = web.Application(
            middlewares=[request_id_middleware, error_middleware],
            client_max_size=settings.max_body_bytes,
            handler_args=PARSER_LIMITS,
        )
        app[STATE] = state
        # PFB exports are described with the reference commons' dictionary (its package data) unless the
        # contributing members offer their own (gateway.export.dictionary_choice)
        app[DEFAULT_DICTIONARY] = from_gen3_dictionary(refcommons_dictionary(), strict=True)
        app.add_routes(status.routes)

        if settings.refcommons.enabled:
            from refcommons.app import build_subapp

            state.refcommons = await _open_refcommons(settings)
            opened.push_async_callback(state.refcommons.close)
            app.add_subapp(settings.refcommons.mount, build_subapp(state.refcommons))
            log.info(
                "reference commons in-process",
                extra={"prefix": settings.refcommons.prefix, "url": settings.base_url + settings.refcommons.mount},
            )

        resolver = await _setup_federation(app, state, opened)
        opened.push_async_callback(resolver.directory.close)
        if resolver.upstream is not None:
            opened.push_async_callback(resolver.upstream.close)
        to_close = opened.pop_all()  # set-up succeeded: the app owns these now

    async def close_resources(_: web.Application) -> None:
        await to_close.aclose()  # in reverse order of opening

    app.on_cleanup.append(close_resources)
    app.cleanup_ctx.append(log_flusher)
    return app

