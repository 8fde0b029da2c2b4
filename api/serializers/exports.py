from __future__ import annotations

from typing import Any, NoReturn

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


class UploadField(serializers.FileField):
    """An uploaded file that must not be empty: an empty one is ``empty_file`` (the code
    of ``start_import``'s own check), a missing one ``required``."""

    default_error_messages = {"empty_file": "The submitted file is empty."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_empty_file=False, **kwargs)

    def fail(self, key: str, **kwargs: Any) -> NoReturn:
        super().fail("empty_file" if key == "empty" else key, **kwargs)


class ImportRequestSerializer(serializers.Serializer[None]):
    file = UploadField()
    images = UploadField(required=False)
    # A blank value (an unselected <select>) is the same as none: the worker detects.
    format = CodedChoiceField(
        choices=IMPORT_FORMATS,
        required=False,
        code="invalid_format",
        message=f"must be one of {', '.join(IMPORT_FORMATS)}",
    )


class ExportStartedSerializer(serializers.Serializer[None]):
    """``POST /api/projects/{id}/exports/`` (202): the job to poll and the export row."""

    job = serializers.IntegerField()
    export = serializers.IntegerField()
