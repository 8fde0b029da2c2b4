"""Shapes of the learning loop's endpoints: the project model, the queue, proposals,
review and the dashboard (``docs/api.md``, "The learning loop")."""

from __future__ import annotations

from rest_framework import serializers

from annotator.models import Annotation, QueueItem, ReviewStatus
from annotator.services.annotations import MAX_REVIEW_COMMENT
from annotator.services.project_model import MAX_RETRAIN_AFTER


class ModelVersionSerializer(serializers.Serializer[None]):
    version = serializers.IntegerField()
    trained_on = serializers.IntegerField(help_text="Labelled frames it learnt from.")
    num_labels = serializers.IntegerField(help_text="Label annotations it learnt from.")
    metrics = serializers.DictField(
        help_text='On held-back labelled frames: {"miou", "per_label": {id: iou}, "frames"}.'
    )
    created = serializers.DateTimeField()


class ModelStateSerializer(serializers.Serializer[None]):
    status = serializers.ChoiceField(choices=["none", "training", "ready", "failed"])
    version = serializers.IntegerField(allow_null=True)
    kind = serializers.CharField(allow_null=True, help_text="pixel (weight-free) or sam-head.")
    trained_on = serializers.IntegerField()
    num_labels = serializers.IntegerField()
    metrics = serializers.DictField()
    updated = serializers.DateTimeField(allow_null=True)
    job = serializers.IntegerField(allow_null=True, help_text="The train job queued or running.")
    labels_since = serializers.IntegerField(help_text="New or changed labels since this version.")
    retrain_after = serializers.IntegerField(
        help_text="A new version is trained after this many new labels (0: only when asked)."
    )
    history = ModelVersionSerializer(many=True)


class ModelSettingsSerializer(serializers.Serializer[None]):
    retrain_after = serializers.IntegerField(min_value=0, max_value=MAX_RETRAIN_AFTER)


class QueueItemSerializer(serializers.ModelSerializer[QueueItem]):
    item = serializers.IntegerField(source="pk", read_only=True)
    asset = serializers.IntegerField(source="asset_id", read_only=True)
    asset_name = serializers.CharField(source="asset.name", read_only=True)
    comment = serializers.SerializerMethodField(
        help_text="The reviewer's comment when the frame came back after a rejection."
    )

    class Meta:
        model = QueueItem
        fields = [
            "item",
            "asset",
            "asset_name",
            "frame",
            "score",
            "strategy",
            "lease_expires",
            "reason",
            "model_version",
            "done",
            "comment",
        ]
        read_only_fields = fields

    def get_comment(self, item: QueueItem) -> str:
        if item.reason != "rework":
            return ""
        rejected = (
            Annotation.objects.filter(
                asset_id=item.asset_id, frame=item.frame, review_status=ReviewStatus.REJECTED
            )
            .order_by("-reviewed_at")
            .values_list("review_comment", flat=True)
            .first()
        )
        return rejected or ""


class ProposalsRequestSerializer(serializers.Serializer[None]):
    """Both optional: every ready asset, every label the model knows."""

    assets = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, min_length=1
    )
    labels = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, min_length=1
    )


class ReviewRequestSerializer(serializers.Serializer[None]):
    decision = serializers.ChoiceField(choices=["accept", "reject"])
    comment = serializers.CharField(
        required=False, allow_blank=True, max_length=MAX_REVIEW_COMMENT, default=""
    )


class DashboardSerializer(serializers.Serializer[None]):
    assets = serializers.IntegerField()
    frames = serializers.IntegerField()
    frames_labelled = serializers.IntegerField()
    annotations = serializers.DictField(help_text='{"total", "by_status", "by_source"}')
    labels = serializers.ListField(child=serializers.DictField())
    queue = serializers.DictField(help_text='{"open", "leased", "done"}')
    model = ModelStateSerializer()
    efficiency = serializers.ListField(
        child=serializers.DictField(), help_text="Model quality against labels, per version."
    )
