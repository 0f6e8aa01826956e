"""The features built over the federation's directory: study discovery (Aggregate MDS over harvested snapshots),
cohort search and its export, and who the caller is at each member, which all three share.

Each ``setup_*`` builds the feature's services, keeps them under their :mod:`gateway.web.keys`, adds the feature's
routes and runs its background work with the app.
"""

from __future__ import annotations

from aiohttp import web

from gateway.access.open_readable import OpenAuthz
from gateway.access.readable import UserAuthz
from gateway.app.background import run_with_app
from gateway.discovery.harvest import Harvester
from gateway.export.dictionary import from_gen3_dictionary
from gateway.export.member_dictionaries import MemberDictionaries
from gateway.export.runner import ExportJobs
from gateway.export.storage import open_files
from gateway.registry.directory import Directory
from gateway.search.cohort import CohortService
from gateway.web.keys import (
    COHORT,
    COUNT_HIDER,
    DICTIONARIES,
    EXPORT,
    HARVESTER,
    JOBS,
    OPEN_AUTHZ,
    OWN_HOST,
    USER_AUTHZ,
)
from gateway.web.routes import discovery as discovery_api
from gateway.web.routes import export as export_api
from gateway.web.routes import export_jobs as export_jobs_api
from gateway.web.routes import search as search_api
from gateway.web.state import GatewayState
from refcommons.submission.dictionary import document as refcommons_dictionary


def setup_callers(app: web.Application, state: GatewayState, directory: Directory) -> None:
    """Keep the ``/user/user`` and anonymous-mapping lookups (:class:`UserAuthz`, :class:`OpenAuthz`, over the
    gateway cache) on ``app``, where :func:`gateway.web.caller.caller_from_request` finds them."""
    max_age = state.settings.drs.authz_max_age  # grants the gateway decides search access on: no older than this
    app[USER_AUTHZ] = UserAuthz(state.cache, directory.adapter, max_age=max_age)
    app[OPEN_AUTHZ] = OpenAuthz(state.cache, directory.adapter, max_age=max_age)


def setup_discovery(app: web.Application, state: GatewayState, directory: Directory) -> None:
    """The Aggregate MDS routes and the background harvester (started with the app, a first round at once without
    delaying start-up, when ``aggregate.harvest.enabled``; stopped on cleanup), with tiered study counts."""
    config = state.settings.aggregate
    harvester = app[HARVESTER] = Harvester(state.store, directory, config)
    app[COUNT_HIDER] = discovery_api.study_count_hider
    app.add_routes(discovery_api.routes)
    run_with_app(app, harvester, start=config.harvest.enabled)


def setup_search(app: web.Application, state: GatewayState, directory: Directory) -> None:
    """``POST /search/v1/cohort`` over the cohort service, and ``POST /search/v1/export`` with its job routes on the
    same service; the jobs' sweeper starts and stops with the app, and this replica's running jobs are marked
    failed when it stops."""
    config = state.settings.aggregate
    cohort = app[COHORT] = CohortService(directory, config)
    app.add_routes(search_api.routes)
    # PFB exports are described with the reference commons' dictionary (its package data) unless the
    # contributing members offer their own (gateway.export.dictionary_choice)
    default = from_gen3_dictionary(refcommons_dictionary(), strict=True)
    app[DICTIONARIES] = MemberDictionaries(default, state.cache, directory.adapter, mapped=cohort.mappings)
    app[EXPORT] = config.export
    app[OWN_HOST] = state.settings.drs_hostname
    jobs = app[JOBS] = ExportJobs(state.store, open_files(config.export, state.cache), config.export)
    app.add_routes(export_api.routes)
    app.add_routes(export_jobs_api.routes)
    run_with_app(app, jobs)
