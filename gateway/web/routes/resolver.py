"""The resolver's HTTP surface.

- ``GET /resolver/v1/resolve?id=…`` (a cached hit answered from the finished bytes its cache entry holds:
  :mod:`gateway.resolver.answers`) and ``POST /resolver/v1/resolve`` (``{"ids": [...]}``, resolved together:
  each member asked at most once per chunk of ids): which member holds an id, the normalised id, the member's
  record, and whether that member is ``established`` as the id's owner (by prefix or hostname, or as the only
  holder of a bare id when every member answered). An id several members hold answers 409 with ``candidates``
  (each ``{"member", "id", "drs_uri"}``), per id in a bulk answer; a client past its fan-out budget gets 429 with
  ``Retry-After`` for the whole request (:mod:`gateway.resolver.budget`).
- dataguids-compatible: ``GET /index/{guid}`` (the member's indexd record plus ``from_index_service``),
  ``GET /index/_dist`` (the registry as a dist list), so ``gen3 drs-pull`` can use the gateway as its resolver
  (``DRS_RESOLVER_HOSTNAME``); its ``GET /mds/aggregate/info/{prefix}`` is part of the aggregate-MDS surface
  (:mod:`gateway.web.routes.discovery`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.core.errors import ApiError, bad_request
from gateway.resolver.answers import view
from gateway.resolver.dist import render_dist
from gateway.resolver.identifiers import InvalidIdentifier
from gateway.resolver.outcomes import Resolution, ResolutionError
from gateway.resolver.records import indexd_view
from gateway.web.body import parse_as, read_json
from gateway.web.caller import client_address
from gateway.web.keys import RESOLVER
from gateway.web.openapi import IDENTIFIER_PATTERN, Query, operation
from gateway.web.render import JSON, json_response
from gateway.web.shapes import BulkResolutionShape, IndexdRecordShape, ResolutionShape

OPERATION_ID_PREFIX = "gateway.resolver.api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()
TAGS = ("resolver",)
MAX_BULK = 1000
IDENTIFIER = Query("id", {"type": "string", "pattern": IDENTIFIER_PATTERN}, required=True,
                   description="a GUID, UUID or drs:// URI")
BULK_IDS: dict[str, object] = {"type": "array", "minItems": 1, "maxItems": MAX_BULK,
                               "items": {"type": "string"}}
"""The body of the bulk routes: a JSON list of ids."""


class BulkResolve(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[str] = Field(min_length=1, max_length=MAX_BULK)


def api_error(exc: ResolutionError) -> ApiError:
    """The HTTP answer for a failed resolution (or a member's failure behind it): its status and message, the
    member's ``Retry-After`` when it gave one (a 202 not ready yet, a 429 that outlasted the deadline), and the
    ``candidates`` of an ambiguous id (409)."""
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return ApiError(exc.status, exc.message, headers=headers, extra=candidates_view(exc))


def candidates_view(exc: ResolutionError) -> dict[str, Any]:
    """``{"candidates": [...]}`` for an ambiguous id; nothing otherwise."""
    return {"candidates": [c.view() for c in exc.candidates]} if exc.candidates else {}


async def _resolve(request: web.Request, raw: str) -> Resolution:
    try:
        return await request.app[RESOLVER].resolve(raw, client=client_address(request))
    except InvalidIdentifier as exc:
        raise bad_request(str(exc)) from None
    except ResolutionError as exc:
        raise api_error(exc) from None


@routes.get("/resolver/v1/resolve")
@operation("Which member commons holds an id, and its record", tags=TAGS, query=(IDENTIFIER,),
           response=ResolutionShape,
           responses={400: "not an identifier", 404: "in no member", 409: "several members hold it (candidates)",
                      429: "fan-out budget spent (Retry-After)", 502: "a member failed",
                      503: "the owning member is unhealthy", 504: "deadline passed"})
async def resolve_one(request: web.Request) -> web.Response:
    raw = request.query.get("id")  # the only parameter: the answer depends on nothing else
    if not raw:
        raise bad_request("give the identifier as ?id=<GUID, UUID or drs:// URI>")
    try:
        body = await request.app[RESOLVER].answer(raw, client=client_address(request))
    except InvalidIdentifier as exc:
        raise bad_request(str(exc)) from None
    except ResolutionError as exc:
        raise api_error(exc) from None
    return web.Response(body=body, content_type=JSON)


def render_outcome(raw: str, outcome: Resolution | ResolutionError) -> dict[str, Any]:
    """One id's entry in a bulk answer: its resolution with status 200, or its status and error."""
    if isinstance(outcome, ResolutionError):
        return {"id": raw, "status": outcome.status, "error": outcome.message, **candidates_view(outcome)}
    return {"status": 200, **view(outcome)}


@routes.post("/resolver/v1/resolve")
@operation("Resolve many ids at once (each result carries its own status)", tags=TAGS, request=BulkResolve,
           response=BulkResolutionShape,
           responses={413: f"more than {MAX_BULK} ids", 429: "fan-out budget spent (Retry-After)"})
async def resolve_many(request: web.Request) -> web.Response:
    """Through the resolver's bulk path: each member asked at most once per chunk of ids, whatever their form.
    More than :data:`MAX_BULK` ids is a 413, as on every other bulk route."""
    raw = await read_json(request)
    if isinstance(raw, dict) and isinstance(raw.get("ids"), list) and len(raw["ids"]) > MAX_BULK:
        raise ApiError(413, f"at most {MAX_BULK} ids per bulk request, got {len(raw['ids'])}")
    body = parse_as(BulkResolve, raw)
    outcomes = await request.app[RESOLVER].resolve_many(body.ids, client=client_address(request))
    return json_response({"results": [render_outcome(raw, outcomes[raw]) for raw in body.ids]})


@routes.get("/index/_dist")
@operation("The registry as a dataguids-style distribution list", tags=("dataguids",))
async def dist(request: web.Request) -> web.Response:
    members = (await request.app[RESOLVER].directory.routes()).members.values()
    return json_response(render_dist(sorted(members, key=lambda m: m.id)))


@routes.get("/index/{guid:.+}")
@operation("dataguids global lookup: the member's indexd record plus from_index_service", tags=("dataguids",),
           response=IndexdRecordShape, query=("no_dist",), responses={400: "not an identifier", 404: "in no member",
                                          409: "several members hold it (candidates)",
                                          429: "fan-out budget spent (Retry-After)"})
async def global_get(request: web.Request) -> web.Response:
    resolution = await _resolve(request, request.match_info["guid"])
    record = indexd_view(resolution.record)
    record["from_index_service"] = {"host": resolution.member.base_url + "/index/", "name": resolution.member.name}
    return json_response(record)
