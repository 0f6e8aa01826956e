"""``POST /search/v1/cohort``: one cohort question to every active member, merged and tiered.

Request (pydantic, unknown fields refused)::

    {"index": "subject" | "file", "filter": {Guppy filter} | null, "facets": ["sex", ...],
     "accessibility": "accessible" | "unaccessible" | "all",            (default "all")
     "rows": {"limit": n, "cursor": str | null, "fields": ["subject_id", ...]} | null,
     "deadline": seconds | null,                                         (at most aggregate.deadline)
     "passports": [passport, ...] | null}                                (or Authorization: Bearer <passport>)

Response: ``{"index", "accessibility", "tier": {"level", "limit"}, "total": {"count", "hidden", "below"}, "facets":
{name: [{"key", "count", "hidden", "below"}]}, "sources": [{"commons", "status", "took_ms", "count", "hidden", "below",
"error"}]}``, plus ``rows``, ``next_cursor`` and ``rows_sources`` when rows were asked for. A hidden count is ``null``
with ``hidden: true``, and ``below: true`` when it is known to be fewer than ``tier.limit``
(:attr:`gateway.search.tiering.Shown.below`). 200 when at least one member answered; otherwise 503 (504 when the members
that failed all timed out) with the same body plus ``msg`` and ``status_code``. 400: invalid body, filter, facet or
field names, or cursor, or Passports sent both ways or while ``passports.enabled`` is false; 401/413/503: Passports the
engine rejects; 403: rows of anything but ``accessible`` data (unless every member is ``libre``). The question's syntax
is checked by :mod:`gateway.search.question`; who the caller is at each member: :mod:`gateway.access.caller`.
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from gateway.core.errors import ApiError
from gateway.members.search import CohortQuery
from gateway.search.cohort import CohortResult, CohortService, RowsRequest, sources_doc
from gateway.search.cursors import BadCursor
from gateway.search.mapping.translate import UntranslatableQuery
from gateway.search.question import MAX_NAMES, check_filter, check_names
from gateway.search.tiering import RowsForbidden
from gateway.settings.search import CohortIndex
from gateway.web.body import parse_as, read_json
from gateway.web.caller import caller_from_request
from gateway.web.keys import COHORT
from gateway.web.openapi import operation
from gateway.web.render import json_response

OPERATION_ID_PREFIX = "gateway.aggregate.api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()
PATH = "/search/v1/cohort"
TAGS = ("search",)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RowsSpec(_Body):
    limit: int = Field(..., ge=1, description="Rows wanted; at most aggregate.max_page are returned.")
    cursor: str | None = Field(None, description="`next_cursor` of the previous page (opaque).")
    fields: list[str] = Field(..., min_length=1, max_length=MAX_NAMES, description="Fields of each row.")


class CohortRequest(_Body):
    index: CohortIndex
    filter: dict[str, Any] | None = Field(None, description="Guppy's JSON filter language.")
    facets: list[str] = Field([], max_length=MAX_NAMES, description="Fields to histogram.")
    accessibility: Literal["accessible", "unaccessible", "all"] = "all"
    rows: RowsSpec | None = None
    deadline: float | None = Field(None, gt=0, description="Seconds to wait for members (capped by config).")
    passports: list[str] | None = Field(
        None, description="GA4GH Passports (or one as `Authorization: Bearer`, not both); needs passports.enabled."
    )


class CountOut(BaseModel):
    count: int | None
    hidden: bool
    below: bool = Field(description="Hidden and known to be fewer than `tier.limit` (Gen3's \"fewer than N\"); "
                                    "false for a count hidden for any other reason, and for every shown count.")


class BucketOut(CountOut):
    key: str


class TierOut(BaseModel):
    level: str
    limit: int


class SourceOut(BaseModel):
    commons: str
    status: Literal["ok", "partial", "timeout", "error", "unsupported", "stale"]
    took_ms: int
    count: int | None
    hidden: bool
    below: bool
    error: str | None


class CohortResponse(BaseModel):
    index: str
    accessibility: str
    tier: TierOut
    total: CountOut
    facets: dict[str, list[BucketOut]]
    sources: list[SourceOut]
    rows: list[dict[str, Any]] | None = None
    next_cursor: str | None = None
    rows_sources: list[dict[str, Any]] | None = None
    msg: str | None = None
    status_code: int | None = None


def response_doc(body: CohortRequest, service: CohortService, result: CohortResult) -> dict[str, Any]:
    r = result.rendered
    doc: dict[str, Any] = {
        "index": body.index,
        "accessibility": r.accessibility.value,
        "tier": {"level": service.policy.level.value, "limit": r.limit},
        "total": {"count": r.total.value if result.answered else None, "hidden": r.total.hidden,
                  "below": r.total.below},
        "facets": {f: [{"key": k, "count": b.value, "hidden": b.hidden, "below": b.below} for k, b in h.items()]
                   for f, h in r.histograms.items()},
        "sources": sources_doc(result),
    }
    for facet in body.facets:  # a facet no member answered for is still listed
        doc["facets"].setdefault(facet, [])
    if result.rows is not None:
        doc["rows"] = list(result.rows.rows)
        doc["next_cursor"] = result.rows.next_cursor
        doc["rows_sources"] = [{"commons": s.commons, "status": s.status.value, "took_ms": s.took_ms,
                                "error": s.error} for s in result.rows.sources]
    return doc


@routes.post(PATH)
@operation("Federated cohort counts (total and facet histograms, tiered) and accessible rows across members",
           tags=TAGS, request=CohortRequest, response=CohortResponse,
           responses={400: "invalid request, filter, names or cursor", 403: "rows need accessibility: accessible",
                      503: "no member answered", 504: "no member answered before the deadline"})
async def cohort(request: web.Request) -> web.Response:
    service = request.app[COHORT]
    body = parse_as(CohortRequest, await read_json(request))
    if body.filter is not None:
        check_filter(body.filter)
    query = CohortQuery(body.index, body.filter or None, check_names(body.facets, "facet"))
    rows = None
    if body.rows is not None:
        rows = RowsRequest(check_names(body.rows.fields, "field"), body.rows.limit, body.rows.cursor)
    caller = await caller_from_request(request, body.passports)
    try:
        result = await service.search(query, body.accessibility, caller=caller, deadline_seconds=body.deadline,
                                      rows=rows)
    except RowsForbidden as exc:
        raise ApiError(403, str(exc)) from None
    except (BadCursor, UntranslatableQuery) as exc:  # a cursor of another question, or a member's mapping
        raise ApiError(400, str(exc)) from None
    doc = response_doc(body, service, result)
    if result.answered:
        return json_response(doc)
    status = 504 if result.only_timeouts else 503
    reason = ("no member answered before the deadline" if status == 504 else
              "no member answered the search" if result.answers else "no active member can be searched")
    return json_response({**doc, "msg": reason, "status_code": status}, status=status)
