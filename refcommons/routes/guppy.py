"""Guppy's HTTP API at Guppy's own root (Gen3's proxy serves it under ``/guppy``, :mod:`refcommons.layout`):
``POST /graphql``, ``POST /download``, ``GET /_status`` and ``GET /_version``, over the commons' dataset as Guppy
indices (:mod:`refcommons.guppy.service`).

Who is asking comes from the ``Authorization`` header as for the commons' other routes (none: anonymous,
who reads the open resources; a bad token: 401). A caller may read the rows whose ``auth_resource_path`` it
holds ``read`` on (service ``guppy`` or ``*``), Guppy's rule. :class:`GuppyApi` takes the commons' tier
level and limit; each commons app builds its own from its settings (:meth:`GuppyApi.for_settings`:
``tier_access_level``, default ``regular``, and ``tier_access_limit``, default 50).

``/graphql`` answers GraphQL results as JSON: a request that is not ``{"query": str, "variables":
object?, "operationName": str?}`` is a 400 in the commons' error shape; anything GraphQL rejects (syntax,
validation, variables, resolver errors) is a 200 whose body carries ``errors`` (each with
``extensions.code``), as GraphQL over HTTP has it for ``application/json``.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from aiohttp import web

from gateway.core.errors import ApiError, bad_request
from gateway.web.body import read_json
from gateway.web.openapi import operation
from gateway.web.render import json_response
from refcommons.commons import ReferenceCommons
from refcommons.guppy import access as search_access
from refcommons.guppy.filter import FilterError
from refcommons.guppy.filter import parse as parse_filter
from refcommons.guppy.index import ACCESSIBILITIES, Access, OutOfScope, QueryError, parse_sort
from refcommons.guppy.schema import GuppyContext
from refcommons.guppy.service import GuppyService, download_rows, run
from refcommons.routes.keys import COMMONS
from refcommons.settings import DEFAULT_TIER_LEVEL, DEFAULT_TIER_LIMIT, TIER_LEVELS, CommonsSettings, TierLevel

OPERATION_ID_PREFIX = "refcommons.guppy_api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

VERSION = {"version": "2026.07-refcommons", "commit": "refcommons-synthetic"}
TAGS = ("guppy",)


class GuppyApi:
    """Guppy's routes for a commons with tier ``level`` (``private``, ``regular`` or ``libre``) and ``limit``;
    ``whitelist``: bucket keys never hidden (Guppy's ``encrypt_whitelist``; off by default, as in Guppy)."""

    def __init__(self, level: TierLevel = DEFAULT_TIER_LEVEL, limit: int = DEFAULT_TIER_LIMIT,
                 whitelist: tuple[str, ...] = ()) -> None:
        if level not in TIER_LEVELS:
            raise ValueError(f"tier level must be one of {', '.join(TIER_LEVELS)}, not {level!r}")
        if limit < 0:
            raise ValueError("the tier access limit must not be negative")
        self.level, self.limit, self.whitelist = level, limit, frozenset(whitelist)
        self._services: dict[int, tuple[weakref.ref[ReferenceCommons], GuppyService]] = {}
        self.routes = self._routes()

    @classmethod
    def for_settings(cls, settings: CommonsSettings) -> GuppyApi:
        """The routes of a commons with ``settings`` (its ``tier_access_level`` and ``tier_access_limit``)."""
        return cls(settings.tier_access_level, settings.tier_access_limit)

    def service(self, commons: ReferenceCommons) -> GuppyService:
        key = id(commons)
        hit = self._services.get(key)
        if hit is not None and hit[0]() is commons:
            return hit[1]
        built = GuppyService.build_from(commons.dataset)
        self._services[key] = (weakref.ref(commons, lambda _ref: self._services.pop(key, None)), built)
        return built

    async def context(self, request: web.Request) -> tuple[GuppyService, GuppyContext]:
        """The commons' service and the caller's view of it: readable resources from a trusted gateway's search
        token, a bearer Passport, or fence (:func:`refcommons.guppy.access.readable`; a bad credential is a 401)."""
        commons = request.config_dict[COMMONS]
        service = self.service(commons)
        readable = await search_access.readable(commons.fence, request.headers.get("Authorization"),
                                                service.resources)
        access = Access(readable, service.resources - readable)
        return service, GuppyContext(access, self.level, self.limit, self.whitelist)

    async def graphql(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request("a GraphQL request is a JSON object {\"query\": ..., \"variables\": ...}")
        query, variables, name = body.get("query"), body.get("variables"), body.get("operationName")
        if not isinstance(query, str) or not query.strip():
            raise bad_request("GraphQL operations must contain a non-empty `query`")
        if variables is not None and not isinstance(variables, dict):
            raise bad_request("`variables` must be a JSON object")
        if name is not None and not isinstance(name, str):
            raise bad_request("`operationName` must be a string")
        service, ctx = await self.context(request)
        # pure CPU work over the whole index: off the event loop, which may also serve the gateway
        return json_response(await asyncio.to_thread(run, service.schema, ctx, query, variables, name))

    async def download(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict):
            raise bad_request("the download body is a JSON object {\"type\", \"fields\", \"filter\", \"sort\"}")
        service, ctx = await self.context(request)
        kind = body.get("type")
        index = service.indices.get(kind) if isinstance(kind, str) else None
        if index is None:
            raise bad_request(f'Invalid es type: "{kind}"'[:300])
        fields = body.get("fields")
        if fields is not None and (not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)):
            raise bad_request("fields must be a list of field names")
        unknown = [f for f in fields or [] if index.field(f) is None]
        if unknown:
            raise bad_request(('Invalid fields: "' + '", "'.join(unknown) + '"')[:300])
        accessibility = body.get("accessibility", "all")
        if accessibility not in ACCESSIBILITIES:
            raise bad_request(f"accessibility must be one of {', '.join(ACCESSIBILITIES)}")
        try:
            flt = parse_filter(body.get("filter"), index.kinds)
            keys = parse_sort(body.get("sort"), index)
        except (FilterError, QueryError) as exc:
            raise bad_request(str(exc)) from None
        try:
            rows = await asyncio.to_thread(download_rows, index, ctx, accessibility, flt, keys, fields)
        except OutOfScope as exc:
            raise ApiError(401, str(exc)) from None
        return json_response(rows)

    def _routes(self) -> web.RouteTableDef:
        routes = web.RouteTableDef()

        @routes.post("/graphql")
        @operation("Guppy GraphQL: raw rows, _aggregation and _mapping over subject and file", tags=TAGS,
                   responses={400: "not a GraphQL request", 401: "invalid access token"})
        async def graphql(request: web.Request) -> web.Response:
            return await self.graphql(request)

        @routes.post("/download")
        @operation("Guppy download: every matching row (accessible data only under tiered access)", tags=TAGS,
                   responses={400: "bad type, fields, filter or sort", 401: "out-of-scope data or bad token"})
        async def download(request: web.Request) -> web.Response:
            return await self.download(request)

        @routes.get("/_status")
        @operation("Guppy health: the indices served", tags=TAGS)
        async def status(request: web.Request) -> web.Response:
            service = self.service(request.config_dict[COMMONS])
            indices: dict[str, Any] = {i.index: {"aliases": {}} for i in service.indices.values()}
            return json_response({"statusCode": 200, "warnings": None, "indices": indices})

        @routes.get("/_version")
        @operation("Guppy version", tags=TAGS)
        async def version(request: web.Request) -> web.Response:
            return json_response(VERSION)

        return routes
