"""What a running gateway holds: its settings and the shared resources opened at start, and the registry's
handles for its routes.

Kept on the aiohttp application under :data:`gateway.web.keys.STATE` and :data:`gateway.web.keys.REGISTRY` (no
module-level mutable state anywhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.cache import Cache
from gateway.core.egress import EgressPolicy
from gateway.registry.admins import AdminCredentials
from gateway.registry.health import HealthMonitor
from gateway.registry.keeper import DeclarationKeeper
from gateway.registry.repository import RegistryRepository
from gateway.settings.gateway import Settings
from gateway.store import Store


@dataclass
class GatewayState:
    settings: Settings
    store: Store
    cache: Cache
    started_at: str
    egress: EgressPolicy
    """The one egress policy (``egress.*``), built once at start and handed to every outbound client."""
    refcommons: Any | None = None
    """The in-process :class:`refcommons.commons.ReferenceCommons`, when enabled."""
    openapi: dict[str, Any] | None = field(default=None, repr=False)
    """The OpenAPI document, built once on first request (the router is frozen by then)."""


@dataclass(frozen=True)
class Registry:
    """What the registry routes work with: the members' repository and health monitor, the settings (admin token,
    join limits), the cache (join rate limits), the named admins and the egress policy of addresses named through
    the API (join checks, base URL changes: the gateway's policy without its exceptions)."""

    repository: RegistryRepository
    health: HealthMonitor
    settings: Settings
    cache: Cache
    admins: AdminCredentials
    egress: EgressPolicy
    keeper: DeclarationKeeper | None = None
    """Re-creates missing declared members and compares the store with the declarations (``/_status``)."""
