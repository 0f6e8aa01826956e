"""OpenAPI 3.1 description built from the live router, so ``/openapi.json`` lists every route that exists.

Handlers may be annotated with :func:`operation` (summary, tags, request/response models). Undecorated
handlers are still listed, with their docstring's first line as summary. Sub-applications added with
``app.add_subapp(prefix, sub)`` are walked too.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

_ROUTE_ATTR = "__openapi_operation__"
_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")

OPERATION_ID_PREFIX = "OPERATION_ID_PREFIX"
"""The module attribute that pins the namespace of its handlers' operationIds (see :func:`operation_id`)."""


@dataclass(frozen=True)
class Operation:
    summary: str = ""
    tags: tuple[str, ...] = ()
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    responses: dict[int, str] = field(default_factory=dict)
    query: tuple[str, ...] = ()


def operation(
    summary: str = "",
    *,
    tags: tuple[str, ...] | list[str] = (),
    request: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    responses: dict[int, str] | None = None,
    query: tuple[str, ...] | list[str] = (),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Attach OpenAPI details to a handler (kept on the function; no registry, no global state)."""

    def mark(handler: Callable[..., Any]) -> Callable[..., Any]:
        setattr(
            handler,
            _ROUTE_ATTR,
            Operation(summary, tuple(tags), request, response, dict(responses or {}), tuple(query)),
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


def iter_routes(app: web.Application, prefix: str = "") -> Iterator[RouteInfo]:
    """Every (method, path, handler) served by ``app`` and its sub-applications (HEAD twins omitted)."""
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            # aiohttp's add_subapp already prefixed the sub-app's resources: do not add it twice
            yield from iter_routes(resource._app, prefix)
            continue
        for route in resource:
            if route.method in ("HEAD", "*"):
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
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(info.path)
        ]
        params += [{"name": q, "in": "query", "required": False, "schema": {"type": "string"}} for q in op.query]
        if params:
            entry["parameters"] = params
        if op.request is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema_ref(op.request, schemas)}},
            }
        ok: dict[str, Any] = {"description": "success"}
        if op.response is not None:
            ok["content"] = {"application/json": {"schema": _schema_ref(op.response, schemas)}}
        responses: dict[str, Any] = {"200": ok}
        for status, text in op.responses.items():
            responses[str(status)] = {"description": text}
        entry["responses"] = responses
        paths.setdefault(info.path, {})[info.method.lower()] = entry
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": dict(sorted(paths.items())),
    }
    if schemas:
        spec["components"] = {"schemas": schemas}
    return spec
