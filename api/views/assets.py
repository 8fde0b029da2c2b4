from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.errors import TooLarge
from annotator.models import Asset
from annotator.services.assets import delete_asset, ingest_upload
from api.access import Capability, get_member_project, member_projects, require
from api.serializers.assets import AssetSerializer, AssetUploadSerializer


def reject_oversized_body(request: Request, limit_bytes: int, limit_mb: int) -> None:
    """Refuse by the declared length before the body is read and spooled to disk."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    # The multipart envelope adds a little; 64 KiB of slack keeps a file at the limit in.
    if declared > limit_bytes + 64 * 1024:
        raise TooLarge(
            f"the request is {declared} bytes, the upload limit is {limit_mb} MB",
            "file_too_large",
        )


def member_assets(request: Request) -> QuerySet[Asset]:
    return Asset.objects.filter(project__in=member_projects(request.user))


class AssetListView(generics.ListCreateAPIView[Asset]):
    serializer_class = AssetSerializer
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[Asset]:
        project, _ = get_member_project(self.request.user, self.kwargs["pk"])
        queryset = project.assets.all()
        kind = self.request.query_params.get("kind")
        if kind:
            queryset = queryset.filter(kind=kind)
        return queryset.order_by("id")

    @extend_schema(
        request={"multipart/form-data": AssetUploadSerializer}, responses=AssetSerializer
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project, role = get_member_project(request.user, kwargs["pk"])
        require(role, Capability.ANNOTATE)
        reject_oversized_body(request, settings.MAX_UPLOAD_BYTES, settings.MAX_UPLOAD_MB)
        upload = AssetUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        asset = ingest_upload(
            project,
            upload.validated_data["file"],
            request.user,  # type: ignore[arg-type]
            upload.validated_data.get("kind"),
        )
        return Response(AssetSerializer(asset).data, status=status.HTTP_201_CREATED)


class AssetDetailView(generics.RetrieveDestroyAPIView[Asset]):
    serializer_class = AssetSerializer

    def get_queryset(self) -> QuerySet[Asset]:
        return member_assets(self.request)

    def perform_destroy(self, instance: Asset) -> None:
        _, role = get_member_project(self.request.user, instance.project_id)
        require(role, Capability.ANNOTATE)
        delete_asset(instance)


class AssetNeighborsView(APIView):
    """Previous/next asset of the same project (by id), for the workspace's navigation
    without listing every asset."""

    @extend_schema(responses={200: dict})
    def get(self, request: Request, pk: int) -> Response:
        asset = get_object_or_404(member_assets(request), pk=pk)
        siblings = Asset.objects.filter(project_id=asset.project_id)
        previous = siblings.filter(pk__lt=asset.pk).order_by("-pk").values_list("pk", flat=True)
        following = siblings.filter(pk__gt=asset.pk).order_by("pk").values_list("pk", flat=True)
        return Response(
            {
                "previous": previous.first(),
                "next": following.first(),
                "index": siblings.filter(pk__lt=asset.pk).count(),
                "count": siblings.count(),
            }
        )
