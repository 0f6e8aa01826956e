"""What a running gateway holds: its settings and the shared resources opened at start.

Kept on the aiohttp application under :data:`STATE` (no module-level mutable state anywhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.cache import Cache
from gateway.settings.gateway import Settings
from gateway.store import Store


@dataclass
class GatewayState:
    settings: Settings
    store: Store
    cache: Cache
    started_at: str
    refcommons: Any | None = None
    """The in-process :class:`refcommons.commons.ReferenceCommons`, when enabled."""
    openapi: dict[str, Any] | None = field(default=None, repr=False)
    """The OpenAPI document, built once on first request (the router is frozen by then)."""


STATE = web.AppKey("gateway_state", GatewayState)
