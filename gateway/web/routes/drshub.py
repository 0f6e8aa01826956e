"""DRSHub-compatible ``POST /api/v4/drs/resolve``, so Terra-style clients (Cromwell's DRS resolver, the
Terra UI, terra-notebook-utils) can use the gateway in place of DRSHub.

Body ``{"url": "drs://…", "fields"?: [...], "cloudPlatform"?: "gs"|"s3"|"azure"}``. As in DRSHub the url must
be a ``drs://`` (or ``dos://``) URI, compact or hostname-based, in any form the resolver accepts; anything
else, unknown fields or an unknown platform → 400. ``accessUrl`` (only when asked for) is a signed URL from the
member, asked with the caller's ``Authorization`` as the member's auth mode allows; the gateway always asks
when the field is requested, so DRSHub's ``drshub-force-access-url: true`` header changes nothing. As in
DRSHub, a failed signed URL for a ``gs`` access method leaves ``accessUrl`` ``null`` (the client can fall
back to ``gsUri``); for any other method it fails the request. Errors are DRSHub's
``{"message", "statusCode"}`` with the member's status passed on (``gateway.web.errors``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from gateway.core.errors import ApiError, bad_request
from gateway.core.records import AccessURL
from gateway.drs.drshub import ACCESS_URL, UnknownField, access_method, render, requested_fields
from gateway.drs.federate import InvalidRecord, drs_object
from gateway.drs.service import DrsService
from gateway.resolver.identifiers import InvalidIdentifier
from gateway.resolver.outcomes import Resolution, ResolutionError
from gateway.resolver.records import indexd_view
from gateway.web.body import parse_as, read_json
from gateway.web.caller import client_address
from gateway.web.keys import DRS, RESOLVER
from gateway.web.openapi import operation
from gateway.web.render import json_response
from gateway.web.routes.resolver import api_error

OPERATION_ID_PREFIX = "gateway.drshub.api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()
TAGS = ("drshub",)
DRS_SCHEME = re.compile(r"(?i)(drs|dos)://")


class ResolveRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    url: str
    fields: list[str] | None = None
    cloudPlatform: Literal["gs", "s3", "azure"] | None = None  # DRSHub's wire name


async def _resolve(request: web.Request, raw: str, service: DrsService) -> Resolution:
    deadline = service.deadline()
    try:
        async with asyncio.timeout(deadline.backstop()):
            return await request.app[RESOLVER].resolve(raw, deadline, client=client_address(request))
    except InvalidIdentifier as exc:
        raise bad_request(f"not a valid DRS URI: {exc}") from None
    except ResolutionError as exc:
        raise api_error(exc) from None
    except TimeoutError:
        raise ApiError(504, "no answer before the request's deadline") from None


async def _access(
    request: web.Request, service: DrsService, raw: str, method: dict[str, Any] | None
) -> AccessURL | None:
    if method is None:
        return None
    try:
        return await service.access(raw, str(method["access_id"]), service.deadline(),
                                    authorization=request.headers.get("Authorization"), expires_in=None,
                                    client=client_address(request))
    except ResolutionError as exc:
        if method.get("type") == "gs":
            return None
        raise api_error(exc) from None


@routes.post("/api/v4/drs/resolve")
@operation("DRSHub-compatible resolution: the requested fields of any DRS URI, optionally a signed accessUrl",
           tags=TAGS, request=ResolveRequest,
           responses={400: "bad body, unknown field or not a DRS URI", 401: "the member wants credentials",
                      403: "the member refused", 404: "no such object",
                      409: "several members hold it (candidates)", 429: "fan-out budget spent (Retry-After)",
                      502: "the member failed",
                      503: "the member is unhealthy", 504: "deadline passed"})
async def resolve(request: web.Request) -> web.Response:
    body = parse_as(ResolveRequest, await read_json(request))
    try:
        fields = requested_fields(body.fields)
    except UnknownField as exc:
        raise bad_request(str(exc)) from None
    url = body.url.strip()
    if not url:
        raise bad_request("Missing url in request body")
    if not DRS_SCHEME.match(url):
        raise bad_request(f"{url[:200]!r} is not a valid DRS URI (expected drs://<host>/<id> or drs://<prefix>:<id>)")
    service = request.app[DRS]
    resolution = await _resolve(request, url, service)
    try:
        obj = drs_object(resolution.record, service.hostname, "1.5",
                         signed_urls=resolution.member.offers("signed_urls"))
    except InvalidRecord as exc:
        raise ApiError(502, f"member commons {resolution.member.id} sent a record that is not a valid DRS "
                            f"object ({exc})") from None
    access = None
    if ACCESS_URL in fields:
        access = await _access(request, service, url, access_method(obj, body.cloudPlatform))
    issuers = service.authorizations_of(resolution).bearer_auth_issuers
    return json_response(render(fields, obj, indexd_view(resolution.record).get("urls") or [], access_url=access,
                                bond_provider=resolution.member.id if issuers else None))
