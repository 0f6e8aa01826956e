"""indexd-compatible federated reads under ``/index``, so indexd clients (the gen3 SDK's ``Gen3Index``,
indexclient) can point at the gateway as if it were one indexd holding every member's records.

- ``GET /index/_status`` → text ``Healthy`` (``Gen3Index.is_healthy`` compares the body exactly);
- ``GET /index/_version`` → ``{"version", "commit"}``: the gateway's version (the software serving this API), and
  ``members``: each member's own indexd version (or its error; ``unsupported`` for a member that cannot list);
- ``GET /index/index?limit=&start=&page=&hash=&url=&file_name=&version=&size=&acl=&authz=`` → indexd's list answer
  over every member that can list (:mod:`gateway.indexd`), records in ascending ``did`` order, plus
  ``next_start`` (the opaque cursor of the next page, ``null`` at the end: ``start=<last did>`` works too) and
  ``sources`` (each member's part; a DRS member is ``unsupported``). A member that fails fails the request;
- ``GET /index/_stats`` → ``{"fileCount", "totalFileSize"}`` summed over those members, with ``members``;
- ``GET /index/index/{guid}`` → the record, from whichever member holds it, in indexd's shape (a DRS
  member's object converted); anything not found, including a malformed id, is indexd's 404;
- ``POST /index/bulk/documents`` with a JSON list of ids → the list of records found, in the order asked
  (each record once), one bulk call per member; ids nobody holds are left out, as indexd does. At most
  :data:`MAX_BULK` ids (413 beyond). When a member failed (or the deadline passed) for some id, the whole
  request fails with that status rather than answer a list silently missing records.

These routes must be registered before the dataguids-style ``GET /index/{guid}`` of :mod:`.api`, which
would otherwise take ``/index/index/…`` and ``/index/_status`` for ids.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway import __version__
from gateway.core.errors import ApiError, bad_request, not_found
from gateway.indexd.request import INT64_MAX, MAX_OFFSET, parse_list_request
from gateway.resolver.identifiers import InvalidIdentifier
from gateway.resolver.outcomes import Resolution, ResolutionError
from gateway.resolver.records import indexd_view
from gateway.web.body import read_json
from gateway.web.caller import client_address
from gateway.web.keys import INDEXD_READS, RESOLVER
from gateway.web.methods import only
from gateway.web.openapi import Query, operation
from gateway.web.render import json_response
from gateway.web.routes.resolver import BULK_IDS, MAX_BULK, api_error
from gateway.web.shapes import IndexdListShape, IndexdRecordShape, IndexdRecordsShape, IndexdStatsShape
from gateway.wire.checksums import INDEXD_HASH_FORMATS

OPERATION_ID_PREFIX = "gateway.resolver.indexd_api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()
TAGS = ("indexd",)
NOT_FOUND = (400, 404)
"""Per-id outcomes indexd would simply not find (a malformed id, an id no member holds)."""
HASH_PATTERN = "^(" + "|".join(f"{name}:{shape.pattern[1:-1]}" for name, shape in INDEXD_HASH_FORMATS.items()) + ")$"
"""``<type>:<hex>`` in one of indexd's hash shapes."""
LIST_PARAMS = (Query("limit", {"type": "integer", "minimum": 0, "maximum": 1024}),
               Query("start", {"type": "string", "maxLength": 1024}),
               Query("page", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}),
               Query("hash", {"type": "string", "pattern": HASH_PATTERN}),
               "url", "file_name", "version", Query("size", {"type": "integer", "minimum": 0, "maximum": INT64_MAX}),
               "acl", "authz")
FAILURES = {502: "a member failed (named)", 503: "a member is busy or unhealthy", 504: "deadline passed"}


@routes.get("/index/_status")
@operation("indexd health: the text Healthy", tags=TAGS, content="text/plain")
async def status(request: web.Request) -> web.Response:
    return web.Response(text="Healthy", content_type="text/plain")


@routes.get("/index/_version")
@operation("indexd version document: the gateway's version, and each member's indexd version", tags=TAGS,
           responses={429: "fan-out budget spent (Retry-After)"})
