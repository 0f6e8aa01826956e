"""The gateway's GA4GH service-info document (pure: built from settings and version)."""

from __future__ import annotations

from typing import Any

from gateway import __version__
from gateway.settings.gateway import Settings

SERVICE_TYPE = {"group": "org.ga4gh", "artifact": "drs", "version": "1.5.0"}


def service_info(settings: Settings, *, started_at: str) -> dict[str, Any]:
    """GA4GH service-info v1.0 (``id``, ``name``, ``type``, ``organization``, ``version`` and the optional keys)."""
    si = settings.service_info
    return {
        "id": si.id,
        "name": si.name,
        "type": dict(SERVICE_TYPE),
        "description": si.description,
        "organization": {"name": si.organization_name, "url": si.organization_url},
        "contactUrl": si.contact_url,
        "documentationUrl": si.documentation_url,
        "createdAt": started_at,
        "updatedAt": started_at,
        "environment": si.environment,
        "version": __version__,
    }
