"""What one cohort export holds, and the producer of its bytes, shared by the streamed answer and export jobs.

:func:`plan_export` asks every active member for the accessible count of the cohort and its ``project_id``
histogram (one cohort search, under ``aggregate.deadline``) and makes an :class:`ExportPlan`: the members that
answered, their projects, the pre-count of entities, the per-member ``sources`` and, for a PFB, the data
dictionary that describes it (:meth:`~gateway.export.member_dictionaries.MemberDictionaries.choose`: a dictionary
the contributing members offer, or the default, with the reason; recorded in ``Metadata.misc["dictionary"]`` and
the job document). It refuses (``ExportFailed`` with the status to answer) when no member answered or the export
would hold more than ``aggregate.export.max_entities`` entities.

:meth:`ExportPlan.produce` makes a :class:`Production`: a blocking iterator of byte chunks, meant to be advanced in
a worker thread (``asyncio.to_thread(next, chunks, None)``). :func:`~gateway.export.formats.pfb.pfb_chunks` (or
:func:`~gateway.export.formats.manifest.manifest_chunks`) pulls entities from :class:`Pages`, which asks the event loop
for the next page of rows (:meth:`CohortService.rows`, ``aggregate.max_page`` at a time) only when it needs it.
So at most one page of rows and one chunk are held per export, whoever consumes the chunks. :meth:`Pages.halt`
stops a production from the loop: the worker thread gives up at its next page (a page being fetched is
cancelled).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.access.caller import SearchCaller
from gateway.core.errors import UpstreamError
from gateway.core.member import Member
from gateway.export.dictionary_choice import DictionaryChoice
from gateway.export.entities import ROW_FIELDS, EntityBuilder, host_of, manifest_entry
from gateway.export.formats.manifest import manifest_chunks
from gateway.export.formats.pfb import Entity, pfb_chunks
from gateway.export.member_dictionaries import MemberDictionaries
from gateway.members.search import CohortQuery, Count
from gateway.search.cohort import CohortService
from gateway.search.counts import MemberAnswer, Status
from gateway.settings.aggregate import ExportSettings

CHUNK_SIZE = 64 * 1024
PFB_TYPE = "avro/binary"
MANIFEST_TYPE = "application/json"


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: Literal["subject", "file"]
    filter: dict[str, Any] | None = Field(None, description="Guppy's JSON filter language.")
    format: Literal["pfb", "manifest"] = Field("pfb", description="`manifest` only for the `file` index.")
    accessibility: Literal["accessible", "unaccessible", "all"] = Field(
        "accessible", description="Exports only include data you have access to: `accessible` only.")
    delivery: Literal["auto", "stream", "job"] = Field(
        "auto", description="`stream` answers with the file; `job` starts a background job (202 and a status "
        "URL); `auto` streams up to `aggregate.export.inline_limit` entities and starts a job beyond.")
    passports: list[str] | None = Field(
        None, description="GA4GH Passports (or one as `Authorization: Bearer`, not both); needs passports.enabled. "
        "Never stored with a job.")


class ExportFailed(Exception):
    """The export cannot go on (no member answered, too many entities, a member failed while paging);
    ``status`` is the answer when no byte went out yet."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


def failure_text(exc: BaseException) -> str:
    """What a client is told about an export that failed with ``exc``: an :class:`ExportFailed`'s or a member's
    error's public words; for anything else (a bug, storage trouble: its text may name internal hosts or paths)
    ``unexpected failure``, the exception itself being the caller's to log."""
    return str(exc) if isinstance(exc, ExportFailed | UpstreamError) else "unexpected failure"


class Pages:
    """The accessible rows of the cohort, page by page, fetched on the event loop for a worker thread."""

    def __init__(self, service: CohortService, query: CohortQuery, members: Sequence[Member], fields: Sequence[str],
                 caller: SearchCaller, max_rows: int, loop: asyncio.AbstractEventLoop) -> None:
        self.service, self.query, self.members, self.fields = service, query, members, tuple(fields)
        self.caller, self.max_rows, self.loop = caller, max_rows, loop
        self.cursor: str | None = None
        self.done = not members
        self.count = 0
        self.stop = threading.Event()
        self.pending: concurrent.futures.Future[Any] | None = None

    def halt(self) -> None:
        """Stop the production (from the event loop): the worker thread gives up at its next page."""
        self.stop.set()
        pending = self.pending
        if pending is not None:
            pending.cancel()

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
            self.pending = asyncio.run_coroutine_threadsafe(self.next_page(), self.loop)
            try:
                page = self.pending.result(timeout=wait)
            except concurrent.futures.CancelledError:
                raise ExportFailed("export stopped") from None
            finally:
                self.pending = None
            if page is None:
                return
            self.count += len(page)
            if self.count > self.max_rows:
                raise ExportFailed(f"the export would hold more than the {self.max_rows} entities allowed "
                                   "(export.max_entities): narrow the filter", 413)
            yield from page


@dataclass
class Production:
    """One export being made: ``chunks`` (advance it in a worker thread), how far it got, what it is."""

    chunks: Iterator[bytes]
    pages: Pages
    content_type: str
    filename: str
    counter: list[int] = field(default_factory=lambda: [0])
    """Entities produced so far (one cell, written by the worker thread)."""

    @property
    def entities(self) -> int:
        return self.counter[0]


