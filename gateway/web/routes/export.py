"""``POST /search/v1/export``: the accessible rows of a federated cohort as a PFB file or a ``gen3 drs-pull``
manifest, streamed in the response or made by a background job with a status URL.

Request (pydantic, unknown fields refused)::

    {"index": "subject" | "file", "filter": {Guppy filter} | null, "format": "pfb" | "manifest",
     "accessibility": "accessible",                                       (the default and the only one allowed)
     "delivery": "auto" | "stream" | "job"}                               (default "auto")

Before anything else the gateway counts the cohort at every active member
(:func:`~gateway.export.plan.plan_export`). Errors then are JSON: 400 (invalid body or filter, a
manifest of anything but ``file``), 403 (accessibility other than ``accessible``), 413 (more than
``aggregate.export.max_entities`` entities), 503/504 (no member answered). Members that did not answer are left
out and listed in the PFB's ``Metadata.misc["sources"]`` (a JSON list of ``{commons, status, count, error,
exported}``). A member that hides its own total (Guppy's tier access on an unfiltered query) counts as unknown
there: the cap is then also enforced while producing.

``delivery``: ``stream`` answers 200 with the file; ``job`` answers ``202 Accepted`` with ``Location:
/search/v1/export/jobs/{id}`` and the job document (:mod:`gateway.web.routes.export_jobs`; 429 with
``Retry-After`` when this replica already runs ``aggregate.export.max_running`` jobs); ``auto`` streams when the
pre-count is at most ``aggregate.export.inline_limit`` entities, else starts a job.

Streaming: the producer's chunks (:class:`~gateway.export.plan.Production`, each made in a worker
thread) are written as they come; the headers go with the first chunk, so a failure before it (a member failing
while paging: 502) is still a JSON error, and a failure after it aborts the connection: the client sees a
truncated transfer, never a short file that looks complete.

PFB: ``Content-Type: avro/binary``, ``Content-Disposition: attachment; filename=cohort.pfb``; entities as
:mod:`gateway.export.entities` builds them (programs and projects first), described with the dictionary the plan
chose (:mod:`gateway.export.dictionary_choice`: the contributing members' own, or the default the app handed
over, the reference commons'), recorded with its reason in
``Metadata.misc["dictionary"]`` and the job document. Manifest: ``application/json``, a
JSON array of ``{object_id, commons_url, file_name, file_size, md5sum}`` (``commons_url`` the member's host, or
the gateway's DRS host for a member without one).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from gateway.core.errors import ApiError
from gateway.export.job import delivers_as_job, public_doc, status_path
from gateway.export.plan import ExportFailed, ExportRequest, Production, failure_text, plan_export
from gateway.export.runner import JobsFull
from gateway.search.question import check_filter
from gateway.search.tiering import RowsForbidden
from gateway.web.body import parse_as, read_json
from gateway.web.caller import caller_from_request
from gateway.web.keys import COHORT, DICTIONARIES, EXPORT, JOBS, OWN_HOST
from gateway.web.openapi import operation
from gateway.web.render import json_response

OPERATION_ID_PREFIX = "gateway.aggregate.export_api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

log = logging.getLogger("gateway.web.routes.export")
routes = web.RouteTableDef()
PATH = "/search/v1/export"
RETRY_AFTER = 30
"""Seconds a client is told to wait when this replica's job slots are full."""


@routes.post(PATH)
@operation("Export the accessible rows of a federated cohort as a PFB file or a gen3 drs-pull manifest (streamed, "
           "or as a background job with a status URL)",
           tags=("search",), request=ExportRequest, content="*/*",
           responses={200: "the file, streamed (a failure mid-stream aborts the connection)",
                      202: "a background job: Location is its status URL, the body its job document",
                      400: "invalid request or filter; a manifest of anything but files",
                      403: "exports need accessibility: accessible",
                      413: "more entities than export.max_entities",
                      429: "this replica runs export.max_running jobs already (Retry-After)",
                      503: "no member answered", 504: "no member answered before the deadline"})
async def export(request: web.Request) -> web.StreamResponse:
    service = request.app[COHORT]
    settings = request.app[EXPORT]
    body = parse_as(ExportRequest, await read_json(request))
    if body.accessibility != "accessible":
        raise ApiError(403, str(RowsForbidden(body.accessibility)))
    if body.format == "manifest" and body.index != "file":
        raise ApiError(400, "a manifest lists files: use index: file")
    if body.filter is not None:
        check_filter(body.filter)
    caller = await caller_from_request(request, body.passports)
    try:
        plan = await plan_export(service, body, caller, settings, request.app[DICTIONARIES])
    except ExportFailed as exc:
        raise ApiError(exc.status, str(exc)) from None
    production = plan.produce(service, caller, settings, asyncio.get_running_loop(), request.app[OWN_HOST])
    if not delivers_as_job(body.delivery, plan.entities, settings.inline_limit):
        return await _stream(request, production)
    try:
        job = await request.app[JOBS].submit(plan, production)
    except JobsFull:
        message = f"this gateway replica already runs {settings.max_running} export jobs (export.max_running)"
        raise ApiError(429, message + ": try again later", headers={"Retry-After": str(RETRY_AFTER)}) from None
    return json_response(public_doc(job), status=202, headers={"Location": status_path(job.id)})


async def _stream(request: web.Request, production: Production) -> web.StreamResponse:
    """Write the production's chunks as they come; the headers go with the first chunk, so that a failure before
    it is still a JSON error; a failure after it aborts the connection."""
    response: web.StreamResponse | None = None
    try:
        while True:
            try:
                chunk = await asyncio.to_thread(next, production.chunks, None)
            except Exception as exc:
                if response is None:
                    log.info("export failed before its first byte: %s", exc, exc_info=not isinstance(exc, ExportFailed))
                    status = exc.status if isinstance(exc, ExportFailed) else 502
                    raise ApiError(status, f"the export failed: {failure_text(exc)}"[:500]) from None
                log.warning("export failed mid-stream: aborting the connection", exc_info=True)
                if request.transport is not None:
                    request.transport.abort()
                return response
            if chunk is None:
                break
            if response is None:
                response = web.StreamResponse(headers={
                    "Content-Type": production.content_type,
                    "Content-Disposition": f"attachment; filename={production.filename}",
                })
                response.enable_chunked_encoding()
                await response.prepare(request)
            await response.write(chunk)
        assert response is not None  # both encoders yield at least one chunk
        await response.write_eof()
        return response
    finally:
        production.pages.halt()  # a worker still running (client gone, cancelled) stops at its next page
