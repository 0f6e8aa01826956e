"""Export job routes: the status document, the file, and cancel/delete (any replica serves any job).

* ``GET /search/v1/export/jobs/{id}`` → the job document (:func:`~gateway.export.job.public_doc`);
  404 for an unknown id, 410 once the job expired (until the sweeper deletes it; then 404).
* ``GET /search/v1/export/jobs/{id}/file`` → the file, streamed with ``Content-Length``, its ``Content-Type`` and
  ``Content-Disposition: attachment``; 409 while the job is not ``done`` (or ended without a file), 410 once
  expired or when the stored file is gone. Range requests are not supported.
* ``DELETE /search/v1/export/jobs/{id}`` → 200 and the ``cancelled`` document for a ``queued`` or ``running``
  job (its worker stops at its next page, on whichever replica runs it); 204 for a finished job, which is
  deleted with its file; 404 if unknown.

A job id is a capability: 32 random bytes (``secrets.token_urlsafe``), like a signed URL. Whoever holds it may
read the job and its file, so it is only ever given to the caller who started the job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.core.errors import ApiError
from gateway.export.job import JOB_ID, JOBS_PATH, ExportJob, is_expired, iso, public_doc
from gateway.export.runner import JobMissing
from gateway.export.storage import FileGone
from gateway.web.keys import JOBS
from gateway.web.openapi import operation
from gateway.web.render import json_response

OPERATION_ID_PREFIX = "gateway.aggregate.export_jobs_api"
"""Where these operations were first published: operationIds are API (:func:`gateway.web.openapi.operation_id`)."""

routes = web.RouteTableDef()
TAGS = ("search",)
JOB = JOBS_PATH + "/{job_id}"


def _gone(job: ExportJob) -> ApiError:
    return ApiError(410, f"export job {job.id[:8]}… expired at {iso(job.expires_at)}")


async def _job(request: web.Request) -> ExportJob:
    """The job the path names, as it must be reported: 404 unknown, 410 expired."""
    job_id = request.match_info["job_id"]
    service = request.app[JOBS]
    if not JOB_ID.fullmatch(job_id):
        raise ApiError(404, "no such export job")
    try:
        job = await service.read(job_id)
    except JobMissing:
        raise ApiError(404, "no such export job (unknown, deleted, or expired and swept)") from None
    if is_expired(job, service.clock()):
        raise _gone(job)
    return job


@routes.get(JOB)
@operation("An export job's status: progress, per-member sources, and the file's URL once done", tags=TAGS,
           responses={404: "no such job", 410: "the job expired"})
async def get_job(request: web.Request) -> web.Response:
    return json_response(public_doc(await _job(request)))


@routes.get(JOB + "/file")
@operation("The file an export job made (streamed, with Content-Length)", tags=TAGS, content="*/*",
           responses={200: "the file", 404: "no such job", 409: "the job is not done",
                      410: "the job expired or its file is gone"})
async def get_file(request: web.Request) -> web.StreamResponse:
    job = await _job(request)
    if job.status != "done" or job.file is None:
        detail = f" ({job.error})" if job.error else ""
        raise ApiError(409, f"export job is {job.status}{detail}: its file can be read once the job is done")
    chunks: AsyncIterator[bytes] = request.app[JOBS].files.read(job.id)
    try:
        first = await anext(chunks, b"")
    except FileGone:
        raise ApiError(410, "the export job's file is gone (expired or evicted): run the export again") from None
    response = web.StreamResponse(headers={
        "Content-Type": job.file.content_type,
        "Content-Disposition": f"attachment; filename={job.file.filename}",
    })
    response.content_length = job.file.size
    await response.prepare(request)
    try:
        await response.write(first)
        async for chunk in chunks:
            await response.write(chunk)
    except FileGone:  # a blob evicted mid-way: a truncated transfer, never a short file that looks complete
        if request.transport is not None:
            request.transport.abort()
        return response
    await response.write_eof()
    return response


@routes.delete(JOB)
@operation("Cancel a running export job (200, the cancelled job) or delete a finished one and its file (204)",
           tags=TAGS, responses={200: "cancelled", 204: "deleted", 404: "no such job"})
async def delete_job(request: web.Request) -> web.StreamResponse:
    job_id = request.match_info["job_id"]
    if not JOB_ID.fullmatch(job_id):
        raise ApiError(404, "no such export job")
    try:
        cancelled = await request.app[JOBS].cancel_or_delete(job_id)
    except JobMissing:
        raise ApiError(404, "no such export job") from None
    if cancelled is None:
        return web.Response(status=204)
    return json_response(public_doc(cancelled))
