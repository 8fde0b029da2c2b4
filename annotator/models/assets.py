"""Assets (what gets labelled) and their frames."""

from __future__ import annotations

from django.db import models

from .projects import Project


class AssetKind(models.TextChoices):
    IMAGE = "image", "Image"
    VIDEO = "video", "Video"
    EVENTS = "events", "Event-camera recording"
    POINTCLOUD = "pointcloud", "Point cloud"
    SCENE = "scene", "Posed multi-view scene"


class AssetStatus(models.TextChoices):
    PROCESSING = "processing", "Processing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class EmbeddingStatus(models.TextChoices):
    NONE = "none", "Not computed"
    QUEUED = "queued", "Queued"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class Asset(models.Model):
    """One uploaded item. ``file`` is the original exactly as uploaded; ``display_file`` is
    an 8-bit RGB rendering (EXIF orientation applied, 16-bit/float normalised) that the
    UI and the engines read."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assets")
    kind = models.CharField(max_length=16, choices=AssetKind.choices)
    name = models.CharField(max_length=255)
    file = models.FileField(upload_to="assets/original/%Y/%m/", max_length=500)
    display_file = models.FileField(upload_to="assets/display/", max_length=500, blank=True)
    thumbnail = models.FileField(upload_to="assets/thumbnails/", max_length=500, blank=True)
    checksum = models.CharField(max_length=64, help_text="sha256 of the original file")
    size_bytes = models.BigIntegerField(default=0)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    num_frames = models.PositiveIntegerField(default=1)
    fps = models.FloatField(null=True, blank=True, help_text="frames per second (videos)")
    metadata = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        max_length=16, choices=AssetStatus.choices, default=AssetStatus.PROCESSING
    )
    error = models.TextField(blank=True, default="", help_text="why ingestion failed")
    error_code = models.CharField(max_length=64, blank=True, default="")
    # The next free track number of this asset's annotations (object identity).
    next_track = models.PositiveIntegerField(default=1)
    embedding_status = models.CharField(
        max_length=16, choices=EmbeddingStatus.choices, default=EmbeddingStatus.NONE
    )
    embedding_model = models.CharField(max_length=100, blank=True, default="")
    uploaded_by = models.ForeignKey(
        "auth.User", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["project", "id"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"


class Frame(models.Model):
    """A frame of a video or an event time window, rendered as an image. Single images
    have one frame, index 0, whose image is the asset's display file."""

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="frames")
    index = models.PositiveIntegerField()
    timestamp = models.FloatField(null=True, blank=True, help_text="seconds from the start")
    image = models.FileField(upload_to="assets/frames/", max_length=500, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["asset", "index"]
        constraints = [
            models.UniqueConstraint(fields=["asset", "index"], name="unique_frame_index")
        ]

    def __str__(self) -> str:
        return f"frame {self.index} of {self.asset_id}"
