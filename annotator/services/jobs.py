"""Creating, claiming, reporting on and cancelling background jobs."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotator.celery import app
from annotator.models import Asset, Job, JobStatus, Project
from annotator.services.dispatch import send_task_on_commit

logger = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a worker when the job it runs was cancelled."""


def start_job(
    *,
    project: Project,
    kind: str,
    task: str,
    queue: str = "jobs",
    user: User | None = None,
    asset: Asset | None = None,
    params: dict[str, Any] | None = None,
) -> Job:
    """Create a queued Job and send ``task(job_id)`` once the transaction commits."""
    celery_id = str(uuid.uuid4())
    job = Job.objects.create(
        project=project,
        asset=asset,
        kind=kind,
        params=params or {},
        created_by=user,
        celery_id=celery_id,
    )
    send_task_on_commit(task, [job.pk], queue, task_id=celery_id)
    return job


def claim_job(job_id: int) -> Job | None:
    """Move a job from queued to running, or pick up a running one that a lost worker
    left behind (``acks_late`` redelivers it). Returns None when the job is finished,
    cancelled or gone, so running a task twice does no harm."""
    claimed = Job.objects.filter(
        Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING), pk=job_id
    ).update(status=JobStatus.RUNNING, started=timezone.now())
    if not claimed:
        return None
    return Job.objects.get(pk=job_id)


def report_progress(job_id: int, progress: float, message: str = "") -> None:
    """Store progress in [0, 1]; raises :class:`JobCancelled` when the job was cancelled
    meanwhile (the conditional UPDATE touches no row then)."""
    updated = Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        progress=max(0.0, min(1.0, float(progress))), message=message[:255]
    )
    if not updated:
        raise JobCancelled(f"job {job_id} is no longer running")


def finish_job(job_id: int, result: dict[str, Any] | None = None) -> bool:
    return bool(
        Job.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
            status=JobStatus.DONE, progress=1.0, result=result, finished=timezone.now()
        )
    )


def fail_job(job_id: int, error: str) -> bool:
    return bool(
        Job.objects.filter(pk=job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).update(
            status=JobStatus.FAILED, error=error[:10_000], finished=timezone.now()
        )
    )


def cancel_job(job: Job) -> Job:
    """Cancel a queued or running job. The queued message is revoked; a running task sees
    the status at its next progress report and stops. Finished jobs stay as they are."""
    with transaction.atomic():
        changed = Job.objects.filter(
            pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        ).update(status=JobStatus.CANCELLED, finished=timezone.now())
    if changed and job.celery_id:
        try:
            app.control.revoke(job.celery_id)
        except Exception:  # the status change already stops the task; revoke only saves work
            logger.warning("could not revoke celery task %s", job.celery_id, exc_info=True)
    job.refresh_from_db()
    return job
