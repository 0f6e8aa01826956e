"""HTTP routes of the Gen3 metadata service subset, relative to the service's root (Gen3's proxy serves them under
``/mds``, :mod:`refcommons.layout`): status, version, query and get by GUID.

``GET /metadata`` takes ``data`` (``true``/``false``, any case; default false), ``limit`` (default 10,
at most 2000) and ``offset``; every other query parameter is a dotted-path filter (see
:mod:`refcommons.mds.catalog`). It answers a JSON list of GUIDs, or with ``data=true`` a ``{guid: record}`` map.
"""

from __future__ import annotations

from aiohttp import web

from gateway.core.errors import not_found
from gateway.web.openapi import operation
from gateway.web.query import query_bool, query_int
from gateway.web.render import json_response
from refcommons.mds.catalog import MetadataCatalog
from refcommons.routes.keys import COMMONS

OPERATION_ID_PREFIX = "refcommons.mds_api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()

TAGS = ("mds",)
VERSION = "0.1.0"
DEFAULT_LIMIT = 10
MAX_LIMIT = 2000
_RESERVED = ("data", "limit", "offset")


def _catalog(request: web.Request) -> MetadataCatalog:
    return request.config_dict[COMMONS].metadata


@routes.get("/_status")
@operation("MDS health", tags=TAGS)
async def status(request: web.Request) -> web.Response:
    return json_response({"status": "OK"})


@routes.get("/version")
@operation("MDS version (a JSON string)", tags=TAGS)
async def version(request: web.Request) -> web.Response:
    return json_response(VERSION)


@routes.get("/metadata")
@operation(
    "Query metadata records by dotted-path filters",
    tags=TAGS,
    query=_RESERVED,
    responses={400: "bad data, limit or offset"},
)
async def query(request: web.Request) -> web.Response:
    """A repeated filter key ORs its values; different keys AND; results are ordered by GUID."""
    data = query_bool(request.query, "data")
    limit = min(query_int(request.query, "limit", DEFAULT_LIMIT, minimum=0), MAX_LIMIT)
    offset = query_int(request.query, "offset", 0, minimum=0)
    filters: dict[str, list[str]] = {}
    for key, value in request.query.items():
        if key not in _RESERVED:
            filters.setdefault(key, []).append(value)
    hits = _catalog(request).query(filters, limit, offset)
    if data:
        return json_response(dict(hits))
    return json_response([guid for guid, _ in hits])


@routes.get("/metadata/{guid:.+}")
@operation("One metadata record", tags=TAGS, responses={404: "no such record"})
async def get_record(request: web.Request) -> web.Response:
    """The record's data; ``<guid>/aliases`` answers ``{"guid", "aliases": []}`` for a known record."""
    guid = request.match_info["guid"]
    catalog = _catalog(request)
    record = catalog.get(guid)
    if record is not None:
        return json_response(record)
    base = guid.removesuffix("/aliases")
    if base != guid and catalog.get(base) is not None:
        return json_response({"guid": base, "aliases": []})
    raise not_found(f"no metadata record {guid}")
