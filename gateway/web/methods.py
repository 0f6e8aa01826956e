"""The 405 of a path that another, wider route also matches.

aiohttp answers a method a resource lacks with 405 and an ``Allow`` naming every method of every resource whose
pattern matches the URL. ``POST /index/bulk/documents`` is also matched by ``GET /index/{guid:.+}``, so its 405
said ``Allow: GET,HEAD,POST`` while the path serves only POST (the GET route answers 400 for it: ``bulk`` is not
an identifier). :func:`only` registers, after the real routes of a path, a catch-all route that answers every
other method with 405 and exactly the path's own methods. Catch-all routes are not listed in ``/openapi.json``
(:func:`gateway.web.openapi.iter_routes` skips ``*``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web


def only(*methods: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A handler answering 405 with ``Allow`` = ``methods`` (register it with ``routes.route("*", path)``)."""
    allowed = sorted({m.upper() for m in methods})

    async def method_not_allowed(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMethodNotAllowed(request.method, allowed)

    method_not_allowed.__doc__ = f"405: this path serves {', '.join(allowed)} only."
    return method_not_allowed


__all__ = ["only"]
