"""OpenAPI 3.1 description built from the live router, so ``/openapi.json`` lists every route that exists.

Handlers may be annotated with :func:`operation` (summary, tags, request/response models, typed query
parameters, security). Undecorated handlers are still listed, with their docstring's first line as summary.
Sub-applications added with ``app.add_subapp(prefix, sub)`` are walked too.

The contract the builder adds to every operation, so no decorator repeats it (:func:`edge_responses`):

* the statuses the web edge itself can answer on any route: 400 (malformed input), 429 (a budget spent,
  ``Retry-After``), 503 (the store or a member unavailable, ``Retry-After``); 404 on routes with a path parameter;
  413 (body above ``max_body_bytes``, refused before reading) on routes that take a body; 401/403 on secured
  operations. 500 is never documented: the gateway never answers it.
* a 200 body schema: the declared pydantic model, else any JSON value with a description saying it is not modelled
  (``content`` names the media type of routes that answer something other than JSON).
* ``securitySchemes`` (:data:`SECURITY_SCHEMES`) and each operation's ``security`` (:func:`security_for`):
  declared on the operation, else by route family (DRS, search and DRSHub routes take an optional bearer token
  or Passport).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from gateway.web.query import INT64_MAX

_ROUTE_ATTR = "__openapi_operation__"
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")

OPERATION_ID_PREFIX = "OPERATION_ID_PREFIX"
"""The module attribute that pins the namespace of its handlers' operationIds (see :func:`operation_id`)."""


ADMIN = "adminBearer"
BEARER = "bearerAuth"
PASSPORT = "passport"

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    ADMIN: {"type": "http", "scheme": "bearer",
            "description": "The gateway's admin token (admin_token / GATEWAY_ADMIN_TOKEN) or a named admin's token "
                           "(gateway admin add NAME). 403 when admin is disabled, 401 without a valid token, 429 "
                           "after too many wrong tokens from the client's address."},
    BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
             "description": "A member commons' (Fence) access token, forwarded to the member that holds the object; "
                            "optional: public objects need none."},
    PASSPORT: {"type": "http", "scheme": "bearer", "bearerFormat": "GA4GH Passport JWT",
               "description": "A GA4GH Passport (or Visa) the gateway verifies against its trusted brokers when a "
                              "member's access mode is gateway_token/passport; DRS 1.2 POST bodies may carry the "
                              "same tokens in `passports`. Optional."},
}
"""The ``components.securitySchemes`` of every document this module builds."""

OPTIONAL_TOKEN: tuple[tuple[str, ...], ...] = ((), (BEARER,), (PASSPORT,))
"""Anonymous, a member bearer token, or a Passport."""

_TOKEN_FAMILIES = ("/ga4gh/drs/", "/search/", "/api/v4/", "/user/data/")
"""Route families where the caller may present a bearer token or a Passport (routes of the in-process
reference commons included: it is a Fence-protected member)."""

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Query:
    """A query parameter with a JSON schema (a bare name in :func:`operation` is an optional string).
    An empty value (``?limit=``) is the parameter absent (:mod:`gateway.web.query`), so it is always allowed."""

    name: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False
    description: str = ""


IDENTIFIER_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]*$"
"""What the document promises a path parameter accepts without a 400 (ids with ``/``, ``:`` or other characters
are served too, but only ids of this form are promised not to be refused as malformed)."""

_BOOLEAN: dict[str, Any] = {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}

CONVENTIONAL_QUERY: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 0, "maximum": INT64_MAX},
    "offset": {"type": "integer", "minimum": 0, "maximum": INT64_MAX},
    "page": {"type": "integer", "minimum": 0, "maximum": INT64_MAX},
    "size": {"type": "integer", "minimum": 0, "maximum": INT64_MAX},
    "expires_in": {"type": "integer", "minimum": 1, "maximum": INT64_MAX},
    "expand": _BOOLEAN,
    "flatten": _BOOLEAN,
    "pagination": _BOOLEAN,
    "data": _BOOLEAN,
    "no_dist": _BOOLEAN,
}
"""The schema of a query parameter declared by bare name, by the gateway-wide convention of
:mod:`gateway.web.query` (integers and booleans read with a 400 when malformed); any other bare name is a
string."""


@dataclass(frozen=True)
class Operation:
    summary: str = ""
    tags: tuple[str, ...] = ()
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    responses: dict[int, str] = field(default_factory=dict)
    query: tuple[str | Query, ...] = ()
    security: tuple[tuple[str, ...], ...] | None = None
    content: str = "application/json"
    request_schema: dict[str, Any] | None = None


