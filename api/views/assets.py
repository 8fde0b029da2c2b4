from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.errors import TooLarge
from annotator.models import Asset
from annotator.services.assets import delete_asset, ingest_upload
from annotator.services.progress import ORDERINGS, STATES, filter_and_order, with_progress
from api.access import Capability
from api.permissions import READ_ONLY, InProject, OnProjectObject
from api.serializers.assets import AssetSerializer, AssetUploadSerializer, NeighborsSerializer


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


class OnAsset(OnProjectObject):
    # Base of the views of one asset (``/assets/{pk}/...``).

    def get_queryset(self) -> QuerySet[Asset]:
        return self.member_objects(Asset.objects.all())


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("kind", str, description="Only assets of this kind (`image`, ...)."),
            OpenApiParameter(
                "state",
                str,
                enum=list(STATES),
                description="Only assets with no annotation (`unlabelled`) or with some in "
                "this review state.",
            ),
            OpenApiParameter(
                "ordering",
                str,
                enum=[f"{sign}{name}" for name in ORDERINGS for sign in ("", "-")],
                description="Sort by a field or an annotation count (`-` reverses).",
            ),
        ]
    )
)
class AssetListView(InProject, generics.ListCreateAPIView[Asset]):
    serializer_class = AssetSerializer
    parser_classes = [MultiPartParser, FormParser]
    capabilities = {"POST": Capability.ANNOTATE}

    def get_queryset(self) -> QuerySet[Asset]:
        queryset = self.project.assets.all()
        params = self.request.query_params
        kind = params.get("kind")
        if kind:
            queryset = queryset.filter(kind=kind)
        return filter_and_order(
            with_progress(queryset), params.get("state"), params.get("ordering")
        )

    @extend_schema(
        request={"multipart/form-data": AssetUploadSerializer}, responses=AssetSerializer
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        reject_oversized_body(request, settings.MAX_UPLOAD_BYTES, settings.MAX_UPLOAD_MB)
        upload = AssetUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        asset = ingest_upload(
            self.project,
            upload.validated_data["file"],
            request.user,  # type: ignore[arg-type]
            upload.validated_data.get("kind"),
        )
        return Response(AssetSerializer(asset).data, status=status.HTTP_201_CREATED)


class AssetDetailView(OnAsset, generics.RetrieveDestroyAPIView[Asset]):
    serializer_class = AssetSerializer
    capabilities = {"DELETE": Capability.ANNOTATE}

    def perform_destroy(self, instance: Asset) -> None:
        delete_asset(instance)


class AssetNeighborsView(OnAsset, generics.GenericAPIView[Asset]):
    """Previous/next asset of the same project (by id), for the workspace's navigation
    without listing every asset."""

    capabilities = READ_ONLY

    @extend_schema(responses=NeighborsSerializer)
    def get(self, request: Request, pk: int) -> Response:
        asset = self.get_object()
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
