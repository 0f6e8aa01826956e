"""The gateway's Passport gate, built at start when ``passports.enabled`` and closed at cleanup.

:func:`open_gate` builds the engine (trust, key fetching, decision cache in the gateway cache, so replicas share
decisions through Redis), the members' resource maps and the gateway-token key ring (in the shared store), and
returns the :class:`~gateway.passports.gate.PassportGate` that DRS, search, export and discovery consult. The gate
publishes the gateway-token keys through :mod:`gateway.web.routes.passports`.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

from gateway.passports.build import build_engine, resource_maps
from gateway.passports.gate import PassportGate
from gateway.passports.tokens.token_keys import TokenKeyRing
from gateway.web.state import GatewayState

log = logging.getLogger("gateway.passports")


async def open_gate(state: GatewayState, opened: AsyncExitStack) -> PassportGate:
    """The gate for ``state.settings.passports`` (enabled); :class:`ValueError` for an unusable configuration,
    so the gateway refuses to start rather than run with a trust configuration it cannot honour. What it opens is
    closed by ``opened``."""
    settings = state.settings
    config = settings.passports
    engine = build_engine(config, state.cache, egress=state.egress)
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
