"""``POST /search/v1/export``: the accessible rows of a federated cohort as a PFB file or a ``gen3 drs-pull``
manifest, streamed in constant memory (no background jobs: every export streams in the response).

Request (pydantic, unknown fields refused)::

    {"index": "subject" | "file", "filter": {Guppy filter} | null, "format": "pfb" | "manifest",
     "accessibility": "accessible"}                                       (the default and the only one allowed)

Before any byte is written the gateway asks every active member for the accessible count of the cohort and its
``project_id`` histogram (one cohort search, under ``aggregate.deadline``). Errors then are JSON: 400 (invalid
body or filter, a manifest of anything but ``file``), 403 (accessibility other than ``accessible``), 413 (more
than ``aggregate.export.max_entities`` entities), 503/504 (no member answered), 502 (a member failed while the
first chunk was being made). Members that did not answer are
left out of the export and listed in the PFB's ``Metadata.misc["sources"]`` (a JSON list of ``{commons, status,
count, error, exported}``) next to those exported. A member that hides its own total (Guppy's tier access on an
unfiltered query) counts as unknown there: the cap is then also enforced while streaming (an abort).

Then the rows are paged from the members that answered (:meth:`CohortService.rows`, ``aggregate.max_page`` at a
time) and encoded in a worker thread: :func:`~gateway.aggregate.pfb.pfb_chunks` (or
:func:`~gateway.aggregate.manifest.manifest_chunks`) pulls entities from a generator that asks the event loop for
the next page only when it needs it, and the handler writes each chunk before asking for the next. So at most one
page of rows and one chunk are held per export. A member that fails while paging, or an encoding error, once
bytes went out, aborts the connection: the client sees a truncated transfer, never a short file that looks
complete.

PFB: ``Content-Type: avro/binary``, ``Content-Disposition: attachment; filename=cohort.pfb``; entities as
:mod:`gateway.aggregate.export` builds them (programs and projects first). Manifest: ``application/json``, a
JSON array of ``{object_id, commons_url, file_name, file_size, md5sum}`` (``commons_url`` the member's host).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from adapters.search import CohortQuery
from gateway.aggregate.api import COHORT, check_filter
from gateway.aggregate.caller import SearchCaller
from gateway.aggregate.cohort import CohortService
from gateway.aggregate.counts import Status
from gateway.aggregate.dictionary import refcommons_dictionary
from gateway.aggregate.export import ROW_FIELDS, EntityBuilder, host_of, manifest_entry
from gateway.aggregate.manifest import manifest_chunks
from gateway.aggregate.pfb import Entity, pfb_chunks
from gateway.aggregate.settings import AggregateConfig, ExportSettings
from gateway.aggregate.tiering import RowsForbidden
from gateway.web.body import parse_as, read_json
from gateway.web.errors import ApiError
from gateway.web.openapi import operation
from registry.model import Member

log = logging.getLogger("gateway.aggregate.export")
routes = web.RouteTableDef()
EXPORT = web.AppKey("cohort_export", ExportSettings)
PATH = "/search/v1/export"
CHUNK_SIZE = 64 * 1024
PFB_TYPE = "avro/binary"


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: Literal["subject", "file"]
    filter: dict[str, Any] | None = Field(None, description="Guppy's JSON filter language.")
    format: Literal["pfb", "manifest"] = Field("pfb", description="`manifest` only for the `file` index.")
    accessibility: Literal["accessible", "unaccessible", "all"] = Field(
        "accessible", description="Exports only include data you have access to: `accessible` only.")


class ExportFailed(Exception):
    """The export cannot go on (a member failed while paging, or sent more rows than allowed); ``status`` is the
    answer when no byte went out yet."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


class _Pages:
    """The accessible rows of the cohort, page by page, fetched on the event loop for a worker thread."""

    def __init__(self, service: CohortService, query: CohortQuery, members: Sequence[Member], fields: Sequence[str],
                 caller: SearchCaller, max_rows: int, loop: asyncio.AbstractEventLoop) -> None:
        self.service, self.query, self.members, self.fields = service, query, members, tuple(fields)
        self.caller, self.max_rows, self.loop = caller, max_rows, loop
        self.cursor: str | None = None
        self.done = not members
        self.count = 0
        self.stop = threading.Event()

    async def next_page(self) -> tuple[dict[str, Any], ...] | None:
        if self.done:
            return None
        result = await self.service.rows(self.query, self.members, self.fields, self.service.config.max_page,
                                         self.cursor, "accessible", self.service.deadline(),
                                         caller=self.caller)
        bad = next((s for s in result.sources if s.status is not Status.OK), None)
        if bad is not None:
            raise ExportFailed(f"member {bad.commons} failed while paging rows: {bad.status.value}: {bad.error}")
        self.cursor = result.next_cursor
        self.done = self.cursor is None
        return result.rows

    def rows(self) -> Iterator[dict[str, Any]]:
        """The rows, for the worker thread: each page is fetched on the loop when the previous one is used up."""
        wait = self.service.config.deadline + 30.0
        while True:
            if self.stop.is_set():
                raise ExportFailed("export stopped")
            page = asyncio.run_coroutine_threadsafe(self.next_page(), self.loop).result(timeout=wait)
            if page is None:
                return
            self.count += len(page)
            if self.count > self.max_rows:
                raise ExportFailed(f"the export would hold more than the {self.max_rows} entities allowed "
                                   "(export.max_entities): narrow the filter", 413)
            yield from page


