"""Export jobs (pure): the job record, its transitions, expiry, the lost-worker rule and the public document.

A job goes ``queued → running → done | failed | cancelled`` (``queued`` may also go straight to ``failed`` or
``cancelled``); a transition the state does not allow raises :class:`InvalidTransition`. Each function takes the
clock reading (epoch seconds) and returns a new :class:`ExportJob`; the store write (rev-checked, so that a cancel
and a finish cannot both win) is the caller's business.

* ``expires_at`` is set when the job ends: ``finished_at + job_ttl``. From then on :func:`is_expired` holds, the
  routes answer 410 and the sweeper deletes the record and its file.
* The replica running a job refreshes ``heartbeat_at`` every few seconds (:func:`beat`); a ``queued`` or
  ``running`` job whose heartbeat is older than ``lost_after`` is :func:`lost` and :func:`settle` turns it into
  ``failed`` (whichever replica reads it).
* :func:`public_doc` is what clients see: times as ISO-8601 UTC (``…Z``), ``progress``, ``status_url``, the
  ``dictionary`` a PFB is described with (which, from whom, why; ``null`` for a manifest) and, when done, ``file``
  with its ``url``. The replica id and caller are never part of it (the caller is not even stored).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any, Literal

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
ACTIVE: frozenset[str] = frozenset({"queued", "running"})
JOBS_PATH = "/search/v1/export/jobs"
JOB_ID = re.compile(r"[A-Za-z0-9_-]{32,64}")
"""What a job id looks like (``secrets.token_urlsafe(32)``: 43 characters); anything else is unknown."""
LOST = "the gateway replica running the export stopped"


class InvalidTransition(Exception):
    """The job is not in a state the transition starts from (e.g. cancelling a job that is done)."""

    def __init__(self, job: ExportJob, to: str) -> None:
        super().__init__(f"export job is {job.status}: it cannot become {to}")
        self.job = job


@dataclass(frozen=True)
class FileInfo:
    size: int
    sha256: str
    content_type: str
    filename: str


@dataclass(frozen=True)
class ExportJob:
    id: str
    status: JobStatus
    format: str
    index: str
    filter: dict[str, Any] | None
    created_at: float
    heartbeat_at: float
    replica: str
    """Which replica runs the job (not shown to clients)."""
    expected: int
    sources: tuple[dict[str, Any], ...] = ()
    entities: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    expires_at: float | None = None
    error: str | None = None
    file: FileInfo | None = None
    dictionary: dict[str, Any] | None = None
    """Which dictionary describes a PFB and why (:meth:`~gateway.export.plan.ExportPlan.dictionary_doc`)."""

    def to_doc(self) -> dict[str, Any]:
        """The record as stored (plain JSON)."""
        doc = asdict(self)
        doc["sources"] = list(self.sources)
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ExportJob:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in doc.items() if k in names}  # a newer replica's record may hold more
        values["sources"] = tuple(values.get("sources") or ())
        if values.get("file") is not None:
            values["file"] = FileInfo(**values["file"])
        return cls(**values)


def delivers_as_job(delivery: str, entities: int, inline_limit: int) -> bool:
    """Whether an export is made by a job: ``job``, or ``auto`` past ``inline_limit`` entities (pre-count)."""
    return delivery == "job" or (delivery == "auto" and entities > inline_limit)


def new_job(job_id: str, *, format: str, index: str, filter: dict[str, Any] | None, expected: int,
            sources: list[dict[str, Any]], replica: str, now: float,
            dictionary: dict[str, Any] | None = None) -> ExportJob:
    return ExportJob(job_id, "queued", format, index, filter, now, now, replica, expected, tuple(sources),
                     dictionary=dictionary)


def _check(job: ExportJob, allowed: frozenset[str] | set[str], to: str) -> None:
    if job.status not in allowed:
        raise InvalidTransition(job, to)


def start(job: ExportJob, now: float) -> ExportJob:
    _check(job, {"queued"}, "running")
    return replace(job, status="running", started_at=now, heartbeat_at=now)


def beat(job: ExportJob, entities: int, now: float) -> ExportJob:
    """The worker is alive and has produced ``entities`` so far."""
    _check(job, {"running"}, "running")
    return replace(job, entities=entities, heartbeat_at=now)


def finish(job: ExportJob, file: FileInfo, entities: int, now: float, ttl: float) -> ExportJob:
    _check(job, {"running"}, "done")
    return replace(job, status="done", entities=entities, file=file, heartbeat_at=now, finished_at=now,
                   expires_at=now + ttl)


def fail(job: ExportJob, error: str, now: float, ttl: float) -> ExportJob:
    _check(job, ACTIVE, "failed")
    return replace(job, status="failed", error=error[:500], finished_at=now, expires_at=now + ttl)


def cancel(job: ExportJob, now: float, ttl: float) -> ExportJob:
    _check(job, ACTIVE, "cancelled")
    return replace(job, status="cancelled", finished_at=now, expires_at=now + ttl)


def is_expired(job: ExportJob, now: float) -> bool:
    return job.expires_at is not None and now >= job.expires_at


def lost(job: ExportJob, now: float, lost_after: float) -> bool:
    """An unfinished job whose worker has not been heard of for longer than ``lost_after`` seconds."""
    return job.status in ACTIVE and now - job.heartbeat_at > lost_after


def settle(job: ExportJob, now: float, lost_after: float, ttl: float) -> ExportJob:
    """``job`` as any replica must report it: ``failed`` when its worker is lost, else unchanged."""
    return fail(job, LOST, now, ttl) if lost(job, now, lost_after) else job


def iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_path(job_id: str) -> str:
    return f"{JOBS_PATH}/{job_id}"


def public_doc(job: ExportJob) -> dict[str, Any]:
    """The job document clients see."""
    url = status_path(job.id)
    file = None if job.file is None or job.status != "done" else {"url": f"{url}/file", **asdict(job.file)}
    return {
        "id": job.id, "status": job.status, "format": job.format, "index": job.index, "filter": job.filter,
        "created_at": iso(job.created_at), "started_at": iso(job.started_at), "finished_at": iso(job.finished_at),
        "expires_at": iso(job.expires_at), "heartbeat_at": iso(job.heartbeat_at),
        "progress": {"entities": job.entities, "expected": job.expected},
        "sources": list(job.sources), "dictionary": job.dictionary, "error": job.error, "file": file,
        "status_url": url,
    }
