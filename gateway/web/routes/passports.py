"""The gateway's Passport edge: ``/.well-known/jwks.json``, the public keys of the gateway tokens it signs.

Served only when ``passports.enabled``: the app builds the gate (:func:`gateway.app.passports.open_gate`) and keeps
it under :data:`gateway.web.keys.GATE`.
"""

from __future__ import annotations

from aiohttp import web

from gateway.passports.tokens.token_keys import JWKS_PATH
from gateway.web.keys import GATE
from gateway.web.openapi import operation
from gateway.web.render import json_response

routes = web.RouteTableDef()


@routes.get(JWKS_PATH)
@operation("Public keys of the tokens the gateway signs for members in gateway_token mode (JWKS)",
           tags=("passports",))
async def jwks(request: web.Request) -> web.Response:
    gate = request.app[GATE]
    return json_response(await gate.keys.jwks(), headers={"Cache-Control": "public, max-age=60"})
