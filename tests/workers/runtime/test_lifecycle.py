"""The job lifecycle in-process: claiming, progress, cancellation, failure, heartbeats,
recovery of jobs whose worker was lost, and companions."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from annotator.models import Job, JobStatus
from workers.runtime import lifecycle
from workers.runtime.lifecycle import JobFailed, run_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(team: dict[str, Any]) -> Job:
    return Job.objects.create(project=team["project"], kind="test")


def test_it_runs_a_queued_job_to_done_with_its_result(job: Job) -> None:
    with run_job(job.pk) as run:
        assert run is not None
        run.progress(0.5, "half")
        assert Job.objects.get(pk=job.pk).progress == 0.5
        run.result = {"answer": 42}
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.result == {"answer": 42} and job.progress == 1


def test_it_stops_at_the_next_progress_report_after_a_cancel(job: Job) -> None:
    with run_job(job.pk) as run:
        assert run is not None
        Job.objects.filter(pk=job.pk).update(status=JobStatus.CANCELLED)
        run.progress(0.3)
        pytest.fail("progress() should have raised")
    assert Job.objects.get(pk=job.pk).status == JobStatus.CANCELLED


def test_it_records_failures_with_their_message(job: Job) -> None:
    with run_job(job.pk) as run:
        assert run is not None
        raise JobFailed("the archive is corrupt")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error == "the archive is corrupt"


def test_an_unexpected_fault_is_recorded_without_its_text_or_traceback(job: Job) -> None:
    with run_job(job.pk) as run:
        assert run is not None
        raise OSError(2, "No such file", "/srv/annotator/var/media/secret-path.png")
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("internal_error: ") and "FileNotFoundError" in job.error
    assert "secret-path" not in job.error and "Traceback" not in job.error


def test_it_does_nothing_for_finished_jobs(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(status=JobStatus.DONE)
    with run_job(job.pk) as run:
        assert run is None


# --- deliveries, heartbeats and recovery ----------------------------------------------


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[Any], str]]:
    """Task messages the lifecycle sends (name, args, task id), recorded, not queued."""
    calls: list[tuple[str, list[Any], str]] = []

    def record(name: str, args: list[Any], **options: Any) -> str:
        calls.append((name, args, options["task_id"]))
        return str(options["task_id"])

    monkeypatch.setattr(lifecycle, "send_task", record)
    return calls


def started(team: dict[str, Any], kind: str = "export") -> Job:
    return Job.objects.create(project=team["project"], kind=kind, celery_id=str(uuid.uuid4()))


def age(job: Job, seconds: float) -> None:
    """Make the job's heartbeat look ``seconds`` old."""
    Job.objects.filter(pk=job.pk).update(heartbeat=timezone.now() - timedelta(seconds=seconds))


def test_only_the_delivery_named_by_the_job_claims_it(team: dict[str, Any]) -> None:
    job = started(team)
    assert lifecycle.claim(job.pk, "another-message") is None
    lease = lifecycle.claim(job.pk, job.celery_id)
    assert lease == lifecycle.Lease(job.pk, job.celery_id)
    assert lifecycle.claim(job.pk, job.celery_id) is None  # delivered twice
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.attempts == 1
    assert job.heartbeat is not None and job.worker.endswith(f":{os.getpid()}")


def test_progress_stamps_the_heartbeat(team: dict[str, Any]) -> None:
    job = started(team)
    lease = lifecycle.claim(job.pk, job.celery_id)
    assert lease is not None
    age(job, 300)
    lifecycle.report_progress(lease, 0.25, "a quarter")
    job.refresh_from_db()
    assert (timezone.now() - job.heartbeat).total_seconds() < 5 and job.progress == 0.25
    age(job, 300)
    assert lifecycle.beat([lease]) == 1
    job.refresh_from_db()
    assert (timezone.now() - job.heartbeat).total_seconds() < 5


def test_a_job_whose_worker_stopped_beating_runs_again_as_a_new_delivery(
    team: dict[str, Any], sent: list[tuple[str, list[Any], str]], settings: Any
) -> None:
    settings.JOB_STALE_AFTER_S = 60
    settings.JOB_MAX_ATTEMPTS = 2
    job = started(team)
    lease = lifecycle.claim(job.pk, job.celery_id)
    assert lease is not None
    age(job, 30)
    assert lifecycle.recover_stale_jobs() == {}  # still within the limit
    age(job, 61)
    assert lifecycle.recover_stale_jobs() == {job.pk: "requeued"}
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.celery_id != lease.token
    assert "no heartbeat for 60 s" in job.message and "attempt 2 of 2" in job.message
    assert sent == [("workers.export_project", [job.pk], job.celery_id)]
    # The old run, if it was alive after all, can no longer write the job ...
    with pytest.raises(lifecycle.JobCancelled):
        lifecycle.report_progress(lease, 0.9)
    assert not lifecycle.finish(lease, {"late": True})
    assert lifecycle.claim(job.pk, lease.token) is None
    # ... and the new delivery runs it.
    second = lifecycle.claim(job.pk, job.celery_id)
    assert second is not None and lifecycle.finish(second, {"ok": True})
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.attempts == 2 and job.result == {"ok": True}


