"""Starting and cancelling background jobs: the web side of the job lifecycle.

Claiming, progress, heartbeats, finishing, failing and recovering a job whose worker
died are the workers' side, written once in ``workers/runtime/lifecycle.py``.
"""

from __future__ import annotations

import logging
import uuid
from functools import partial
from typing import Any

from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from annotator import task_routes
from annotator.celery import app
from annotator.models import Asset, AssetStatus, Job, JobStatus, Project
from annotator.services.dispatch import send_task_on_commit

logger = logging.getLogger(__name__)


def start_job(
    *,
    project: Project,
    kind: str,
    user: User | None = None,
    asset: Asset | None = None,
    params: dict[str, Any] | None = None,
) -> Job:
    """Create a queued Job of ``kind`` and send its task (``task_routes.JOB_TASKS``) with
    ``(job_id,)`` once the transaction commits. The message's id is the job's
    ``celery_id``: the delivery that may claim it."""
    task = task_routes.JOB_TASKS[kind]
    celery_id = str(uuid.uuid4())
    job = Job.objects.create(
        project=project,
        asset=asset,
        kind=kind,
        params=params or {},
        created_by=user,
        celery_id=celery_id,
    )
    send_task_on_commit(task, [job.pk], task_id=celery_id)
    return job


#: Job params naming uploaded files the job consumes (an import's archive and images).
#: A job cancelled before any worker ran it removes them; a running one does it itself.
UPLOAD_PARAMS = ("archive", "images")


def uploads_of(job: Job) -> list[str]:
    params = job.params or {}
    return [p for p in (params.get(k) for k in UPLOAD_PARAMS) if isinstance(p, str) and p]


def _remove_uploads(paths: list[str]) -> None:
    for path in paths:
        try:
            default_storage.delete(path)
        except Exception:  # the cancel has committed: log and leave the file
            logger.warning("could not remove the upload %s", path, exc_info=True)


def cancel_job(job: Job) -> Job:
    """Cancel a queued or running job. The queued message is revoked; a running task sees
    the status at its next progress report and stops. Finished jobs stay as they are."""
    with transaction.atomic():
        now = timezone.now()
        was_queued = Job.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.CANCELLED, finished=now
        )
        changed = was_queued or Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(
            status=JobStatus.CANCELLED, finished=now
        )
        if was_queued and uploads_of(job):
            transaction.on_commit(partial(_remove_uploads, uploads_of(job)))
        if was_queued and job.kind == "ingest" and job.asset_id:
            # No worker will run it: the video it was to decode ends here, not processing.
            Asset.objects.filter(pk=job.asset_id, status=AssetStatus.PROCESSING).update(
                status=AssetStatus.FAILED,
                error="the ingest job was cancelled before it ran",
                error_code="cancelled",
                num_frames=0,
            )
    if changed and job.celery_id:
        try:
            app.control.revoke(job.celery_id)
        except Exception:  # the status change already stops the task; revoke only saves work
            logger.warning("could not revoke celery task %s", job.celery_id, exc_info=True)
    job.refresh_from_db()
    return job
