"""The documented shape of a predict request and its answer. The request is validated by
``formats.prompts`` (shared with the workers); these serializers only describe it."""

from __future__ import annotations

from rest_framework import serializers

from formats.prompts import ENGINES, MAX_CLICKS, MAX_SCRIBBLE_POINTS, MAX_SCRIBBLES


class RleSerializer(serializers.Serializer[None]):
    """A COCO RLE mask: ``size`` is ``[height, width]``, ``counts`` the compressed string
    ``pycocotools.mask.encode`` writes (column-major)."""

    size = serializers.ListField(child=serializers.IntegerField(min_value=0), min_length=2)
    counts = serializers.CharField(allow_blank=True)


class ClickSerializer(serializers.Serializer[None]):
    x = serializers.FloatField(help_text="Image pixels, right of the left edge.")
    y = serializers.FloatField(help_text="Image pixels, below the top edge.")
    positive = serializers.BooleanField(default=True)
    t = serializers.FloatField(required=False, help_text="When it was clicked (Unix seconds).")


class ScribbleSerializer(serializers.Serializer[None]):
    points = serializers.ListField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2),
        max_length=MAX_SCRIBBLE_POINTS,
    )
    positive = serializers.BooleanField(default=True)


class PredictRequestSerializer(serializers.Serializer[None]):
    """Every prompt is optional, but at least one is given."""

    frame = serializers.IntegerField(min_value=0, default=0)
    engine = serializers.ChoiceField(choices=ENGINES, default="auto")
    clicks = serializers.ListField(child=ClickSerializer(), required=False, max_length=MAX_CLICKS)
    box = serializers.ListField(
        child=serializers.FloatField(),
        min_length=4,
        max_length=4,
        required=False,
        help_text="[x0, y0, x1, y1]",
    )
    scribbles = serializers.ListField(
        child=ScribbleSerializer(), required=False, max_length=MAX_SCRIBBLES
    )
    mask = RleSerializer(required=False, help_text="The previous mask, to refine.")
    label = serializers.IntegerField(  # type: ignore[assignment]  # a field, not Field.label
        required=False,
        help_text="The label being drawn: once the project model is trained, its "
        "probability for this label guides the classical engine (without: any foreground).",
    )


class PredictResponseSerializer(serializers.Serializer[None]):
    mask = RleSerializer()
    score = serializers.FloatField()
    engine = serializers.CharField()
    elapsed_ms = serializers.FloatField()
    prompts = serializers.DictField(help_text="The prompts as validated.")
