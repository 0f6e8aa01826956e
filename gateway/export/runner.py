"""Export jobs on one replica: start them, run their producers into the file storage, heartbeat, cancel, sweep.

Job records live in the gateway store (namespace :data:`NAMESPACE`, keyed by job id), so every replica sees every
job; each change is a rev-checked read-modify-write (:meth:`ExportJobs.change`), so that a cancel and a finish
cannot both win. What only the running replica holds, in memory: the task, the producer and the caller it asks
members for (never stored).

* :meth:`ExportJobs.submit` stores a ``queued`` record and starts the worker task (at most
  ``aggregate.export.max_running`` per replica, :class:`JobsFull` beyond). The worker marks it ``running``, writes
  the producer's chunks to :mod:`~gateway.export.storage`, then ``done`` (or ``failed``).
* Its heartbeat task writes ``progress`` every ``heartbeat`` seconds and re-reads the record: once it is no longer
  ``running`` (cancelled on any replica, or deleted) the producer is halted at its next page and the partial file
  dropped.
* :meth:`ExportJobs.read` applies the lost-worker rule (:func:`~gateway.export.job.settle`) and writes
  the ``failed`` state it implies; the sweeper (every ``sweep_interval`` seconds, on every replica) does the same
  for every job, and deletes expired records with their files.
* :meth:`ExportJobs.stop` (app shutdown) halts this replica's workers and marks their jobs ``failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gateway.core.metrics import current
from gateway.export import job as jobs
from gateway.export.job import ExportJob, FileInfo, InvalidTransition
from gateway.export.plan import ExportFailed, ExportPlan, Production, failure_text
from gateway.export.storage import ExportFiles
from gateway.settings.aggregate import ExportSettings
from gateway.store import Store
from gateway.store.base import ABSENT, Conflict, StoreError

log = logging.getLogger("gateway.export.runner")
NAMESPACE = "export_jobs"
RETRIES = 10


class JobsFull(Exception):
    """This replica already runs ``max_running`` export jobs."""


class JobMissing(Exception):
    """No such job (never was, deleted or swept)."""


@dataclass
class _Worker:
    production: Production
    task: asyncio.Task[None] | None = None
    halted: bool = False
    beats: asyncio.Task[None] | None = field(default=None, repr=False)

    def halt(self) -> None:
        self.halted = True
        self.production.pages.halt()


class ExportJobs:
    """This replica's export jobs (see the module docstring)."""

    def __init__(self, store: Store, files: ExportFiles, settings: ExportSettings,
                 clock: Callable[[], float] = time.time) -> None:
        self.store, self.files, self.settings, self.clock = store, files, settings, clock
        self.replica = secrets.token_hex(8)
        self.workers: dict[str, _Worker] = {}
        self.sweeper: asyncio.Task[None] | None = None

    # --- the record ----------------------------------------------------------------------------------------------

    async def change(self, job_id: str, step: Callable[[ExportJob], ExportJob]) -> ExportJob:
        """Apply ``step`` to the stored job and write the result if it differs, retrying on a concurrent write.
        :class:`JobMissing` or the step's :class:`InvalidTransition` otherwise."""
        for _ in range(RETRIES):
            stored = await self.store.get(NAMESPACE, job_id)
            if stored is None:
                raise JobMissing(job_id)
            job = ExportJob.from_doc(stored.doc)
            new = step(job)
            if new == job:
                return job
            try:
                await self.store.put(NAMESPACE, job_id, new.to_doc(), expect_rev=stored.rev)
            except Conflict:
                continue
            return new
        raise StoreError(f"export job {job_id}: too many concurrent updates")

    async def read(self, job_id: str) -> ExportJob:
        """The job as it must be reported (a lost worker makes it ``failed``); :class:`JobMissing` if unknown."""
        stored = await self.store.get(NAMESPACE, job_id)
        if stored is None:
            raise JobMissing(job_id)
        job = ExportJob.from_doc(stored.doc)
        if jobs.lost(job, self.clock(), self.settings.lost_after):
            job = await self.change(job_id, self._settle)
        return job

    def _settle(self, job: ExportJob) -> ExportJob:
        return jobs.settle(job, self.clock(), self.settings.lost_after, self.settings.job_ttl)

    # --- starting and stopping jobs ------------------------------------------------------------------------------

    async def submit(self, plan: ExportPlan, production: Production) -> ExportJob:
        """Store a new job for ``plan`` and start producing it; :class:`JobsFull` when this replica is busy."""
        if len(self.workers) >= self.settings.max_running:
            raise JobsFull()
        job_id = secrets.token_urlsafe(32)
        worker = self.workers[job_id] = _Worker(production)  # the slot is taken before any await
        job = jobs.new_job(job_id, format=plan.body.format, index=plan.body.index, filter=plan.body.filter,
                           expected=plan.entities, sources=plan.sources(), replica=self.replica, now=self.clock(),
                           dictionary=plan.dictionary_doc())
        try:
            await self.store.put(NAMESPACE, job_id, job.to_doc(), expect_rev=ABSENT)
        except BaseException:
            del self.workers[job_id]
            raise
        worker.task = asyncio.create_task(self._run(job_id, worker), name=f"export-job-{job_id[:8]}")
        current().export_job("submitted")
        return job

    async def cancel_or_delete(self, job_id: str) -> ExportJob | None:
        """Cancel an unfinished job (the cancelled job), or delete a finished one and its file (``None``);
        :class:`JobMissing` if unknown."""
        try:
            job = await self.change(job_id, lambda j: jobs.cancel(j, self.clock(), self.settings.job_ttl))
        except InvalidTransition:
            await self.store.delete(NAMESPACE, job_id)
            await self.files.delete(job_id)
            return None
        worker = self.workers.get(job_id)
        if worker is not None:  # ours: stop now (another replica's worker notices at its next heartbeat)
            worker.halt()
        return job

    async def _run(self, job_id: str, worker: _Worker) -> None:
        writer = self.files.writer(job_id)
        production = worker.production
        try:
            try:
                await self.change(job_id, lambda j: jobs.start(j, self.clock()))
            except (InvalidTransition, JobMissing):
                return  # cancelled (or deleted) before it started
            worker.beats = asyncio.create_task(self._heartbeat(job_id, worker))
            try:
                async with asyncio.timeout(self.settings.max_duration):
                    while not worker.halted:
                        chunk = await asyncio.to_thread(next, production.chunks, None)
                        if chunk is None:
                            break
                        await writer.write(chunk)
            except TimeoutError:
                worker.halt()
                raise RuntimeError(f"the export took longer than {self.settings.max_duration:g} seconds "
                                   "(export.max_duration)") from None
            finally:
                worker.beats.cancel()
            if worker.halted:
                await writer.abort()
                current().export_job("cancelled")
                return
            size, sha256 = await writer.commit()
            info = FileInfo(size, sha256, production.content_type, production.filename)
            try:
                await self.change(job_id, lambda j: jobs.finish(j, info, production.entities, self.clock(),
                                                                self.settings.job_ttl))
                current().export_job("done")
            except (InvalidTransition, JobMissing):  # cancelled (or failed as lost) meanwhile: the file goes
                await self.files.delete(job_id)
        except asyncio.CancelledError:
            worker.halt()
            await writer.abort()
            raise
        except Exception as exc:
            halted = worker.halted  # then the producer only gave up because it was told to
            worker.halt()
            await writer.abort()
            if halted:
                current().export_job("cancelled")
                return
            current().export_job("failed")
            log.info("export job %s… failed: %s", job_id[:8], exc, exc_info=not isinstance(exc, ExportFailed))
            error = f"the export failed: {failure_text(exc)}"
            with contextlib.suppress(InvalidTransition, JobMissing, StoreError):
                await self.change(job_id, lambda j: jobs.fail(j, error, self.clock(), self.settings.job_ttl))
        finally:
            self.workers.pop(job_id, None)

    async def _heartbeat(self, job_id: str, worker: _Worker) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat)
            try:
                await self.change(job_id, lambda j: jobs.beat(j, worker.production.entities, self.clock()))
            except (InvalidTransition, JobMissing):
                worker.halt()  # cancelled, failed or deleted elsewhere: stop at the next page
                return
            except Exception:
                log.warning("export job %s…: heartbeat not written", job_id[:8], exc_info=True)

    # --- the sweeper and the replica's lifetime --------------------------------------------------------------------

    async def sweep(self) -> int:
        """Settle lost jobs, delete expired ones and their files, and storage leftovers; how many jobs went."""
        now = self.clock()
        removed, after = 0, ""
        while page := await self.store.scan(NAMESPACE, after=after, limit=100):
            after = page[-1].key
            for stored in page:
                try:
                    job = ExportJob.from_doc(stored.doc)
                except (TypeError, ValueError):
                    log.warning("export job record %s… is not readable: deleting it", stored.key[:8])
                    job = None
                if job is not None and jobs.lost(job, now, self.settings.lost_after):
                    with contextlib.suppress(InvalidTransition, JobMissing):
                        await self.change(stored.key, self._settle)
                elif job is None or jobs.is_expired(job, now):
                    try:
                        await self.store.delete(NAMESPACE, stored.key, expect_rev=stored.rev)
                    except Conflict:
                        continue
                    await self.files.delete(stored.key)
                    removed += 1
        await self.files.sweep(now)
        return removed

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            try:
                await self.sweep()
            except Exception:
                log.warning("export job sweep failed", exc_info=True)

    def start(self) -> None:
        self.sweeper = asyncio.create_task(self._sweep_forever(), name="export-job-sweeper")

    async def stop(self) -> None:
        """Stop the sweeper and this replica's workers; their jobs are marked ``failed``."""
        if self.sweeper is not None:
            self.sweeper.cancel()
        workers = list(self.workers.items())
        for _, worker in workers:
            worker.halt()
            if worker.task is not None:
                worker.task.cancel()
        tasks = [t for t in (self.sweeper, *(w.task for _, w in workers)) if t is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        for job_id, _ in workers:
            with contextlib.suppress(InvalidTransition, JobMissing, StoreError):
                await self.change(job_id, lambda j: jobs.fail(j, jobs.LOST, self.clock(), self.settings.job_ttl))
