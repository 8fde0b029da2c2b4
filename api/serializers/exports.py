from __future__ import annotations

from rest_framework import serializers

from annotator.models import Export
from formats.archives import EXPORT_FORMATS, IMPORT_FORMATS


class ExportSerializer(serializers.ModelSerializer[Export]):
    status = serializers.CharField(source="job.status", read_only=True)
    download = serializers.SerializerMethodField()

    class Meta:
        model = Export
        fields = [
            "id",
            "job",
            "format",
            "options",
            "status",
            "size_bytes",
            "counts",
            "download",
            "created",
            "expires",
        ]
        read_only_fields = fields

    def get_download(self, export: Export) -> str | None:
        return f"/api/exports/{export.pk}/download" if export.file else None


class ExportRequestSerializer(serializers.Serializer[None]):
    format = serializers.ChoiceField(choices=EXPORT_FORMATS, default="coco")
    include_images = serializers.BooleanField(default=False)
    labels = serializers.ListField(child=serializers.IntegerField(), required=False)
    assets = serializers.ListField(child=serializers.IntegerField(), required=False)
    review_status = serializers.ListField(child=serializers.CharField(), required=False)


class ImportRequestSerializer(serializers.Serializer[None]):
    file = serializers.FileField(allow_empty_file=False)
    images = serializers.FileField(required=False, allow_empty_file=False)
    format = serializers.ChoiceField(choices=IMPORT_FORMATS, required=False)