def _count(answer: Any) -> int | None:
    """The member's accessible total; ``None`` if it did not answer or hid its total (then the cap is enforced
    while streaming)."""
    if not answer.answered or answer.total is None or answer.total_hidden:
        return None
    return answer.total.accessible


def _sources(answers: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"commons": a.commons, "status": a.status.value, "count": _count(a), "error": a.error,
             "exported": a.answered} for a in answers]


def _projects(answer: Any) -> list[str]:
    histogram: Mapping[Any, Any] = answer.histograms.get("project_id", {})
    hidden = answer.hidden_buckets("project_id")
    return sorted(k for k, c in histogram.items() if isinstance(k, str) and k and (k in hidden or c.accessible > 0))


@routes.post(PATH)
@operation("Export the accessible rows of a federated cohort as a PFB file or a gen3 drs-pull manifest (streamed)",
           tags=("search",), request=ExportRequest,
           responses={200: "the file, streamed (a failure mid-stream aborts the connection)",
                      400: "invalid request or filter; a manifest of anything but files",
                      403: "exports need accessibility: accessible",
                      413: "more entities than export.max_entities", 503: "no member answered",
                      504: "no member answered before the deadline"})
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
    caller = SearchCaller(request.headers.get("Authorization"))
    query = CohortQuery(body.index, body.filter or None, ("project_id",))
    result = await service.search(query, "accessible", caller=caller)
    if not result.answered:
        status = 504 if result.only_timeouts else 503
        raise ApiError(status, "no member answered the export's cohort search")
    answered = {a.commons: a for a in result.answers if a.answered}
    members = [m for m in await service.members() if m.id in answered]
    rows = sum(_count(a) or 0 for a in answered.values())  # a lower bound when a member hid its total
    projects = {mid: _projects(a) for mid, a in answered.items()}
    entities = rows
    if body.format == "pfb":
        entities += sum(len(p) + len({x.partition("-")[0] for x in p}) for p in projects.values())
    if entities > settings.max_entities:
        raise ApiError(413, f"the export would hold {entities} entities, more than the {settings.max_entities} "
                            "allowed (export.max_entities): narrow the filter")

    loop = asyncio.get_running_loop()
    pages = _Pages(service, CohortQuery(body.index, body.filter or None), members, ROW_FIELDS[body.index],
                   caller, settings.max_entities, loop)
    if body.format == "pfb":
        builder = EntityBuilder(refcommons_dictionary(), body.index)

        def stream() -> Iterator[Entity]:
            for m in members:
                yield from builder.projects(m.id, projects[m.id])
            for row in pages.rows():
                yield from builder.row(row)

        misc = {"index": body.index, "filter": body.filter, "sources": _sources(result.answers)}
        chunks = pfb_chunks(refcommons_dictionary(), stream(), misc, CHUNK_SIZE)
        headers = {"Content-Type": PFB_TYPE, "Content-Disposition": "attachment; filename=cohort.pfb"}
    else:
        hosts = {m.id: host_of(m.base_url) for m in members}
        entries = (e for row in pages.rows() if (e := manifest_entry(row, hosts.get(row.get("commons")))))
        chunks = manifest_chunks(entries, CHUNK_SIZE)
        headers = {"Content-Type": "application/json", "Content-Disposition": "attachment; filename=manifest.json"}
    return await _stream(request, chunks, headers, pages)


async def _stream(request: web.Request, chunks: Iterator[bytes], headers: Mapping[str, str],
                  pages: _Pages) -> web.StreamResponse:
    """Write ``chunks`` (each produced in a worker thread) as they come; the headers go with the first chunk, so
    that a failure before it is still a JSON error; a failure after it aborts the connection."""
    response: web.StreamResponse | None = None
    try:
        while True:
            try:
                chunk = await asyncio.to_thread(next, chunks, None)
            except Exception as exc:  # noqa: BLE001 - reported to the client (before) or by aborting (after)
                if response is None:
                    log.info("export failed before its first byte: %s", exc)
                    status = exc.status if isinstance(exc, ExportFailed) else 502
                    raise ApiError(status, f"the export failed: {exc}"[:500]) from None
                log.warning("export failed mid-stream: aborting the connection", exc_info=True)
                if request.transport is not None:
                    request.transport.abort()
                return response
            if chunk is None:
                break
            if response is None:
                response = web.StreamResponse(headers=dict(headers))
                response.enable_chunked_encoding()
                await response.prepare(request)
            await response.write(chunk)
        assert response is not None  # both encoders yield at least one chunk
        await response.write_eof()
        return response
    finally:
        pages.stop.set()  # a worker still running (client gone, cancelled) stops at its next page


def setup_export(app: web.Application, state: Any, directory: Any, config: AggregateConfig) -> None:
    """Register ``POST /search/v1/export`` (needs the cohort service of :func:`gateway.aggregate.api.setup_search`)."""
    del state, directory
    app[EXPORT] = config.export
    app.add_routes(routes)