async def version(request: web.Request) -> web.Response:
    return json_response(await request.app[INDEXD_READS].version(__version__, client_address(request)))


@routes.get("/index/_stats")
@operation("indexd stats summed over every member that can list, with each member's own", tags=TAGS,
           response=IndexdStatsShape, responses={429: "fan-out budget spent (Retry-After)", **FAILURES})
async def stats(request: web.Request) -> web.Response:
    return json_response(await request.app[INDEXD_READS].stats(client_address(request)))


@routes.get("/index/index")
@routes.get("/index/index/")
@operation("indexd listing and queries across every member that can list, in did order, paged by an opaque "
           "cursor (or the last did) as start", tags=TAGS, query=LIST_PARAMS, response=IndexdListShape,
           responses={400: "a malformed parameter, a limit out of bounds, a forged cursor",
                      429: "fan-out budget spent (Retry-After)", **FAILURES})
async def list_records(request: web.Request) -> web.Response:
    asked = parse_list_request(list(request.query.items()))
    listed = await request.app[INDEXD_READS].list(asked, client_address(request))
    return json_response({
        "ids": None, "records": [indexd_view(r) for r in listed.records], "limit": asked.limit,
        "start": asked.start, "page": asked.page, **asked.filters.echo(),
        "next_start": listed.next_start, "sources": listed.sources,
    })


@routes.get("/index/index/{guid:.+}")
@operation("The indexd record of any GUID, from whichever member holds it", tags=TAGS, response=IndexdRecordShape,
           responses={404: "no record found", 409: "several members hold it (candidates)",
                      429: "fan-out budget spent (Retry-After)", 502: "the member failed",
                      503: "the member is unhealthy", 504: "deadline passed"})
async def get_record(request: web.Request) -> web.Response:
    guid = request.match_info["guid"]
    try:
        resolution = await request.app[RESOLVER].resolve(guid, client=client_address(request))
    except InvalidIdentifier:
        raise not_found(f"no record found: {guid}") from None
    except ResolutionError as exc:
        if exc.status == 404:
            raise not_found(f"no record found: {guid}") from None
        raise api_error(exc) from None
    return json_response(indexd_view(resolution.record))


def _ids(body: Any) -> list[str]:
    if not body:
        raise bad_request("No ids provided")
    if not isinstance(body, list):
        raise bad_request("ids is not a list")
    if len(body) > MAX_BULK:
        raise ApiError(413, f"at most {MAX_BULK} ids per bulk request, got {len(body)}")
    if not all(isinstance(i, str) for i in body):
        raise bad_request("every id must be a string")
    return body


@routes.post("/index/bulk/documents")
@operation("indexd bulk lookup: the records found for a JSON list of ids, across every member", tags=TAGS,
           request_schema=BULK_IDS, response=IndexdRecordsShape,
           responses={400: "not a non-empty JSON list of strings", 413: "more than 1000 ids",
                      502: "a member failed", 503: "a member is unhealthy", 504: "deadline passed"})
async def bulk_documents(request: web.Request) -> web.Response:
    ids = _ids(await read_json(request))
    outcomes = await request.app[RESOLVER].resolve_many(ids, client=client_address(request))
    records: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for raw in ids:
        outcome = outcomes[raw]
        if isinstance(outcome, ResolutionError):
            if outcome.status in NOT_FOUND:
                continue
            failed = sum(1 for o in outcomes.values() if isinstance(o, ResolutionError) and o.status not in NOT_FOUND)
            raise ApiError(outcome.status if outcome.status >= 400 else 503,
                           f"{failed} of the ids could not be looked up (first: {outcome.message})")
        assert isinstance(outcome, Resolution)
        key = (outcome.member.id, outcome.record.id)
        if key not in seen:
            seen.add(key)
            records.append(indexd_view(outcome.record))
    return json_response(records)


routes.route("*", "/index/bulk/documents")(only("POST"))  # GET /index/{guid:.+} matches it too: 405 says POST
