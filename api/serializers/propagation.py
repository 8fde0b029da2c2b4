from __future__ import annotations

from rest_framework import serializers

from annotator.services.propagation import DIRECTIONS
from formats.prompts import ENGINES


class PropagateRequestSerializer(serializers.Serializer[None]):
    annotation = serializers.IntegerField(
        min_value=1, help_text="The annotation to carry: its frame, mask, track and label."
    )
    direction = serializers.ChoiceField(choices=DIRECTIONS, default="forward")
    end_frame = serializers.IntegerField(
        min_value=0,
        required=False,
        allow_null=True,
        help_text="The last frame to reach (inclusive); by default the end (or start) of "
        "the video. Propagation stops earlier at the track's next keyframe.",
    )
    threshold = serializers.FloatField(
        min_value=0,
        max_value=1,
        required=False,
        allow_null=True,
        help_text="Frames whose confidence is below this are stored `needs_review`.",
    )
    engine = serializers.ChoiceField(
        choices=ENGINES,
        default="auto",
        help_text="What re-segments each frame: `auto` (SAM when configured, else the "
        "weight-free default), `sam`, or `classical` (weight-free).",
    )


class PrefetchRequestSerializer(serializers.Serializer[None]):
    frame = serializers.IntegerField(min_value=0, help_text="The frame being viewed.")
    radius = serializers.IntegerField(
        min_value=0, max_value=8, default=2, help_text="Neighbours on each side to prepare too."
    )


class TimelineTrackSerializer(serializers.Serializer[None]):
    track = serializers.IntegerField()
    label = serializers.IntegerField()  # type: ignore[assignment]
    frames = serializers.ListField(
        child=serializers.ListField(),
        help_text="One `[frame, source, review_status, score, annotation id]` per annotation "
        "of the track, by frame.",
    )


class TimelineSerializer(serializers.Serializer[None]):
    num_frames = serializers.IntegerField()
    fps = serializers.FloatField(allow_null=True)
    timestamps = serializers.ListField(
        child=serializers.FloatField(allow_null=True),
        allow_null=True,
        help_text="Seconds from the start, per frame (null when the asset has none).",
    )
    tracks = TimelineTrackSerializer(many=True)
