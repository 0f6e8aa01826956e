"""Gen3 Aggregate MDS over the harvested discovery snapshots, under ``/mds/aggregate``.

Routes (shapes of metadata-service's ``src/mds/agg_mds/query.py``; see :mod:`gateway.discovery.mds_query`):

* ``GET /mds/aggregate/commons`` → ``{"commons": [member id, ...]}``
* ``GET /mds/aggregate/metadata?limit=&offset=&flatten=&pagination=&counts=`` → ``{commons: [{guid: doc}]}``,
  ``[{guid: doc}]`` with ``flatten``, wrapped in ``{"results", "pagination"}`` with ``pagination``
* ``GET /mds/aggregate/metadata/{commons}`` → ``[doc, ...]``; ``…/{commons}/info`` → ``{"commons_url"}``
* ``GET /mds/aggregate/metadata/guid/{guid}`` → ``doc`` (``{"gen3_discovery": {...}}``)
* ``GET /mds/aggregate/tags`` → ``{category: {"total", "names": [{name: n}]}}``
* ``GET /mds/aggregate/info/{what}`` → ``schema``, a member's ``{"commons_url"}``, or a GUID prefix's
  ``{host, name, type}``

Additions: ``GET /mds/aggregate/search?q=…&<dotted.field>=<value>…`` (full text and field filters, a repeated
field ORs, different fields AND; same parameters and shapes as ``/metadata``) and ``GET /mds/aggregate/status``
(per member: status, count, age, last success and attempt, error).

Errors are the gateway's plain JSON errors ``{"error", "status_code"}`` (as on every non-GA4GH route): 400 for
a bad parameter, 404 for an unknown commons, GUID or info key.

Tiered study counts: every route returning studies asks ``app[COUNT_HIDER]`` for the request's
:data:`~gateway.discovery.documents.CountHider`. The app (:func:`gateway.app.features.setup_discovery`) sets
:func:`study_count_hider`: the caller (a bearer token, or a bearer GA4GH Passport;
:func:`gateway.web.caller.caller_from_request`) reads some resources at each member
(:meth:`~gateway.access.caller.SearchCaller.readable_at`: its own and the member's open ones; anonymous: the open
ones, cached), and :mod:`gateway.discovery.study_tiering` hides the counts of the studies that are not the
caller's under each member's tier. A hidden count is ``null`` and the study lists it in ``_hidden_counts``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from gateway.access.readable import NOTHING
from gateway.access.tiers import Tier, TierPolicy
from gateway.core.errors import ApiError, bad_request
from gateway.discovery import mds_query as q
from gateway.discovery.documents import DEFAULT_LIMIT, CountHider, parse_counts
from gateway.discovery.harvest import DiscoveryView
from gateway.discovery.snapshots import Snapshot, SnapshotSet
from gateway.discovery.study_tiering import MemberStudies, StudyCountHider, member_studies
from gateway.web.caller import caller_from_request
from gateway.web.keys import COUNT_HIDER, HARVESTER
from gateway.web.openapi import operation
from gateway.web.query import query_bool, query_int
from gateway.web.render import json_response

OPERATION_ID_PREFIX = "gateway.aggregate.mds_api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

BASE = "/mds/aggregate"
TAGS = ("mds",)
COUNTED_FIELDS = ("_subjects_count", "_samples_count", "_files_count")
PAGE_PARAMS = ("limit", "offset", "flatten", "pagination", "counts")
RESERVED = frozenset({*PAGE_PARAMS, "q"})
ERRORS = {400: "bad parameter", 404: "not found"}

routes = web.RouteTableDef()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _mds_errors(handler: Handler) -> Handler:
    """A query :mod:`mds_query` refuses (over its limits, malformed) is the caller's 400."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None

    return wrapped


def _not_found(message: str) -> ApiError:
    return ApiError(404, message)


async def _view(request: web.Request) -> DiscoveryView:
    return await request.app[HARVESTER].view()


async def _hider(request: web.Request, snapshots: SnapshotSet) -> CountHider | None:
    factory = request.app.get(COUNT_HIDER)
    return await factory(request, snapshots) if factory is not None else None


async def _page(request: web.Request, snapshots: SnapshotSet) -> dict[str, Any]:
    query = request.query
    page = {
        "limit": query_int(query, "limit", DEFAULT_LIMIT, minimum=0),
        "offset": query_int(query, "offset", 0, minimum=0),
        "flatten": query_bool(query, "flatten"),
        "pagination": query_bool(query, "pagination"),
        "counts": parse_counts(query.get("counts")),
    }
    return {**page, "count_hider": await _hider(request, snapshots), "counted_fields": COUNTED_FIELDS}