def test_a_job_that_loses_its_worker_on_every_attempt_fails_with_the_reason(
    team: dict[str, Any], sent: list[tuple[str, list[Any], str]], settings: Any
) -> None:
    settings.JOB_MAX_ATTEMPTS = 2
    job = started(team)
    for _ in range(2):
        job.refresh_from_db()
        lease = lifecycle.claim(job.pk, job.celery_id)
        assert lease is not None
        age(job, settings.JOB_STALE_AFTER_S + 1)
        lifecycle.recover_stale_jobs()
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.finished is not None
    assert "sent no heartbeat" in job.error and "attempt 2 of 2" in job.error
    assert len(sent) == 1


def test_a_heartbeat_that_comes_back_keeps_the_job(team: dict[str, Any], sent: list[Any]) -> None:
    job = started(team)
    lease = lifecycle.claim(job.pk, job.celery_id)
    assert lease is not None
    cutoff = timezone.now() - timedelta(seconds=60)
    lifecycle.beat([lease])  # between the sweep's query and its update
    assert lifecycle.recover(lease, "no heartbeat", stale_before=cutoff) == ""
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING and sent == []


@pytest.mark.django_db(transaction=True)  # the handler refreshes the connection first
def test_a_lost_pool_process_recovers_its_job_at_once(
    team: dict[str, Any], sent: list[tuple[str, list[Any], str]]
) -> None:
    from billiard.exceptions import WorkerLostError

    from workers.runtime.exports import export_project

    job = started(team)
    lease = lifecycle.claim(job.pk, job.celery_id)
    assert lease is not None
    lifecycle.recover_after_lost_pool_process(
        sender=export_project,
        task_id=lease.token,
        exception=WorkerLostError("Worker exited prematurely: signal 9 (SIGKILL)."),
        args=[job.pk],
    )
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and "signal 9" in job.message
    assert sent == [("workers.export_project", [job.pk], job.celery_id)]


def test_companions_not_finished_go_back_to_the_queue(
    team: dict[str, Any], sent: list[tuple[str, list[Any], str]]
) -> None:
    jobs = [started(team, "embed") for _ in range(4)]
    other_kind = started(team, "export")
    with lifecycle.run_job(jobs[0].pk, jobs[0].celery_id) as run:
        assert run is not None
        companions = run.claim_companions(2)
        assert [c.pk for c in companions] == [jobs[1].pk, jobs[2].pk]
        run.finish_companion(jobs[1].pk, {"batched_with": jobs[0].pk})
        raise RuntimeError("the encoder ran out of memory")
    states = {j.pk: Job.objects.get(pk=j.pk) for j in [*jobs, other_kind]}
    assert states[jobs[0].pk].status == JobStatus.FAILED
    assert states[jobs[1].pk].status == JobStatus.DONE
    handed_back = states[jobs[2].pk]
    assert handed_back.status == JobStatus.QUEUED and handed_back.attempts == 0
    assert handed_back.celery_id != jobs[2].celery_id
    assert sent == [("workers.embed_asset", [jobs[2].pk], handed_back.celery_id)]
    assert states[jobs[3].pk].status == JobStatus.QUEUED  # over the limit: untouched
    assert states[other_kind.pk].status == JobStatus.QUEUED


@pytest.mark.django_db(transaction=True)  # the thread has its own database connection
def test_the_heartbeat_thread_beats_while_the_body_runs(
    team: dict[str, Any], settings: Any
) -> None:
    settings.JOB_HEARTBEAT_S = 0.05
    job = started(team)
    with lifecycle.run_job(job.pk, job.celery_id) as run:
        assert run is not None
        age(job, 300)
        deadline = time.monotonic() + 10
        while (timezone.now() - Job.objects.get(pk=job.pk).heartbeat).total_seconds() > 60:
            assert time.monotonic() < deadline, "no heartbeat while the job ran"
            time.sleep(0.02)


def test_a_job_task_refuses_a_name_that_is_not_a_job_kind() -> None:
    with pytest.raises(ValueError, match="not a job task"):
        lifecycle.job_task("workers.predict")


def test_results_and_done_commit_together_or_not_at_all(team: dict[str, Any]) -> None:
    from django.db import transaction

    from annotator.models import LabelClass

    job = started(team)
    with run_job(job.pk, job.celery_id) as run:
        assert run is not None
        with transaction.atomic():
            LabelClass.objects.create(project=team["project"], name="stored", color="#123456")
            run.finish_in_transaction({"labels": 1})
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.result == {"labels": 1}
    assert LabelClass.objects.filter(name="stored").exists()

    taken = started(team)
    with run_job(taken.pk, taken.celery_id) as run:
        assert run is not None
        # Taken for lost while the run's transaction was open: handed to a new delivery.
        Job.objects.filter(pk=taken.pk).update(status=JobStatus.QUEUED, celery_id="next")
        with transaction.atomic():
            LabelClass.objects.create(project=team["project"], name="lost", color="#654321")
            run.finish_in_transaction({"labels": 1})
    assert run.outcome == lifecycle.CANCELLED
    assert not LabelClass.objects.filter(name="lost").exists()
    taken.refresh_from_db()
    assert taken.status == JobStatus.QUEUED and taken.celery_id == "next"
