from __future__ import annotations

from rest_framework import serializers

from annotator.models import Asset, AssetKind


class AssetSerializer(serializers.ModelSerializer[Asset]):
    thumbnail = serializers.SerializerMethodField()
    image = serializers.SerializerMethodField()

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
            "status",
            "embedding_status",
            "embedding_model",
            "checksum",
            "size_bytes",
            "metadata",
            "thumbnail",
            "image",
            "created",
        ]
        read_only_fields = fields

    def get_thumbnail(self, asset: Asset) -> str | None:
        return f"/api/assets/{asset.pk}/thumbnail" if asset.thumbnail else None

    def get_image(self, asset: Asset) -> str:
        return f"/api/assets/{asset.pk}/frames/0/image"


class AssetUploadSerializer(serializers.Serializer[None]):
    file = serializers.FileField(allow_empty_file=False)
    kind = serializers.ChoiceField(choices=AssetKind.choices, required=False)
