"""The export job state machine (pure): transitions, expiry, the lost-worker rule, the stored record and the
document clients see."""

from __future__ import annotations

import secrets

import pytest

from gateway.export import job as jobs
from gateway.export.job import ExportJob, FileInfo, InvalidTransition

T0 = 1_700_000_000.0
TTL = 600.0
FILE = FileInfo(1234, "ab" * 32, "avro/binary", "cohort.pfb")
SOURCES = [{"commons": "aaa1", "status": "ok", "count": 3, "error": None, "exported": True}]
DICTIONARY = {"source": "member", "members": ["aaa1"], "reason": "every contributing member that offers a dictionary "
              "offers this one", "offers": {"aaa1": "offered"}}


def queued() -> ExportJob:
    return jobs.new_job(secrets.token_urlsafe(32), format="pfb", index="subject", filter={"=": {"sex": "female"}},
                        expected=10, sources=SOURCES, replica="replica-of-test", now=T0, dictionary=DICTIONARY)


def running() -> ExportJob:
    return jobs.start(queued(), T0 + 1)


def test_a_job_runs_to_done_with_progress_and_expires_ttl_after_it_finished():
    job = running()
    assert (job.status, job.started_at, job.heartbeat_at) == ("running", T0 + 1, T0 + 1)
    job = jobs.beat(job, 7, T0 + 5)
    assert (job.entities, job.heartbeat_at, job.status) == (7, T0 + 5, "running")
    done = jobs.finish(job, FILE, 12, T0 + 9, TTL)
    assert (done.status, done.entities, done.file, done.finished_at, done.expires_at) == (
        "done", 12, FILE, T0 + 9, T0 + 9 + TTL)
    assert not jobs.is_expired(done, T0 + 9 + TTL - 0.001)
    assert jobs.is_expired(done, T0 + 9 + TTL)


@pytest.mark.parametrize("step", [
    lambda j: jobs.cancel(j, T0 + 2, TTL),
    lambda j: jobs.fail(j, "boom", T0 + 2, TTL),
])
def test_queued_and_running_jobs_can_be_cancelled_or_fail_and_then_expire(step):
    for job in (queued(), running()):
        ended = step(job)
        assert ended.status in ("cancelled", "failed")
        assert (ended.finished_at, ended.expires_at) == (T0 + 2, T0 + 2 + TTL)
        assert ended.file is None


@pytest.mark.parametrize("status", ["done", "failed", "cancelled"])
def test_a_finished_job_takes_no_other_transition(status):
    job = {"done": jobs.finish(running(), FILE, 1, T0 + 3, TTL), "failed": jobs.fail(running(), "x", T0 + 3, TTL),
           "cancelled": jobs.cancel(running(), T0 + 3, TTL)}[status]
    for step in (lambda j: jobs.start(j, T0 + 4), lambda j: jobs.beat(j, 1, T0 + 4),
                 lambda j: jobs.finish(j, FILE, 1, T0 + 4, TTL), lambda j: jobs.fail(j, "y", T0 + 4, TTL),
                 lambda j: jobs.cancel(j, T0 + 4, TTL)):
        with pytest.raises(InvalidTransition, match=f"is {status}"):
            step(job)


def test_a_cancel_and_a_finish_cannot_both_win():
    job = running()
    with pytest.raises(InvalidTransition):
        jobs.finish(jobs.cancel(job, T0 + 2, TTL), FILE, 1, T0 + 3, TTL)
    with pytest.raises(InvalidTransition):
        jobs.cancel(jobs.finish(job, FILE, 1, T0 + 2, TTL), T0 + 3, TTL)


def test_a_queued_job_cannot_beat_or_finish_and_a_running_one_cannot_start_again():
    with pytest.raises(InvalidTransition):
        jobs.beat(queued(), 1, T0 + 1)
    with pytest.raises(InvalidTransition):
        jobs.finish(queued(), FILE, 1, T0 + 1, TTL)
    with pytest.raises(InvalidTransition):
        jobs.start(running(), T0 + 2)


def test_an_unfinished_job_whose_heartbeat_is_too_old_is_lost_and_settles_as_failed():
    job = jobs.beat(running(), 3, T0 + 10)
    assert not jobs.lost(job, T0 + 40, 30.0)
    assert jobs.settle(job, T0 + 40, 30.0, TTL) == job
    assert jobs.lost(job, T0 + 40.5, 30.0)
    failed = jobs.settle(job, T0 + 40.5, 30.0, TTL)
    assert (failed.status, failed.error, failed.expires_at) == ("failed", jobs.LOST, T0 + 40.5 + TTL)
    assert jobs.lost(queued(), T0 + 31, 30.0)  # a replica that stopped before the job started
    done = jobs.finish(job, FILE, 3, T0 + 11, TTL)
    assert not jobs.lost(done, T0 + 1000, 30.0) and jobs.settle(done, T0 + 1000, 30.0, TTL) == done


def test_the_record_round_trips_through_plain_json():
    import json

    for job in (queued(), jobs.finish(running(), FILE, 5, T0 + 3, TTL)):
        doc = json.loads(json.dumps(job.to_doc()))
        assert ExportJob.from_doc(doc) == job
        assert ExportJob.from_doc({**doc, "added_later": 1}) == job  # a newer replica's record
        older = {k: v for k, v in doc.items() if k != "dictionary"}  # an older replica's record
        assert ExportJob.from_doc(older) == ExportJob.from_doc({**doc, "dictionary": None})


def test_the_public_document_has_iso_times_progress_urls_and_no_replica():
    job = jobs.finish(jobs.beat(running(), 4, T0 + 2), FILE, 12, T0 + 3.25, TTL)
    doc = jobs.public_doc(job)
    assert set(doc) == {"id", "status", "format", "index", "filter", "created_at", "started_at", "finished_at",
                        "expires_at", "heartbeat_at", "progress", "sources", "dictionary", "error", "file",
                        "status_url"}
    assert doc["created_at"] == "2023-11-14T22:13:20.000Z"
    assert doc["finished_at"] == "2023-11-14T22:13:23.250Z"
    assert doc["expires_at"] == "2023-11-14T22:23:23.250Z"
    assert doc["progress"] == {"entities": 12, "expected": 10}
    assert doc["status_url"] == f"/search/v1/export/jobs/{job.id}"
    assert doc["file"] == {"url": f"/search/v1/export/jobs/{job.id}/file", "size": 1234, "sha256": "ab" * 32,
                           "content_type": "avro/binary", "filename": "cohort.pfb"}
    assert doc["sources"] == SOURCES and "replica-of-test" not in str(doc)  # (a random id may hold "r1")
    assert doc["dictionary"] == DICTIONARY
    assert jobs.public_doc(queued())["file"] is None and jobs.public_doc(queued())["started_at"] is None


def test_job_ids_are_long_random_capabilities():
    job_id = queued().id
    assert jobs.JOB_ID.fullmatch(job_id) and len(job_id) >= 43
    for bad in ("", "short", "../" + job_id, job_id + "/x", "a" * 65):
        assert not jobs.JOB_ID.fullmatch(bad)


@pytest.mark.parametrize(("delivery", "entities", "limit", "job"), [
    ("auto", 10, 10, False), ("auto", 11, 10, True), ("auto", 0, 0, False), ("stream", 10**6, 10, False),
    ("job", 0, 10, True),
])
def test_delivery(delivery, entities, limit, job):
    assert jobs.delivers_as_job(delivery, entities, limit) is job
