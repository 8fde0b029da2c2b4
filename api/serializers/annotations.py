from __future__ import annotations

import math
from typing import Any

from rest_framework import serializers

from annotator.models import Annotation, AnnotationSource, ReviewStatus
from annotator.services.annotations import MAX_TRACK


class RleField(serializers.JSONField):
    """A COCO RLE object; its content is checked against the frame by the service."""


class AnnotationSerializer(serializers.ModelSerializer[Annotation]):
    author: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    reviewed_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    interaction = serializers.SerializerMethodField()

    class Meta:
        model = Annotation
        fields = [
            "id",
            "asset",
            "frame",
            "track",
            "label",
            "mask",
            "point_indices",
            "area",
            "bbox",
            "source",
            "score",
            "review_status",
            "review_comment",
            "reviewed_by",
            "reviewed_at",
            "author",
            "version",
            "interaction",
            "created",
            "updated",
        ]
        read_only_fields = fields

    def get_interaction(self, annotation: Annotation) -> dict[str, Any] | None:
        interactions = list(annotation.interactions.all())
        if not interactions:
            return None
        last = interactions[-1]
        return {"prompts": last.prompts, "engine": last.engine, "elapsed_ms": last.elapsed_ms}


_TRACK_HELP = (
    "The object this mask shows: the same number on every frame of a video. A new "
    "object's number is assigned when absent."
)


class AnnotationCreateSerializer(serializers.Serializer[None]):
    frame = serializers.IntegerField(min_value=0, default=0)
    track = serializers.IntegerField(
        min_value=1, max_value=MAX_TRACK, required=False, allow_null=True, help_text=_TRACK_HELP
    )
    label = serializers.IntegerField()  # type: ignore[assignment]
    mask = RleField()
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=AnnotationSource.choices, default=AnnotationSource.MANUAL
    )
    score = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    interaction = serializers.JSONField(required=False, allow_null=True)

    def validate_interaction(self, value: Any) -> Any:
        if value is None:
            return value
        if not isinstance(value, dict):
            raise serializers.ValidationError("interaction must be an object", code="invalid")
        elapsed = value.get("elapsed_ms")
        if elapsed is not None and (
            isinstance(elapsed, bool)
            or not isinstance(elapsed, int | float)
            or not math.isfinite(elapsed)
        ):
            raise serializers.ValidationError("elapsed_ms must be a number", code="invalid")
        if "prompts" in value and not isinstance(value["prompts"], dict):
            raise serializers.ValidationError("prompts must be an object", code="invalid")
        if not isinstance(value.get("engine", ""), str):
            raise serializers.ValidationError("engine must be a string", code="invalid")
        return value


class AnnotationUpdateSerializer(serializers.Serializer[None]):
    version = serializers.IntegerField(min_value=1, required=False)
    track = serializers.IntegerField(
        min_value=1, max_value=MAX_TRACK, required=False, help_text=_TRACK_HELP
    )
    interaction = serializers.JSONField(required=False, allow_null=True)
    label = serializers.IntegerField(required=False)  # type: ignore[assignment]
    mask = RleField(required=False)
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=AnnotationSource.choices, required=False
    )
    score = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    review_status = serializers.ChoiceField(choices=ReviewStatus.choices, required=False)

    def validate_interaction(self, value: Any) -> Any:
        return AnnotationCreateSerializer.validate_interaction(self, value)  # type: ignore[arg-type]
