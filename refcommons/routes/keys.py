"""Where a reference-commons aiohttp app keeps its :class:`~refcommons.commons.ReferenceCommons`."""

from __future__ import annotations

from aiohttp import web

from refcommons.commons import ReferenceCommons

COMMONS = web.AppKey("refcommons", ReferenceCommons)
"""Read with ``request.config_dict[COMMONS]`` so it also works when the app is mounted as a sub-app."""
