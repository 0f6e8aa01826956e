"""The in-process reference commons: opened from the gateway's ``refcommons`` section and mounted under its
``mount`` path (the gateway then reaches it as a ``reference`` member, :mod:`gateway.app.inprocess`).

The commons is imported only when it is enabled: a gateway without it does not load it.
"""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from aiohttp import web

from gateway.settings.gateway import Settings
from gateway.web.state import GatewayState
from refcommons.settings import CommonsSettings

if TYPE_CHECKING:
    from refcommons.commons import ReferenceCommons

log = logging.getLogger("gateway.app")


def commons_settings(settings: Settings) -> CommonsSettings:
    """The in-process commons' own settings, from the gateway's ``refcommons`` section: served under the gateway's
    base URL plus ``mount``, its state under ``data_dir/<prefix>``."""
    cfg = settings.refcommons
    return CommonsSettings(
        prefix=cfg.prefix,
        seed=cfg.seed,
        subjects=cfg.subjects,
        base_url=settings.base_url + cfg.mount,
        data_dir=cfg.data_dir / cfg.prefix if cfg.data_dir else None,
        user_yaml=cfg.user_yaml,
        tier_access_level=cfg.tier_access_level,
        tier_access_limit=cfg.tier_access_limit,
    )


async def mount_refcommons(app: web.Application, state: GatewayState, opened: AsyncExitStack) -> ReferenceCommons:
    """Open the commons (kept as ``state.refcommons``; closed by ``opened``) and serve it under its mount path."""
    from refcommons.app import build_subapp
    from refcommons.commons import ReferenceCommons

    settings = state.settings
    commons = await ReferenceCommons.open(commons_settings(settings))
    state.refcommons = commons
    opened.push_async_callback(commons.close)
    app.add_subapp(settings.refcommons.mount, build_subapp(commons))
    log.info(
        "reference commons in-process",
        extra={"prefix": settings.refcommons.prefix, "url": settings.base_url + settings.refcommons.mount},
    )
    return commons
