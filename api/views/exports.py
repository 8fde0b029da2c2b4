from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.models import Export
from annotator.services.exports import start_export
from api.access import get_member_project, member_projects
from api.serializers.exports import ExportRequestSerializer, ExportSerializer


class ProjectExportListView(generics.ListAPIView[Export]):
    """Any member may export: it reads, it does not change the project."""

    serializer_class = ExportSerializer

    def get_queryset(self) -> QuerySet[Export]:
        project, _ = get_member_project(self.request.user, self.kwargs["pk"])
        return Export.objects.filter(project=project).select_related("job").order_by("-id")

    @extend_schema(request=ExportRequestSerializer, responses={202: dict})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project, _ = get_member_project(request.user, kwargs["pk"])
        body = request.data if isinstance(request.data, dict) else {}
        export = start_export(project, cast(User, request.user), dict(body))
        return Response(
            {"job": export.job_id, "export": export.pk}, status=status.HTTP_202_ACCEPTED
        )


def member_exports(request: Request) -> QuerySet[Export]:
    return Export.objects.filter(project__in=member_projects(request.user)).select_related("job")


class ExportDetailView(generics.RetrieveAPIView[Export]):
    serializer_class = ExportSerializer

    def get_queryset(self) -> QuerySet[Export]:
        return member_exports(self.request)


class ExportDownloadView(APIView):
    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> FileResponse:
        export = get_object_or_404(member_exports(request), pk=pk)
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
