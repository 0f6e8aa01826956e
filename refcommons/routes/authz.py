"""Arborist's auth mapping: ``GET /auth/mapping`` (Arborist's own path; Gen3's reverse proxy exposes it as
``/authz/mapping``, :mod:`refcommons.layout`).

Without an ``Authorization`` header the answer is what *anyone* may do (the policy's ``anonymous_policies``);
with a fence access token, what its user may do (their policies, the logged-in ones and the anonymous ones). The
shape is Arborist's: ``{resource_path: [{"service", "method"}, ...]}``. A bad token is a 401, as on every fence
route. Federation gateways read the anonymous mapping to learn which of the commons' resources are open.
"""

from __future__ import annotations

from aiohttp import web

from gateway.web.openapi import operation
from gateway.web.render import json_response
from refcommons.routes.keys import COMMONS

OPERATION_ID_PREFIX = "refcommons.authz_api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()

MAPPING = "/auth/mapping"


@routes.get(MAPPING)
@operation("Arborist's auth mapping for the caller (anonymous without a token)", tags=("arborist",),
           responses={401: "an invalid access token"})
async def auth_mapping(request: web.Request) -> web.Response:
    fence = request.config_dict[COMMONS].fence
    principal = await fence.principal(request.headers.get("Authorization"))
    return json_response(fence.auth_mapping(principal))
