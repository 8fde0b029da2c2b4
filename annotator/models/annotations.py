"""Annotations, their history, the prompts behind them, and review."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from .assets import Asset
from .projects import LabelClass


class AnnotationSource(models.TextChoices):
    MANUAL = "manual", "Manual"
    INTERACTIVE = "interactive", "Interactive"
    PROPAGATED = "propagated", "Propagated"
    GENERATED = "generated", "Generated"
    IMPORTED = "imported", "Imported"


class ReviewStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    NEEDS_REVIEW = "needs_review", "Needs review"


class Annotation(models.Model):
    """One object on one frame. 2D geometry is a COCO RLE (``{"size": [h, w], "counts":
    str}`` exactly as ``pycocotools.mask.encode`` writes it); 3D geometry is a list of
    point indices. ``version`` rises by one on every change (optimistic concurrency)."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="annotations")
    frame = models.PositiveIntegerField(default=0)
    # Object identity: the same object on every frame of a video, window or view.
    track = models.PositiveIntegerField(default=1)
    # RESTRICT, not PROTECT: a label in use cannot be deleted on its own, but deleting
    # the whole project still cascades through it.
    label = models.ForeignKey(LabelClass, on_delete=models.RESTRICT, related_name="annotations")
    mask = models.JSONField(null=True, blank=True)
    point_indices = models.JSONField(null=True, blank=True)
    area = models.PositiveBigIntegerField(default=0)
    bbox = models.JSONField(null=True, blank=True, help_text="[x, y, w, h] in pixels")
    source = models.CharField(
        max_length=16, choices=AnnotationSource.choices, default=AnnotationSource.MANUAL
    )
    score = models.FloatField(null=True, blank=True)
    review_status = models.CharField(
        max_length=16, choices=ReviewStatus.choices, default=ReviewStatus.PENDING
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_comment = models.TextField(blank=True, default="")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField(default=1)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["asset", "frame"]),
            models.Index(fields=["asset", "track", "frame"]),
        ]

    def __str__(self) -> str:
        return f"annotation {self.pk} ({self.label_id}) on {self.asset_id}/{self.frame}"


class AnnotationRevision(models.Model):
    """The state of an annotation before each change, so no edit loses earlier work."""

    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    label = models.ForeignKey(LabelClass, on_delete=models.RESTRICT, related_name="+")
    mask = models.JSONField(null=True, blank=True)
    point_indices = models.JSONField(null=True, blank=True)
    source = models.CharField(max_length=16, choices=AnnotationSource.choices)
    score = models.FloatField(null=True, blank=True)
    review_status = models.CharField(max_length=16, choices=ReviewStatus.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["annotation", "version"]
        constraints = [
            models.UniqueConstraint(fields=["annotation", "version"], name="unique_revision")
        ]

    def __str__(self) -> str:
        return f"annotation {self.annotation_id} v{self.version}"


class Interaction(models.Model):
    """The prompts a user gave (clicks, box, scribbles, each with a timestamp) and the
    engine's answer; kept with the annotation it produced and exported with the data."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="interactions")
    frame = models.PositiveIntegerField(default=0)
    annotation = models.ForeignKey(
        Annotation, null=True, blank=True, on_delete=models.CASCADE, related_name="interactions"
    )
    prompts = models.JSONField(default=dict)
    engine = models.CharField(max_length=32, blank=True, default="")
    elapsed_ms = models.FloatField(null=True, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"interaction {self.pk} on {self.asset_id}/{self.frame}"
