"""The learning loop: the project model's versions and the active-learning queue."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .assets import Asset
from .jobs import Job
from .projects import Project


class ModelStatus(models.TextChoices):
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class ProjectModel(models.Model):
    """One trained version of a project's model (``workers/learning``): the pixel
    classifier's file, what it learnt from and how well it did on held-back frames."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="models")
    version = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=ModelStatus.choices, default=ModelStatus.READY)
    kind = models.CharField(max_length=32, default="pixel")  # "pixel" | "sam-head"
    # Labelled frames and label annotations it was trained on.
    trained_on = models.PositiveIntegerField(default=0)
    num_labels = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    path = models.CharField(max_length=500, blank=True, default="")  # media-relative
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="unique_model_version")
        ]

    def __str__(self) -> str:
        return f"model v{self.version} of {self.project_id}"


class QueueReason(models.TextChoices):
    MODEL = "model", "Ranked by the model"
    REWORK = "rework", "Rejected in review"


class QueueItem(models.Model):
    """One frame to label, with its score under every strategy (one column each, so
    ``queue/next`` is an indexed ``ORDER BY``), leased to one member at a time.

    A lease is taken with a conditional UPDATE (free or expired -> mine), so two
    members asking at the same moment never get the same item."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="queue_items")
    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="queue_items")
    frame = models.PositiveIntegerField(default=0)
    # Scores per strategy, larger first; ``score`` is the combined strategy's.
    score = models.FloatField(default=0.0)
    random = models.FloatField(default=0.0)
    entropy = models.FloatField(default=0.0)
    margin = models.FloatField(default=0.0)
    sensitivity = models.FloatField(default=0.0)
    diversity = models.FloatField(default=0.0)
    model_version = models.PositiveIntegerField(default=0)  # 0: ranked without a model
    reason = models.CharField(max_length=16, choices=QueueReason.choices, default=QueueReason.MODEL)
    # A rejected annotation's frame goes back to its annotator first.
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    done = models.BooleanField(default=False)
    strategy = models.CharField(max_length=32, blank=True, default="")  # last served under
    leased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lease_expires = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed = models.DateTimeField(null=True, blank=True)
    skips = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "asset", "frame"], name="unique_queue_frame")
        ]
        indexes = [models.Index(fields=["project", "done"])]

    def __str__(self) -> str:
        return f"queue {self.score:.3f}: {self.asset_id}/{self.frame}"


class QueueSkip(models.Model):
    """A member skipped an item: it is not offered to them again (others still get it)."""

    item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="skipped")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="unique_queue_skip")]

    def __str__(self) -> str:
        return f"{self.user_id} skipped {self.item_id}"
