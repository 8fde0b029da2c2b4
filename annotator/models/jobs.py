"""Background jobs with progress."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .assets import Asset
from .projects import Project


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    """Long work done by a worker, through one lifecycle (``workers/runtime/lifecycle``).

    A delivery of the job's task claims the row (queued -> running, only the delivery
    named by ``celery_id``) with a conditional UPDATE, stamps ``heartbeat`` while it
    runs, reports ``progress`` in [0, 1] and stores ``result`` or ``error``. Cancelling
    sets ``cancelled``; the worker notices at its next progress report and stops. A
    running job whose heartbeat stops (its worker died) is run again with a new
    ``celery_id`` or, after ``JOB_MAX_ATTEMPTS`` claims (``attempts``), failed."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs")
    asset = models.ForeignKey(
        Asset, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs"
    )
    kind = models.CharField(max_length=32)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=255, blank=True, default="")
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    celery_id = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=255, blank=True, default="")  # "host:pid" of the run
    heartbeat = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["project", "status"]),
            models.Index(fields=["status", "heartbeat"]),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES
