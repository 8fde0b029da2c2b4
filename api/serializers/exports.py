from __future__ import annotations

from rest_framework import serializers

from annotator.models import Export, ReviewStatus
from api.serializers.fields import (
    CodedChoiceField,
    CodedListField,
    OneOrManyField,
    StrictBooleanField,
    StrictIntegerField,
)
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


def _ids_field() -> CodedListField:
    """A list of ids (within the database's 64-bit range), for the export filters."""
    return CodedListField(
        child=StrictIntegerField(min_value=-(2**63), max_value=2**63 - 1),
        required=False,
        allow_null=True,
        code="invalid_filter",
        message="must be a list of ids",
    )


class ExportRequestSerializer(serializers.Serializer[None]):
    # The shape of an export request; whether the labels and assets are the project's is
    # for ``start_export`` to check. The fields are in the order the service checked them
    # before, so of several errors the same one is reported first.
    format = CodedChoiceField(
        choices=EXPORT_FORMATS,
        default="coco",
        code="invalid_format",
        message=f"must be one of {', '.join(EXPORT_FORMATS)}",
    )
    labels = _ids_field()
    assets = _ids_field()
    review_status = OneOrManyField(
        child=serializers.ChoiceField(choices=ReviewStatus.choices),
        required=False,
        allow_null=True,
        code="invalid_filter",
        message=f"must be a list of {', '.join(ReviewStatus.values)}",
    )
    include_images = StrictBooleanField(
        default=False, code="invalid_filter", message="must be true or false"
    )


class ImportRequestSerializer(serializers.Serializer[None]):
    file = serializers.FileField(allow_empty_file=False)
    images = serializers.FileField(required=False, allow_empty_file=False)
    format = serializers.ChoiceField(choices=IMPORT_FORMATS, required=False)
