"""One commons' Guppy: its indices and GraphQL schema, what a caller may read, and running one GraphQL request
(the code behind ``/guppy/graphql`` and ``/guppy/download``, :mod:`refcommons.routes.guppy`, and behind the gateway's
in-process member).

Errors follow Guppy's GraphQL over HTTP: anything GraphQL rejects (syntax, validation, variables, resolver errors)
is an answer whose ``errors`` each carry ``extensions.code``; a resolver's own failure is logged and answered as an
internal error without its details.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import ExecutionResult, GraphQLError, GraphQLSchema, execute, parse, validate

from refcommons.fence.service import Principal
from refcommons.guppy.filter import Filter
from refcommons.guppy.index import Access, Accessibility, GuppyIndex, build_indices, download_plan, sort_rows
from refcommons.guppy.schema import GuppyContext, build_schema
from refcommons.model import Dataset

log = logging.getLogger("refcommons.guppy")

MAX_QUERY_TOKENS = 5_000
"""Most tokens a query may have (the introspection query has a few hundred)."""


@dataclass(frozen=True)
class GuppyService:
    """One commons' indices and schema (built once per commons)."""

    indices: Mapping[str, GuppyIndex]
    schema: GraphQLSchema
    resources: frozenset[str]

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
    body: dict[str, Any] = dict(error.formatted)
    body["extensions"] = {"code": default_code, **(body.get("extensions") or {})}
    return body


def _errors(errors: list[GraphQLError], code: str) -> dict[str, Any]:
    return {"errors": [_error(e, code) for e in errors]}


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
