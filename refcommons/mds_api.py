"""HTTP routes of the Gen3 metadata service subset (``/mds``): status, version, query and get by GUID.

``GET /mds/metadata`` takes ``data`` (``true``/``false``, any case; default false), ``limit`` (default 10,
at most 2000) and ``offset``; every other query parameter is a dotted-path filter (see
:mod:`refcommons.mds`). It answers a JSON list of GUIDs, or with ``data=true`` a ``{guid: record}`` map.
"""

from __future__ import annotations

from aiohttp import web

from gateway.web.errors import bad_request, not_found
from gateway.web.openapi import operation
from gateway.web.render import json_response
from refcommons.commons import COMMONS
from refcommons.mds import MetadataCatalog

routes = web.RouteTableDef()

TAGS = ("mds",)
VERSION = "0.1.0"
DEFAULT_LIMIT = 10
MAX_LIMIT = 2000
_RESERVED = ("data", "limit", "offset")


def _catalog(request: web.Request) -> MetadataCatalog:
    return request.config_dict[COMMONS].metadata


def parse_bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no", ""):
        return False
    raise bad_request(f"{name} must be true or false, not {raw!r}")


def parse_count(name: str, raw: str | None, default: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise bad_request(f"{name} must be a non-negative integer, not {raw!r}") from None
    if value < 0:
        raise bad_request(f"{name} must be a non-negative integer, not {raw!r}")
    return value


@routes.get("/mds/_status")
@operation("MDS health", tags=TAGS)
async def status(request: web.Request) -> web.Response:
    return json_response({"status": "OK"})


@routes.get("/mds/version")
@operation("MDS version (a JSON string)", tags=TAGS)
async def version(request: web.Request) -> web.Response:
    return json_response(VERSION)


@routes.get("/mds/metadata")
@operation(
    "Query metadata records by dotted-path filters",
    tags=TAGS,
    query=_RESERVED,
    responses={400: "bad data, limit or offset"},
)
async def query(request: web.Request) -> web.Response:
    """A repeated filter key ORs its values; different keys AND; results are ordered by GUID."""
    data = parse_bool("data", request.query.get("data"), False)
    limit = min(parse_count("limit", request.query.get("limit"), DEFAULT_LIMIT), MAX_LIMIT)
    offset = parse_count("offset", request.query.get("offset"), 0)
    filters: dict[str, list[str]] = {}
    for key, value in request.query.items():
        if key not in _RESERVED:
            filters.setdefault(key, []).append(value)
    hits = _catalog(request).query(filters, limit, offset)
    if data:
        return json_response(dict(hits))
    return json_response([guid for guid, _ in hits])


@routes.get("/mds/metadata/{guid:.+}")
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
