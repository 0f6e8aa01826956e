"""The fence (and WTS) calls Gen3 clients make next to indexd, answered for every member's objects.

- ``GET /user/data/download/{guid}?protocol=&expires_in=`` → ``{"url"}`` (plus ``headers`` when the member's
  URL needs some), what ``Gen3File.get_presigned_url`` reads. ``protocol`` is an access id of the object
  (``s3``, ``gs``, …; default: its first access method); ``expires_in`` is clamped to
  ``drs.max_signed_url_ttl``. The caller's ``Authorization`` reaches the member as its auth mode allows
  (:class:`~gateway.drs.service.DrsService`); the member's 401/403/404 is passed on. A member that offers no
  signed URLs (no fence: docs/members.md) is a 501, as on the DRS access route.
- ``GET /wts/external_oidc/`` → ``{"providers": []}``: ``gen3 drs-pull`` asks the workspace token service
  which other identity providers it can get tokens from; the gateway brokers none.
"""

from __future__ import annotations

from aiohttp import web

from gateway.resolver.outcomes import ResolutionError
from gateway.web.caller import client_address
from gateway.web.keys import DRS
from gateway.web.openapi import operation
from gateway.web.query import query_int
from gateway.web.render import json_response
from gateway.web.routes.resolver import api_error

OPERATION_ID_PREFIX = "gateway.drs.fence_api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()


@routes.get("/user/data/download/{guid:.+}")
@operation("fence-compatible signed download URL for any member's object", tags=("fence",),
           query=("protocol", "expires_in"),
           responses={400: "bad id or expires_in", 401: "the member wants credentials", 403: "the member refused",
                      404: "no such object or protocol", 501: "the member offers no signed URLs (no fence)",
                      502: "the member failed", 504: "deadline passed"})
async def download(request: web.Request) -> web.Response:
    service = request.app[DRS]
    guid = request.match_info["guid"]
    expires_in = query_int(request.query, "expires_in", minimum=1)
    protocol = request.query.get("protocol") or None
    deadline = service.deadline()
    client = client_address(request)
    try:
        if protocol is None:
            protocol = await service.first_access_id(guid, deadline, client=client)
        url = await service.access(guid, protocol, deadline, authorization=request.headers.get("Authorization"),
                                   expires_in=expires_in, client=client)
    except ResolutionError as exc:
        raise api_error(exc) from None
    return json_response({"url": url.url, **({"headers": list(url.headers)} if url.headers else {})})


@routes.get("/wts/external_oidc/")
@routes.get("/wts/external_oidc")
@operation("WTS external identity providers (none: the gateway brokers no tokens)", tags=("fence",))
async def external_oidc(request: web.Request) -> web.Response:
    return json_response({"providers": []})
