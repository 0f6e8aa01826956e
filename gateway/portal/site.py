"""What the portal's pages share while the gateway runs: the assets in memory, their URLs, the portal settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.portal.assets import Asset, asset_urls, load_assets
from gateway.settings.portal import PortalConfig


@dataclass(frozen=True)
class PortalSite:
    config: PortalConfig
    public_origin: str
    """``scheme://host[:port]`` of the gateway's public URL: a form's ``Origin`` may be this one."""
    assets: dict[str, Asset] = field(default_factory=load_assets)

    @property
    def urls(self) -> dict[str, str]:
        return asset_urls(self.assets)
