"""Running a task as a Job: claim the row, report progress, record the outcome."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from annotator.models import Job
from annotator.services.jobs import (
    JobCancelled,
    claim_job,
    fail_job,
    finish_job,
    report_progress,
)

logger = logging.getLogger(__name__)


class JobRun:
    """The running job as a task sees it: ``progress(fraction, message)`` stores progress
    and raises ``JobCancelled`` when the user cancelled; ``result`` is stored at the end."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.result: dict[str, object] | None = None

    def progress(self, fraction: float, message: str = "") -> None:
        report_progress(self.job.pk, fraction, message)


class JobFailed(Exception):
    """Raise with a user-facing message to fail the job without a traceback."""


@contextmanager
def run_job(job_id: int) -> Iterator[JobRun | None]:
    """Yield a :class:`JobRun`, or None when there is nothing to do (the job is finished,
    cancelled or gone, e.g. a task delivered twice)."""
    job = claim_job(job_id)
    if job is None:
        yield None
        return
    run = JobRun(job)
    try:
        yield run
    except JobCancelled:
        logger.info("job %s was cancelled", job_id)
        return
    except JobFailed as exc:
        fail_job(job_id, str(exc))
        return
    except Exception as exc:
        logger.exception("job %s failed", job_id)
        fail_job(job_id, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
        return
    finish_job(job_id, run.result)
