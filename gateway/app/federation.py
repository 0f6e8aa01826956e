"""The federation's core services: the registry (declared members, health prober), the directory (the routing
view, one adapter per member), the resolver, the federated indexd reads and the DRS service, with their routes.

Members are reached through :func:`gateway.app.members.adapter_factory`; the health prober asks each member's
pooled adapter (:func:`gateway.registry.health.adapter_probe`). Every client is under the state's one egress policy:
with its exceptions for destinations the configuration names (declared members, dist lists), without them for
those named through the API (joins, base URL changes, joined members) or by an upstream dist list.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from gateway.app.background import run_with_app
from gateway.app.members import adapter_factory, member_egress
from gateway.core.member import Member
from gateway.drs.service import DrsService
from gateway.indexd.service import IndexdReads
from gateway.members.protocols import MemberAdapter
from gateway.passports.gate import PassportGate
from gateway.registry.admins import AdminCredentials
from gateway.registry.config_members import declared_members, load_config_members
from gateway.registry.directory import Directory
from gateway.registry.health import HealthMonitor, ProbeFn, adapter_probe, capability_probe
from gateway.registry.keeper import DeclarationKeeper
from gateway.registry.repository import RegistryRepository
from gateway.resolver.service import Resolver
from gateway.resolver.upstream import UpstreamDist
from gateway.settings.gateway import Settings
from gateway.web.keys import DRS, INDEXD_READS, REGISTRY, RESOLVER
from gateway.web.routes import drs as drs_api
from gateway.web.routes import drshub as drshub_api
from gateway.web.routes import fence as fence_api
from gateway.web.routes import indexd as indexd_api
from gateway.web.routes import registry as registry_api
from gateway.web.routes import resolver as resolver_api
from gateway.web.state import GatewayState, Registry


async def setup_registry(app: web.Application, state: GatewayState, probe: ProbeFn) -> Registry:
    """Load the declared members, add the registry routes and run the health prober (``probe`` per member) and the
    declarations' keeper (re-creating declared members the store lost) with the app. Raises
    :class:`gateway.registry.config_members.RegistryStartupError` when declared members conflict."""
    repository = RegistryRepository(state.store, pending_ttl=state.settings.registry.pending_ttl)
    await load_config_members(repository, state.settings)
    monitor = HealthMonitor(state.store, repository, state.settings.health, probe,
                            discover=capability_probe(member_egress(state.egress, state.settings.registry.members)))
    keeper = DeclarationKeeper(repository, declared_members(state.settings),
                               state.settings.registry.reassert_interval)
    registry = app[REGISTRY] = Registry(repository, monitor, state.settings, state.cache,
                                        AdminCredentials(repository), state.egress.without_exceptions(), keeper)
    app.add_routes(registry_api.routes)
    run_with_app(app, monitor)
    run_with_app(app, keeper)
    return registry


def directory_for(registry: Registry, state: GatewayState) -> Directory:
    """The routing view over ``registry``, building each member's adapter on first use."""
    egress = member_egress(state.egress, state.settings.registry.members)
    return Directory(
        registry.repository, registry.health, adapter_factory(state.settings.upstream, state.refcommons, egress)
    )


def resolver_for(directory: Directory, state: GatewayState) -> Resolver:
    """The resolver over ``directory``, with the upstream dist lists when ``resolver.dist_urls`` names any."""
    settings = state.settings
    upstream = (
        UpstreamDist(settings.resolver.dist_urls, state.cache, settings.resolver.dist_ttl, state.egress)
        if settings.resolver.dist_urls else None
    )
    return Resolver(directory, state.cache, settings.resolver, upstream, own_hostnames=own_hostnames(settings))


def own_hostnames(settings: Settings) -> frozenset[str]:
    """Every ``host[:port]`` a ``drs://`` URI may name to mean the gateway itself."""
    names = {urlsplit(settings.base_url).netloc.lower().removesuffix(":443"), settings.drs_hostname}
    if settings.tls.cert is not None:
        host = urlsplit(settings.base_url).hostname or settings.host
        names.add(host if settings.tls.port == 443 else f"{host}:{settings.tls.port}")
    return frozenset(names)


async def setup_federation(app: web.Application, state: GatewayState) -> Directory:
    """Registry → directory → resolver (kept under :data:`~gateway.web.keys.RESOLVER`). The directory is
    returned for the features built over it."""

    def adapter_for(member: Member) -> MemberAdapter:
        return directory.adapter(member)  # bound below; the prober runs only once the app has started

    registry = await setup_registry(app, state, adapter_probe(adapter_for))
    directory = directory_for(registry, state)
    app[RESOLVER] = resolver_for(directory, state)
    app[INDEXD_READS] = IndexdReads(directory, state.settings.resolver.deadline, state.cache,
                                    state.settings.resolver.fanout_budget)
    return directory


def setup_drs(app: web.Application, state: GatewayState, resolver: Resolver, gate: PassportGate | None) -> None:
    """The federated DRS service (kept under :data:`~gateway.web.keys.DRS`), consulting ``gate`` when Passports
    are enabled."""
    settings = state.settings
    app[DRS] = DrsService(resolver, state.cache, settings.drs, settings.drs_profile, settings.drs_hostname, gate)


def add_resolution_routes(app: web.Application) -> None:
    """The routes over the resolver and the DRS service: DRS, indexd, fence, DRSHub and the resolver's own."""
    app.add_routes(drs_api.routes)
    app.add_routes(indexd_api.routes)  # before resolver_api's GET /index/{guid}, which would take /index/index/…
    app.add_routes(fence_api.routes)
    app.add_routes(drshub_api.routes)
    app.add_routes(resolver_api.routes)