async def study_count_hider(request: web.Request, snapshots: SnapshotSet) -> CountHider:
    """The request's :class:`~gateway.discovery.study_tiering.StudyCountHider`: per member with studies, the
    caller's readable resources there (looked up concurrently) and the tiered view of its studies."""
    harvester = request.app[HARVESTER]
    policy = TierPolicy.from_settings(harvester.config.tier)
    caller = await caller_from_request(request)
    members = (await harvester.directory.routes()).members
    listed = [s for s in snapshots if s.records and policy.tier_for(s.commons) is not Tier.LIBRE]

    async def view(snapshot: Snapshot) -> tuple[str, MemberStudies]:
        member = members.get(snapshot.commons)
        readable = await caller.readable_at(member) if member is not None else NOTHING
        return snapshot.commons, member_studies(snapshot.records, readable.covers_all,
                                                policy.tier_for(snapshot.commons), policy.limit, COUNTED_FIELDS)

    return StudyCountHider(policy, dict(await asyncio.gather(*(view(s) for s in listed))))


@routes.get(f"{BASE}/commons")
@operation("Aggregate MDS: the commons (members) with discovery records", tags=TAGS)
@_mds_errors
async def get_commons(request: web.Request) -> web.Response:
    return json_response(q.list_commons((await _view(request)).snapshots))


@routes.get(f"{BASE}/metadata")
@operation("Aggregate MDS: one page of every member's discovery records", tags=TAGS, query=PAGE_PARAMS,
           responses=ERRORS)
@_mds_errors
async def get_metadata(request: web.Request) -> web.Response:
    snapshots = (await _view(request)).snapshots
    return json_response(q.metadata(snapshots, **await _page(request, snapshots)))


@routes.get(BASE + "/metadata/guid/{guid:.+}")
@operation("Aggregate MDS: one discovery record by GUID", tags=TAGS, responses=ERRORS)
@_mds_errors
async def get_by_guid(request: web.Request) -> web.Response:
    guid = request.match_info["guid"]
    snapshots = (await _view(request)).snapshots
    found = q.by_guid(snapshots, guid, count_hider=await _hider(request, snapshots), counted_fields=COUNTED_FIELDS)
    if found is None:
        raise _not_found(f"no discovery record with GUID {guid!r}")
    return json_response(found)


@routes.get(BASE + "/metadata/{name}/info")
@operation("Aggregate MDS: a commons' info ({commons_url})", tags=TAGS, responses=ERRORS)
@_mds_errors
async def get_commons_info(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    found = q.commons_info((await _view(request)).snapshots, name)
    if found is None:
        raise _not_found(f"no commons named {name!r}")
    return json_response(found)


@routes.get(BASE + "/metadata/{name}")
@operation("Aggregate MDS: every discovery record of one commons", tags=TAGS, responses=ERRORS)
@_mds_errors
async def get_by_commons(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    snapshots = (await _view(request)).snapshots
    found = q.by_commons(snapshots, name, count_hider=await _hider(request, snapshots), counted_fields=COUNTED_FIELDS)
    if found is None:
        raise _not_found(f"no commons named {name!r}")
    return json_response(found)


@routes.get(f"{BASE}/tags")
@operation("Aggregate MDS: tag counts per category over every discovery record", tags=TAGS)
@_mds_errors
async def get_tags(request: web.Request) -> web.Response:
    return json_response(q.tags((await _view(request)).snapshots))


@routes.get(BASE + "/info/{what}")
@operation("Aggregate MDS: `schema`, a commons' info, or a GUID prefix's {host, name, type}", tags=TAGS,
           responses=ERRORS)
@_mds_errors
async def get_info(request: web.Request) -> web.Response:
    what = request.match_info["what"]
    harvester = request.app[HARVESTER]
    member = (await harvester.directory.routes()).by_prefix.get(what.lower())  # live: a member may just have joined
    if member is not None:  # gen3 drs-pull's commons_mds resolver
        return json_response({"host": urlsplit(member.base_url).netloc, "name": member.name, "type": "indexd"})
    view = await _view(request)
    found = q.info(view.snapshots, what, schema=harvester.config.mappings.study_schema, extra=view.prefixes)
    if found is None:
        raise _not_found(f"no information about {what!r}")
    return json_response(found)


def _filters(request: web.Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key in request.query:
        if key not in RESERVED and key not in out:
            out[key] = request.query.getall(key)
    return out


@routes.get(f"{BASE}/search")
@operation("Search discovery records: full text `q` and `<dotted.field>=<value>` filters (an addition)",
           tags=TAGS, query=("q", *PAGE_PARAMS), responses=ERRORS)
@_mds_errors
async def get_search(request: web.Request) -> web.Response:
    text = request.query.getall("q", [])
    if len(text) > 1:
        raise bad_request("give q at most once")
    snapshots = (await _view(request)).snapshots
    page = await _page(request, snapshots)
    found = q.search(snapshots, q=text[0] if text else None, filters=_filters(request), **page)
    return json_response(found)


@routes.get(f"{BASE}/status")
@operation("Per member: harvest status, record count, age, last success and attempt, error (an addition)",
           tags=TAGS)
@_mds_errors
async def get_status(request: web.Request) -> web.Response:
    harvester = request.app[HARVESTER]
    view = await _view(request)
    return json_response({
        "sources": view.status(harvester.clock()),
        "harvest": {"interval": harvester.config.harvest.interval, "timeout": harvester.config.harvest.timeout},
    })
