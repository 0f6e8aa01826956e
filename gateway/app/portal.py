"""Wiring the web portal (``portal.enabled``): its Jinja2 environment, its shared state and its routes."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web

from gateway.app.background import run_with_app
from gateway.portal.admin import SessionSweeper
from gateway.portal.assets import TEMPLATES_DIR
from gateway.portal.site import PortalSite
from gateway.settings.gateway import Settings
from gateway.web.keys import PORTAL, REGISTRY
from gateway.web.routes import portal


def setup_portal(app: web.Application, settings: Settings) -> None:
    """Add the portal's pages to ``app`` (nothing when ``portal.enabled`` is false: its paths stay JSON 404s)."""
    if not settings.portal.enabled:
        return
    public = urlsplit(settings.base_url)
    app[PORTAL] = PortalSite(settings.portal, f"{public.scheme}://{public.netloc}")
    aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined, enable_async=False,
    )
    app.add_routes(portal.routes)
    run_with_app(app, SessionSweeper(lambda: app[REGISTRY].repository.store))
