"""The gateway's Passport edge: built at start when ``passports.enabled``, closed at cleanup.

:func:`open_gate` builds the engine (trust, key fetching, decision cache in the gateway cache, so replicas share
decisions through Redis), the members' resource maps and the gateway-token key ring (in the shared store), and
returns the :class:`~gateway.passports.gate.PassportGate` the DRS service consults. :data:`routes` publishes the
gateway-token keys at ``/.well-known/jwks.json``.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

from aiohttp import web

from gateway.passports.build import build_engine, resource_maps
from gateway.passports.gate import PassportGate
from gateway.passports.tokens.token_keys import JWKS_PATH, TokenKeyRing
from gateway.web.caller import GATE
from gateway.web.openapi import operation
from gateway.web.render import json_response
from gateway.web.state import GatewayState

log = logging.getLogger("gateway.passports")
routes = web.RouteTableDef()


async def open_gate(state: GatewayState, opened: AsyncExitStack) -> PassportGate:
    """The gate for ``state.settings.passports`` (enabled); :class:`ValueError` for an unusable configuration,
    so the gateway refuses to start rather than run with a trust configuration it cannot honour."""
    settings = state.settings
    config = settings.passports
    engine = build_engine(config, state.cache)
    opened.push_async_callback(engine.aclose)
    gate = PassportGate(
        engine,
        resource_maps(config),
        TokenKeyRing(state.store, config.gateway_tokens.rotate_after),
        config.gateway_tokens,
        (config.gateway_tokens.issuer or settings.base_url).rstrip("/"),
    )
    warming = asyncio.create_task(engine.keys.warm())  # fetch issuers' keys now, not on the first request
    opened.push_async_callback(_cancel, warming)
    log.info("GA4GH Passports enabled", extra={
        "brokers": sorted(engine.trust.brokers), "visa_issuers": sorted(engine.trust.visa_issuers),
        "resource_maps": sorted(gate.maps), "token_issuer": gate.issuer,
    })
    return gate


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@routes.get(JWKS_PATH)
@operation("Public keys of the tokens the gateway signs for members in gateway_token mode (JWKS)",
           tags=("passports",))
async def jwks(request: web.Request) -> web.Response:
    gate = request.app[GATE]
    return json_response(await gate.keys.jwks(), headers={"Cache-Control": "public, max-age=60"})
