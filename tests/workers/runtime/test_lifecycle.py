"""The job runner in-process: claiming, progress, cancellation, failure."""

from __future__ import annotations

from typing import Any

import pytest

from annotator.models import Job, JobStatus
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


def test_it_does_nothing_for_finished_jobs(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(status=JobStatus.DONE)
    with run_job(job.pk) as run:
        assert run is None
