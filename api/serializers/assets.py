from __future__ import annotations

from rest_framework import serializers

from annotator.models import Asset, AssetKind
from annotator.services.progress import progress_of


class AssetSerializer(serializers.ModelSerializer[Asset]):
    thumbnail = serializers.SerializerMethodField()
    image = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField(
        help_text="Annotation counts: annotations, pending, needs_review, accepted, rejected, "
        "generated."
    )

    class Meta:
        model = Asset
        fields = [
            "id",
            "project",
            "kind",
            "name",
            "width",
            "height",
            "num_frames",
            "fps",
            "status",
            "error",
            "error_code",
            "embedding_status",
            "embedding_model",
            "checksum",
            "size_bytes",
            "metadata",
            "thumbnail",
            "image",
            "progress",
            "created",
        ]
        read_only_fields = fields

    def get_thumbnail(self, asset: Asset) -> str | None:
        return f"/api/assets/{asset.pk}/thumbnail" if asset.thumbnail else None

    def get_progress(self, asset: Asset) -> dict[str, int]:
        return progress_of(asset)

    def get_image(self, asset: Asset) -> str:
        return f"/api/assets/{asset.pk}/frames/0/image"


class AssetUploadSerializer(serializers.Serializer[None]):
    file = serializers.FileField(allow_empty_file=False)
    kind = serializers.ChoiceField(choices=AssetKind.choices, required=False)


class NeighborsSerializer(serializers.Serializer[None]):
    previous = serializers.IntegerField(allow_null=True, help_text="The previous asset's id.")
    next = serializers.IntegerField(allow_null=True, help_text="The next asset's id.")
    index = serializers.IntegerField(help_text="This asset's position in the project.")
    count = serializers.IntegerField(help_text="The project's number of assets.")