def member_count(answer: MemberAnswer) -> int | None:
    """The member's accessible total (an export holds accessible data only, so a total the member hid is still
    known when it told its accessible part, as Guppy does); ``None`` if it did not answer or hid its total
    entirely (then the cap is enforced while streaming)."""
    return answer.accessible_total


def _projects(answer: MemberAnswer) -> list[str]:
    """The member's projects with accessible records in the cohort; a hidden bucket whose accessible part the
    member did not tell may have some, so it is listed too."""
    histogram: Mapping[str | None, Count] = answer.histograms.get("project_id", {})
    keys = dict.fromkeys([*histogram, *sorted(k for k in answer.hidden_buckets("project_id") if k is not None)])
    out = []
    for k in keys:
        if not isinstance(k, str) or not k:
            continue
        if ("project_id", k) in answer.hidden:
            accessible = answer.hidden_accessible.get(("project_id", k))
            if accessible is None or accessible > 0:
                out.append(k)
        elif histogram[k].accessible > 0:
            out.append(k)
    return sorted(out)


def _counted(items: Iterator[Any], counter: list[int]) -> Iterator[Any]:
    for item in items:
        counter[0] += 1
        yield item


@dataclass(frozen=True)
class ExportPlan:
    """An export's question and what the members' counts said about it."""

    body: ExportRequest
    members: tuple[Member, ...]
    answers: tuple[Any, ...]
    projects: Mapping[str, list[str]]
    entities: int
    """Entities the export will hold: a lower bound when a member hid its total."""
    dictionary: DictionaryChoice | None = None
    """The dictionary a PFB is described with (``None`` for a manifest)."""

    def sources(self) -> list[dict[str, Any]]:
        """Per member: ``{commons, status, count, error, exported}`` (the PFB's ``misc["sources"]``)."""
        return [{"commons": a.commons, "status": a.status.value, "count": member_count(a), "error": a.error,
                 "exported": a.answered} for a in self.answers]

    def dictionary_doc(self) -> dict[str, Any] | None:
        """Which dictionary describes the export and why (the PFB's ``misc["dictionary"]``), ``None`` for a
        manifest."""
        return self.dictionary.doc() if self.dictionary is not None else None

    def produce(self, service: CohortService, caller: SearchCaller, settings: ExportSettings,
                loop: asyncio.AbstractEventLoop, own_host: str | None = None) -> Production:
        """The export's chunks; a manifest lists a member's files under its host (``commons_url``), or under
        ``own_host`` (the gateway's DRS host, which routes them) when its base URL is not a bare host (the
        in-process commons)."""
        body = self.body
        pages = Pages(service, CohortQuery(body.index, body.filter or None), self.members, ROW_FIELDS[body.index],
                      caller, settings.max_entities, loop)
        counter = [0]
        if body.format == "pfb":
            assert self.dictionary is not None  # plan_export chose one
            dictionary = self.dictionary.dictionary
            builder = EntityBuilder(dictionary, body.index)

            def stream() -> Iterator[Entity]:
                for m in self.members:
                    yield from builder.projects(m.id, self.projects[m.id])
                for row in pages.rows():
                    yield from builder.row(row)

            misc = {"index": body.index, "filter": body.filter, "sources": self.sources(),
                    "dictionary": self.dictionary_doc()}
            chunks = pfb_chunks(dictionary, _counted(stream(), counter), misc, CHUNK_SIZE)
            return Production(chunks, pages, PFB_TYPE, "cohort.pfb", counter)
        hosts = {m.id: host_of(m.base_url) or own_host for m in self.members}
        entries = (e for row in pages.rows() if (e := manifest_entry(row, hosts.get(row.get("commons") or ""))))
        chunks = manifest_chunks(_counted(entries, counter), CHUNK_SIZE)
        return Production(chunks, pages, MANIFEST_TYPE, "manifest.json", counter)


async def plan_export(service: CohortService, body: ExportRequest, caller: SearchCaller, settings: ExportSettings,
                      dictionaries: MemberDictionaries) -> ExportPlan:
    """Count the cohort at every active member (``body`` already checked); :class:`ExportFailed` when no member
    answered (503, 504 when all timed out) or the export would hold more than ``max_entities`` entities (413).
    A PFB's dictionary is then chosen among what the contributing members offer (under ``aggregate.deadline``)."""
    query = CohortQuery(body.index, body.filter or None, ("project_id",))
    result = await service.search(query, "accessible", caller=caller)
    if not result.answered:
        raise ExportFailed("no member answered the export's cohort search", 504 if result.only_timeouts else 503)
    answered = {a.commons: a for a in result.answers if a.answered}
    members = tuple(m for m in await service.members() if m.id in answered)
    entities = sum(member_count(a) or 0 for a in answered.values())  # a lower bound when a member hid its total
    projects = {mid: _projects(a) for mid, a in answered.items()}
    if body.format == "pfb":
        entities += sum(len(p) + len({x.partition("-")[0] for x in p}) for p in projects.values())
    if entities > settings.max_entities:
        raise ExportFailed(f"the export would hold {entities} entities, more than the {settings.max_entities} "
                           "allowed (export.max_entities): narrow the filter", 413)
    dictionary = None
    if body.format == "pfb":
        dictionary = await dictionaries.choose(members, body.index, service.deadline())
    return ExportPlan(body, members, tuple(result.answers), projects, entities, dictionary)
