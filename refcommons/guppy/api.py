"""Guppy's HTTP API under ``/guppy``: ``POST /guppy/graphql``, ``POST /guppy/download``, ``GET /guppy/_status``
and ``GET /guppy/_version``, over the commons' dataset as Guppy indices (:mod:`refcommons.guppy.index`).

Who is asking comes from the ``Authorization`` header as for the commons' other routes (none: anonymous,
who reads the open resources; a bad token: 401). A caller may read the rows whose ``auth_resource_path`` it
holds ``read`` on (service ``guppy`` or ``*``), Guppy's rule. :class:`GuppyApi` takes the commons' tier
level and limit; each commons app builds its own from its settings (:meth:`GuppyApi.for_settings`:
``tier_access_level``, default ``regular``, and ``tier_access_limit``, default 50).

``/guppy/graphql`` answers GraphQL results as JSON: a request that is not ``{"query": str, "variables":
object?, "operationName": str?}`` is a 400 in the commons' error shape; anything GraphQL rejects (syntax,
validation, variables, resolver errors) is a 200 whose body carries ``errors`` (each with
``extensions.code``), as GraphQL over HTTP has it for ``application/json``.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from graphql import ExecutionResult, GraphQLError, GraphQLSchema, execute, parse, validate

from gateway.core.errors import ApiError, bad_request
from gateway.web.body import read_json
from gateway.web.openapi import operation
from gateway.web.render import json_response
from refcommons.commons import COMMONS, ReferenceCommons
from refcommons.fence.service import Principal
from refcommons.guppy import access as search_access
from refcommons.guppy.filter import Filter, FilterError
from refcommons.guppy.filter import parse as parse_filter
from refcommons.guppy.index import (
    ACCESSIBILITIES,
    TIER_LEVELS,
    Access,
    Accessibility,
    GuppyIndex,
    OutOfScope,
    QueryError,
    TierLevel,
    build_indices,
    download_plan,
    parse_sort,
    sort_rows,
)
from refcommons.guppy.schema import GuppyContext, build_schema
from refcommons.model import Dataset
from refcommons.settings import DEFAULT_TIER_LEVEL, DEFAULT_TIER_LIMIT, CommonsSettings

OPERATION_ID_PREFIX = "refcommons.guppy_api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

log = logging.getLogger("refcommons.guppy")

MAX_QUERY_TOKENS = 5_000
"""Most tokens a query may have (the introspection query has a few hundred)."""
VERSION = {"version": "2026.07-refcommons", "commit": "refcommons-synthetic"}
TAGS = ("guppy",)


@dataclass(frozen=True)
class GuppyService:
    """One commons' indices and schema (built once per commons)."""

    indices: Mapping[str, GuppyIndex]
    schema: GraphQLSchema
    resources: frozenset[str]

    @classmethod
    def build(cls, commons: ReferenceCommons) -> GuppyService:
        return cls.build_from(commons.dataset)

    @classmethod
    def build_from(cls, dataset: Dataset) -> GuppyService:
        indices = build_indices(dataset)
        return cls(indices, build_schema(indices), frozenset().union(*(i.resources() for i in indices.values())))

    def access(self, principal: Principal) -> Access:
        readable = frozenset(p for p in self.resources if principal.allows("read", [p], "guppy"))
        return Access(readable, self.resources - readable)


def _error(error: GraphQLError, default_code: str) -> dict[str, Any]:
    original = error.original_error
    if original is not None and not isinstance(original, GraphQLError):
        log.error("guppy resolver failed", exc_info=original)
        error = GraphQLError("internal server error", error.nodes, path=error.path,
                             extensions={"code": "INTERNAL_SERVER_ERROR"})
    body = dict(error.formatted)
    body["extensions"] = {"code": default_code, **(body.get("extensions") or {})}
    return body


def _errors(errors: list[GraphQLError], code: str) -> dict[str, Any]:
    return {"errors": [_error(e, code) for e in errors]}


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
        built = GuppyService.build(commons)
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
        index = service.indices.get(body.get("type")) if isinstance(body.get("type"), str) else None
        if index is None:
            raise bad_request(f'Invalid es type: "{body.get("type")}"'[:300])
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

        @routes.post("/guppy/graphql")
        @operation("Guppy GraphQL: raw rows, _aggregation and _mapping over subject and file", tags=TAGS,
                   responses={400: "not a GraphQL request", 401: "invalid access token"})
        async def graphql(request: web.Request) -> web.Response:
            return await self.graphql(request)

        @routes.post("/guppy/download")
        @operation("Guppy download: every matching row (accessible data only under tiered access)", tags=TAGS,
                   responses={400: "bad type, fields, filter or sort", 401: "out-of-scope data or bad token"})
        async def download(request: web.Request) -> web.Response:
            return await self.download(request)

        @routes.get("/guppy/_status")
        @operation("Guppy health: the indices served", tags=TAGS)
        async def status(request: web.Request) -> web.Response:
            service = self.service(request.config_dict[COMMONS])
            indices = {i.index: {"aliases": {}} for i in service.indices.values()}
            return json_response({"statusCode": 200, "warnings": None, "indices": indices})

        @routes.get("/guppy/_version")
        @operation("Guppy version", tags=TAGS)
        async def version(request: web.Request) -> web.Response:
            return json_response(VERSION)

        return routes


def download_rows(
    index: GuppyIndex, ctx: GuppyContext, accessibility: Accessibility, flt: Filter, keys: list[tuple[str, bool]],
    fields: list[str] | None,
) -> list[dict[str, Any]]:
    """The rows ``/guppy/download`` answers, with only ``fields`` (default: all); :class:`OutOfScope` when
    Guppy would refuse them."""
    decision = download_plan(ctx.level, accessibility, ctx.out_of_scope(index, flt))
    rows = sort_rows(index.select(flt, ctx.within(decision.within)), keys)
    wanted = fields or index.mapping()
    return [{f: r[f] for f in wanted if f in r} for r in rows]


def run(schema: GraphQLSchema, ctx: GuppyContext, query: str, variables: dict[str, Any] | None,
        operation_name: str | None) -> dict[str, Any]:
    """Parse, validate and execute one GraphQL request: the JSON result (``data`` and/or ``errors``)."""
    try:
        document = parse(query, max_tokens=MAX_QUERY_TOKENS)
    except GraphQLError as exc:
        return _errors([exc], "GRAPHQL_PARSE_FAILED")
    except RecursionError:
        return _errors([GraphQLError("the query is nested too deeply")], "GRAPHQL_PARSE_FAILED")
    problems = validate(schema, document)
    if problems:
        return _errors(problems, "GRAPHQL_VALIDATION_FAILED")
    result = execute(schema, document, context_value=ctx, variable_values=variables, operation_name=operation_name)
    assert isinstance(result, ExecutionResult)  # every resolver is synchronous
    out: dict[str, Any] = {}
    if result.errors:
        out.update(_errors(result.errors, "BAD_USER_INPUT" if result.data is None else "INTERNAL_SERVER_ERROR"))
    if result.data is not None:
        out["data"] = result.data
    return out

