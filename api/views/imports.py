from __future__ import annotations

from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.services.exports import start_import
from api.access import Capability
from api.permissions import InProject
from api.serializers.exports import ImportRequestSerializer
from api.serializers.jobs import JobStartedSerializer
from api.views.assets import reject_oversized_body


class ProjectImportView(InProject):
    """Upload a COCO JSON / zip (optionally with an images zip) or a native export zip;
    the import runs as a job and stores everything or nothing."""

    parser_classes = [MultiPartParser, FormParser]
    capabilities = {"POST": Capability.ANNOTATE}

    @extend_schema(
        request={"multipart/form-data": ImportRequestSerializer},
        responses={202: JobStartedSerializer},
    )
    def post(self, request: Request, pk: int, *args: Any, **kwargs: Any) -> Response:
        reject_oversized_body(
            request, 2 * settings.MAX_IMPORT_MB * 1024 * 1024, settings.MAX_IMPORT_MB
        )
        serializer = ImportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = start_import(
            self.project,
            cast(User, request.user),
            data["file"],
            data.get("images"),
            data.get("format"),
        )
        return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)
