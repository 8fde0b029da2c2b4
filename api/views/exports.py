from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import FileResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.errors import InvalidInput
from annotator.models import Export
from annotator.services.exports import start_export
from api.access import Capability
from api.permissions import READ_ONLY, InProject, OnProjectObject
from api.serializers.exports import (
    ExportRequestSerializer,
    ExportSerializer,
    ExportStartedSerializer,
)


class ProjectExportListView(InProject, generics.ListAPIView[Export]):
    """Any member may export: it reads, it does not change the project."""

    serializer_class = ExportSerializer
    capabilities = {"POST": Capability.READ}

    def get_queryset(self) -> QuerySet[Export]:
        return Export.objects.filter(project=self.project).select_related("job").order_by("-id")

    @extend_schema(request=ExportRequestSerializer, responses={202: ExportStartedSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # No body asks for the defaults; a body that is not an object is refused. The
        # copy into a plain dict keeps form fields as lists of values.
        if request.data is not None and not isinstance(request.data, dict):
            raise InvalidInput("the request body must be a JSON object", "invalid_body")
        body = dict(request.data) if request.data else {}
        serializer = ExportRequestSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        export = start_export(self.project, cast(User, request.user), **serializer.validated_data)
        return Response(
            {"job": export.job_id, "export": export.pk}, status=status.HTTP_202_ACCEPTED
        )


class OnExport(OnProjectObject):
    # Base of the views of one export (``/exports/{pk}/...``).

    def get_queryset(self) -> QuerySet[Export]:
        return self.member_objects(Export.objects.select_related("job"))


class ExportDetailView(OnExport, generics.RetrieveAPIView[Export]):
    serializer_class = ExportSerializer
    capabilities = READ_ONLY


class ExportDownloadView(OnExport, generics.GenericAPIView[Export]):
    capabilities = READ_ONLY

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> FileResponse:
        export = self.get_object()
        if export.expires < timezone.now():
            raise NotFound("this export has expired; start a new one", code="export_expired")
        if not export.file:
            if export.job.status in ("failed", "cancelled"):
                raise NotFound(
                    f"the export job {export.job.status}: {export.job.error[:300]}".rstrip(": "),
                    code="export_failed",
                )
            raise NotFound("the export is not finished yet", code="export_not_ready")
        response = FileResponse(
            export.file.open("rb"),
            as_attachment=True,
            filename=f"project-{export.project_id}-{export.format}-{export.pk}.zip",
            content_type="application/zip",
        )
        return response
