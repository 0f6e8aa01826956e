"""Where the gateway's application keeps what its routes serve: every :class:`aiohttp.web.AppKey`, in one place.

The app (:mod:`gateway.app`, the only composition root) builds the services and stores them under these keys;
route handlers only read them (``request.app[KEY]``, or ``request.config_dict`` where a sub-application may ask).
A key that is absent means its feature is off: :data:`GATE` without ``passports.enabled``, :data:`COUNT_HIDER`
when nothing tiers study counts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from gateway.access.open_readable import OpenAuthz
from gateway.access.readable import UserAuthz
from gateway.core.metrics import Metrics
from gateway.discovery.documents import CountHider
from gateway.discovery.harvest import Harvester
from gateway.discovery.snapshots import SnapshotSet
from gateway.drs.service import DrsService
from gateway.export.member_dictionaries import MemberDictionaries
from gateway.export.runner import ExportJobs
from gateway.indexd.service import IndexdReads
from gateway.passports.gate import PassportGate
from gateway.portal.site import PortalSite
from gateway.resolver.service import Resolver
from gateway.search.cohort import CohortService
from gateway.settings.aggregate import ExportSettings
from gateway.web.state import GatewayState, Registry

STATE = web.AppKey("gateway_state", GatewayState)
"""The settings and the shared resources opened at start (store, cache, the in-process commons)."""
METRICS = web.AppKey("metrics", Metrics)
"""This app's Prometheus metrics (:data:`gateway.core.metrics.OFF` when ``metrics.enabled`` is false)."""

# --- federation: registry, resolution, DRS ------------------------------------------------------------------

REGISTRY = web.AppKey("registry", Registry)
RESOLVER = web.AppKey("resolver", Resolver)
DRS = web.AppKey("drs", DrsService)
INDEXD_READS = web.AppKey("indexd_reads", IndexdReads)
"""The federated indexd listing, stats and version (:mod:`gateway.indexd`)."""

# --- Passports --------------------------------------------------------------------------------------------------

GATE = web.AppKey("passport_gate", PassportGate)
"""Present only when ``passports.enabled``."""

# --- who the caller is at each member (search, export, discovery) ---------------------------------------------

USER_AUTHZ = web.AppKey("search_user_authz", UserAuthz)
OPEN_AUTHZ = web.AppKey("search_open_authz", OpenAuthz)

# --- cohort search and export ----------------------------------------------------------------------------------

COHORT = web.AppKey("cohort_search", CohortService)
EXPORT = web.AppKey("cohort_export", ExportSettings)
OWN_HOST = web.AppKey("export_own_host", str)
"""The gateway's DRS ``host[:port]``: a manifest's ``commons_url`` for members that have no bare host."""
DICTIONARIES = web.AppKey("export_dictionaries", MemberDictionaries)
"""The dictionaries a PFB may be described with: the members' own, else the default the app hands over (the
reference commons', read from its package data; the web edge may not import the commons)."""
JOBS = web.AppKey("export_jobs", ExportJobs)

# --- study discovery (Aggregate MDS) ---------------------------------------------------------------------------

HARVESTER = web.AppKey("mds_harvester", Harvester)
HiderFactory = Callable[[web.Request, SnapshotSet], Awaitable[CountHider | None]]
COUNT_HIDER: web.AppKey[HiderFactory] = web.AppKey("mds_count_hider")
"""The request's count hider over the snapshots it is served from (tiered study counts); absent → nothing
hidden."""

# --- the web portal (pages for people) ----------------------------------------------------------------------------

PORTAL = web.AppKey("portal", PortalSite)
"""Present only when ``portal.enabled``: the assets and settings the pages share."""