def operation(
    summary: str = "",
    *,
    tags: tuple[str, ...] | list[str] = (),
    request: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    responses: dict[int, str] | None = None,
    query: tuple[str | Query, ...] | list[str | Query] = (),
    security: str | tuple[tuple[str, ...], ...] | None = None,
    content: str = "application/json",
    request_schema: dict[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach OpenAPI details to a handler (kept on the function; no registry, no global state).

    ``security``: a scheme name the caller must present (e.g. :data:`ADMIN`), or the alternatives as tuples of
    scheme names (``()`` = anonymous allowed). ``content``: the 200 media type when not JSON.
    ``request_schema``: a JSON schema for a body no pydantic model describes (e.g. a JSON list of ids)."""
    requirement = ((security,),) if isinstance(security, str) else security

    def mark(handler: Callable[..., Any]) -> Callable[..., Any]:
        setattr(
            handler,
            _ROUTE_ATTR,
            Operation(summary, tuple(tags), request, response, dict(responses or {}), tuple(query), requirement,
                      content, request_schema),
        )
        return handler

    return mark


@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str  # OpenAPI template, e.g. /index/index/{guid}
    handler: Callable[..., Any]


def openapi_path(canonical: str) -> str:
    """aiohttp's ``/objects/{object_id:.+}`` → OpenAPI's ``/objects/{object_id}``."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", canonical)


F = TypeVar("F", bound=Callable[..., Any])
_PAGE_ATTR = "_gateway_page"


def page(handler: F) -> F:
    """Mark a handler as a page for people (the web portal): HTML, not part of the JSON API, so not in the OpenAPI
    document nor among :func:`iter_routes`' API routes."""
    setattr(handler, _PAGE_ATTR, True)
    return handler


def is_page(handler: object) -> bool:
    return bool(getattr(handler, _PAGE_ATTR, False))


def iter_routes(app: web.Application, prefix: str = "", *, pages: bool = False) -> Iterator[RouteInfo]:
    """Every (method, path, handler) of the API served by ``app`` and its sub-applications (HEAD twins omitted);
    the portal's pages (:func:`page`) too when ``pages``."""
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            # aiohttp's add_subapp already prefixed the sub-app's resources: do not add it twice
            yield from iter_routes(resource._app, prefix, pages=pages)
            continue
        for route in resource:
            if route.method in ("HEAD", "*") or (is_page(route.handler) and not pages):
                continue
            yield RouteInfo(route.method, prefix + openapi_path(resource.canonical), route.handler)


def _schema_ref(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas.setdefault(model.__name__, schema)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def operation_id(method: str, handler: Any) -> str:
    """``<method>_<namespace>.<handler name>``. The namespace is the handler module's
    :data:`OPERATION_ID_PREFIX` when it has one, else its dotted name: operationIds are published API (clients
    generate code from them), so a module that moves keeps the namespace its operations were first published
    under."""
    module = sys.modules.get(handler.__module__)
    namespace = getattr(module, OPERATION_ID_PREFIX, None) or handler.__module__
    return f"{method.lower()}_{namespace}.{handler.__name__}"


def security_for(path: str, op: Operation) -> tuple[tuple[str, ...], ...]:
    """The operation's security requirement: declared, else optional token/Passport on token route families,
    else none (anonymous)."""
    if op.security is not None:
        return op.security
    if any(family in path for family in _TOKEN_FAMILIES):
        return OPTIONAL_TOKEN
    return ()


def edge_responses(method: str, path: str, secured: bool) -> dict[int, str]:
    """The statuses any route can answer whatever its handler does (the web edge: parsing, body limit, budgets,
    store and members). A route's own declarations override the texts."""
    statuses = {
        400: "malformed input (path, query or body)",
        429: "a budget is spent (Retry-After says when to retry)",
        503: "the store or a member commons is unavailable (Retry-After)",
    }
    if _PARAM.search(path):
        statuses[404] = "not found"
    if method in BODY_METHODS:
        statuses[413] = "request body (or Content-Length) above max_body_bytes, or too many items"
    if secured:
        statuses[401] = "no or invalid credentials"
        statuses[403] = "credentials valid but not allowed"
    return statuses


_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A JSON error: {msg, status_code} on /ga4gh/ routes, {message, statusCode} on DRSHub's "
                   "/api/v4/, {error, status_code} elsewhere.",
}


def _query_param(q: str | Query) -> dict[str, Any]:
    query = Query(q, CONVENTIONAL_QUERY.get(q, {"type": "string"})) if isinstance(q, str) else q
    param: dict[str, Any] = {"name": query.name, "in": "query", "required": query.required,
                             "schema": query.schema}
    if not query.required:
        param["allowEmptyValue"] = True
    if query.description:
        param["description"] = query.description
    return param


def build_openapi(app: web.Application, *, title: str, version: str, description: str = "") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    for info in iter_routes(app):
        op: Operation = getattr(info.handler, _ROUTE_ATTR, None) or Operation()
        doc = (info.handler.__doc__ or "").strip().splitlines()
        entry: dict[str, Any] = {
            "summary": op.summary or (doc[0] if doc else info.handler.__name__.replace("_", " ")),
            "operationId": operation_id(info.method, info.handler),
        }
        if op.tags:
            entry["tags"] = list(op.tags)
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": IDENTIFIER_PATTERN}}
            for name in _PARAM.findall(info.path)
        ]
        params += [_query_param(q) for q in op.query]
        if params:
            entry["parameters"] = params
        if op.request is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema_ref(op.request, schemas)}},
            }
        elif op.request_schema is not None:
            entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": op.request_schema}}}
        security = security_for(info.path, op)
        if security:
            entry["security"] = [{name: [] for name in alternative} for alternative in security]
        ok: dict[str, Any] = {"description": op.responses.get(200, "success")}
        if op.response is not None:
            ok["content"] = {op.content: {"schema": _schema_ref(op.response, schemas)}}
        else:
            ok["content"] = {op.content: {"schema": {"description": "not modelled yet: see the route's summary"}}}
        responses: dict[str, Any] = {"200": ok}
        secured = any(alternative for alternative in security)
        declared = edge_responses(info.method, info.path, secured) | op.responses
        for status, text in sorted(declared.items()):
            if status == 200:
                continue
            response: dict[str, Any] = {"description": text}
            if status >= 400:
                response["content"] = {"application/json": {"schema": _ERROR_SCHEMA}}
            responses[str(status)] = response
        entry["responses"] = responses
        paths.setdefault(info.path, {})[info.method.lower()] = entry
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": dict(sorted(paths.items())),
    }
    spec["components"] = {"securitySchemes": SECURITY_SCHEMES}
    if schemas:
        spec["components"]["schemas"] = schemas
    return spec
