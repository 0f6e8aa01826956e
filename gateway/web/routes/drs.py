"""The gateway's GA4GH DRS 1.5 API under ``/ga4gh/drs/v1``: one endpoint for every object in every member.

Ids arrive in any form the resolver accepts, with a raw ``/`` or ``%2F``; ``expand`` in any case; a JSON
body on a GET is ignored. Errors are DRS ``{"msg", "status_code"}``; a member's ``202`` is answered
``202`` with its ``Retry-After``. A bulk ``POST /objects`` answer splices in each object as the bytes
``GET /objects/{id}`` serves for it (:meth:`~gateway.drs.service.DrsService.objects`). Bulk requests answer ``200``
with per-id failures in ``unresolved_drs_objects``, ``413`` above ``maxBulkRequestLength``, and ``504`` (same body,
plus ``msg`` and ``status_code``) when the deadline cut the work short. An id several members hold (a bare UUID two
members claim) is ``409`` with a ``candidates`` list next to ``msg`` and ``status_code`` (``409`` among a bulk answer's
unresolved ids); a client past its fan-out budget gets ``429`` with ``Retry-After``. ``expires_in`` on access
calls asks for a signed-URL lifetime, clamped to ``drs.max_signed_url_ttl``.

GA4GH Passports (when ``passports.enabled``) come in the ``passports`` field of POST bodies, or as
``Authorization: Bearer <passport>`` on any route; both at once is a 400 (rule 2). They are validated once per
request (401 when refused, 503 when a trusted issuer's keys are unreachable) and decide access at members in
``passport`` and ``gateway_token`` modes (:mod:`gateway.passports.gate`); 403 when they do not reach an object.
With Passports disabled they are ignored, as on every route (:func:`gateway.passports.gate.admit`).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from gateway.core.errors import ApiError
from gateway.drs.service import DrsService
from gateway.resolver.outcomes import ResolutionError
from gateway.web.body import parse_as, read_json
from gateway.web.caller import admitted, client_address
from gateway.web.keys import DRS, STATE
from gateway.web.openapi import operation
from gateway.web.query import query_bool, query_int
from gateway.web.render import JSON, json_response, json_spliced
from gateway.web.routes.resolver import api_error
from gateway.web.service_info import service_info
from gateway.wire.drs import (
    AccessRequest,
    AccessURL,
    Authorizations,
    BulkAccessRequest,
    BulkAccessResponse,
    BulkAccessURL,
    BulkAuthorizationsResponse,
    BulkObjectsRequest,
    BulkObjectsResponse,
    DrsObject,
    DrsServiceStats,
    ObjectRequest,
    ServiceInfo,
    Summary,
    dump,
    group_unresolved,
)
from gateway.wire.drs_profile import service_info_profile

OPERATION_ID_PREFIX = "gateway.drs.api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()
BASE = "/ga4gh/drs/v1"
TAGS = ("drs",)
ERRORS = {400: "not an identifier", 401: "the member wants credentials", 403: "the member refused",
          404: "no such object", 409: "several members hold it (candidates)",
          429: "fan-out budget spent (Retry-After)", 502: "the member failed", 503: "the member is unhealthy",
          504: "deadline passed"}


def _service(request: web.Request) -> DrsService:
    return request.app[DRS]


def _expires_in(request: web.Request) -> int | None:
    return query_int(request.query, "expires_in", minimum=1)


def _check_bulk(service: DrsService, count: int) -> None:
    limit = service.config.max_bulk_request_length
    if count > limit:
        raise ApiError(413, f"at most {limit} ids per bulk request (maxBulkRequestLength), got {count}")


PARTIAL: dict[str, Any] = {"msg": "the deadline passed before every member answered; partial result",
                           "status_code": 504}
"""What a bulk answer cut short by the deadline adds to its body."""


def _bulk_response(body: dict[str, Any], timed_out: bool) -> web.Response:
    if timed_out:
        body = {**body, **PARTIAL}
    return json_response(body, status=504 if timed_out else 200)


@routes.get(f"{BASE}/service-info")
@operation("DRS service-info of the gateway (GA4GH service-info + maxBulkRequestLength + drs)", tags=TAGS,
           response=ServiceInfo)
async def get_service_info(request: web.Request) -> web.Response:
    state = request.app[STATE]
    service = _service(request)
    limit = service.config.max_bulk_request_length
    info = {**service_info(state.settings, started_at=state.started_at), "maxBulkRequestLength": limit,
            "drs": dump(DrsServiceStats(maxBulkRequestLength=limit))}
    return json_response(service_info_profile(dump(ServiceInfo.model_validate(info)), service.profile))


@routes.post(f"{BASE}/objects")
@operation("Bulk DRS objects across members: resolved_drs_object plus unresolved ids grouped by error",
           tags=TAGS, request=BulkObjectsRequest, response=BulkObjectsResponse, query=("expand",),
           responses={413: "more ids than maxBulkRequestLength", 429: "fan-out budget spent (Retry-After)",
                      504: "deadline passed (partial result)"})
async def bulk_objects(request: web.Request) -> web.Response:
    service = _service(request)
    body = parse_as(BulkObjectsRequest, await read_json(request))
    _check_bulk(service, len(body.bulk_object_ids))
    query_bool(request.query, "expand")
    await admitted(request, body.passports, service.gate)  # validated, though an object's metadata needs no Passport
    result = await service.objects(body.bulk_object_ids, service.deadline(), client=client_address(request))
    head = {"summary": dump(Summary(requested=len(body.bulk_object_ids), resolved=len(result.objects),
                                    unresolved=len(result.failures))),
            "unresolved_drs_objects": [dump(u) for u in group_unresolved(result.failures)]}
    # each object spliced in as the bytes GET /objects/{id} answers for it (cached ones as cached)
    return web.Response(body=json_spliced(head, "resolved_drs_object", result.objects,
                                          PARTIAL if result.timed_out else None),
                        status=504 if result.timed_out else 200, content_type=JSON)


@routes.route("OPTIONS", f"{BASE}/objects")
@operation("Bulk authorizations: how to authorize /access for each object", tags=TAGS,
           request=BulkObjectsRequest, response=BulkAuthorizationsResponse)
async def bulk_options(request: web.Request) -> web.Response:
    service = _service(request)
    body = parse_as(BulkObjectsRequest, await read_json(request))
    _check_bulk(service, len(body.bulk_object_ids))
    deadline = service.deadline()
    found, failures = await service.authorizations_many(body.bulk_object_ids, deadline,
                                                        client=client_address(request))
    return _bulk_response(dump(BulkAuthorizationsResponse(
        summary=Summary(requested=len(body.bulk_object_ids), resolved=len(found), unresolved=len(failures)),
        unresolved_drs_objects=group_unresolved(failures), resolved_drs_object=found,
    )), deadline.expired)


@routes.post(f"{BASE}/objects/access")
@operation("Bulk signed URLs across members; per-item failures go to unresolved_drs_objects", tags=TAGS,
           request=BulkAccessRequest, response=BulkAccessResponse, query=("expires_in",),
           responses={413: "more pairs than maxBulkRequestLength", 429: "fan-out budget spent (Retry-After)",
                      504: "deadline passed (partial result)"})
async def bulk_access(request: web.Request) -> web.Response:
    service = _service(request)
    body = parse_as(BulkAccessRequest, await read_json(request))
    _check_bulk(service, sum(len(i.bulk_access_ids) for i in body.bulk_object_access_ids))
    expires_in = _expires_in(request)
    admission = await admitted(request, body.passports, service.gate)
    result = await service.accesses(
        [(i.bulk_object_id, i.bulk_access_ids) for i in body.bulk_object_access_ids], service.deadline(),
        authorization=admission.authorization, expires_in=expires_in, caller=admission.caller,
        client=client_address(request),
    )
    urls = [BulkAccessURL(drs_object_id=oid, drs_access_id=aid, url=u.url, headers=list(u.headers) or None)
            for oid, aid, u in result.urls]
    return _bulk_response(dump(BulkAccessResponse(
        summary=Summary(requested=result.requested, resolved=len(urls), unresolved=len(result.failures)),
        unresolved_drs_objects=group_unresolved(result.failures), resolved_drs_object_access_urls=urls,
    )), result.timed_out)


@routes.get(BASE + "/objects/{object_id:.+}/access/{access_id:[^/]+}")
@routes.post(BASE + "/objects/{object_id:.+}/access/{access_id:[^/]+}")
@operation("A signed URL for one access method, from the member that holds the object", tags=TAGS,
           request=AccessRequest, response=AccessURL, query=("expires_in",),
           responses={**ERRORS, 202: "the member is not ready; see Retry-After",
                      501: "the member holding the object offers no signed URLs (e.g. a bare indexd without fence)"})
async def get_access(request: web.Request) -> web.Response:
    service = _service(request)
    passports = None
    if request.method == "POST":
        passports = parse_as(AccessRequest, await read_json(request, allow_empty=True) or {}).passports
    expires_in = _expires_in(request)
    admission = await admitted(request, passports, service.gate)
    try:
        url = await service.access(
            request.match_info["object_id"], request.match_info["access_id"], service.deadline(),
            authorization=admission.authorization, expires_in=expires_in, caller=admission.caller,
            client=client_address(request),
        )
    except ResolutionError as exc:
        raise api_error(exc) from None
    return json_response(dump(AccessURL(url=url.url, headers=list(url.headers) or None)))


@routes.get(BASE + "/objects/{object_id:.+}")
@routes.post(BASE + "/objects/{object_id:.+}")
@operation("One DRS object, from whichever member holds it", tags=TAGS, request=ObjectRequest,
           response=DrsObject, query=("expand",), responses={**ERRORS, 202: "the member is not ready"})
async def get_object(request: web.Request) -> web.Response:
    service = _service(request)
    if request.query_string:  # the hot path: most requests carry no query at all
        query_bool(request.query, "expand")
    if request.method == "POST":
        body = parse_as(ObjectRequest, await read_json(request, allow_empty=True) or {})
        await admitted(request, body.passports, service.gate)
    elif service.gate is not None and "Authorization" in request.headers:
        await admitted(request, None, service.gate)
    try:
        found = await service.object_bytes(request.match_info["object_id"], client=client_address(request))
    except ResolutionError as exc:
        raise api_error(exc) from None
    return web.Response(body=found, content_type="application/json")


@routes.route("OPTIONS", BASE + "/objects/{object_id:.+}")
@operation("How to authorize /access for this object through the gateway (DRS 1.3 Authorizations)", tags=TAGS,
           response=Authorizations, responses=ERRORS)
async def object_options(request: web.Request) -> web.Response:
    service = _service(request)
    try:
        found = await service.authorizations(request.match_info["object_id"], service.deadline(),
                                             client=client_address(request))
    except ResolutionError as exc:
        raise api_error(exc) from None
    return json_response(dump(found))
