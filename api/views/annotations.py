from __future__ import annotations

from functools import cached_property
from typing import Any, cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.errors import Conflict, InvalidInput
from annotator.models import Annotation, AnnotationSource, Asset, ReviewStatus
from annotator.services.annotations import (
    create_annotation,
    delete_annotation,
    update_annotation,
)
from annotator.services.project_model import note_labels_changed
from api.access import Capability
from api.params import query_int
from api.permissions import OnProjectObject, review_or_annotate
from api.schema import JSON, errors
from api.serializers.annotations import (
    AnnotationCreateSerializer,
    AnnotationSerializer,
    AnnotationUpdateSerializer,
)


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("frame", int, description="Only this frame's annotations."),
            OpenApiParameter("track", int, description="Only this object's annotations."),
            OpenApiParameter(
                "source", str, enum=AnnotationSource.values, description="Only this source."
            ),
            OpenApiParameter(
                "review_status",
                str,
                enum=ReviewStatus.values,
                description="Only annotations in this review state.",
            ),
        ]
    )
)
class AssetAnnotationListView(OnProjectObject, generics.ListCreateAPIView[Annotation]):
    serializer_class = AnnotationSerializer
    capabilities = {"POST": Capability.ANNOTATE}

    @cached_property
    def asset(self) -> Asset:
        """The asset the URL names: its project decides who may list and add."""
        return self.get_member_object(Asset.objects.all())

    def get_queryset(self) -> QuerySet[Annotation]:
        queryset = self.asset.annotations.select_related("author", "reviewed_by").prefetch_related(
            "interactions"
        )
        frame = query_int(
            self.request, "frame", "frame must be a non-negative integer", "invalid_frame"
        )
        if frame is not None:
            queryset = queryset.filter(frame=frame)
        track = query_int(
            self.request, "track", "track must be a non-negative integer", "invalid_track"
        )
        if track is not None:
            queryset = queryset.filter(track=track)
        for name, choices in (("source", AnnotationSource), ("review_status", ReviewStatus)):
            value = self.request.query_params.get(name)
            if value is not None:
                if value not in choices.values:
                    raise InvalidInput(
                        f"{name} must be one of {', '.join(choices.values)}", f"invalid_{name}"
                    )
                queryset = queryset.filter(**{name: value})
        return queryset.order_by("frame", "id")

    @extend_schema(request={JSON: AnnotationCreateSerializer}, responses=AnnotationSerializer)
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        asset = self.asset
        serializer = AnnotationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        annotation = create_annotation(
            asset=asset,
            frame=data["frame"],
            label=data["label"],
            mask=data["mask"],
            author=cast(User, request.user),
            source=data["source"],
            score=data.get("score"),
            interaction=data.get("interaction"),
            track=data.get("track"),
        )
        note_labels_changed(asset.project)
        return Response(AnnotationSerializer(annotation).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    delete=extend_schema(
        parameters=[
            OpenApiParameter(
                "version", int, description="The version you are deleting: a stale one is a 409."
            )
        ],
        responses={204: None, **errors(409)},
    )
)
class AnnotationDetailView(OnProjectObject, generics.RetrieveUpdateDestroyAPIView[Annotation]):
    serializer_class = AnnotationSerializer
    project_path = "asset__project"
    capabilities = {
        "PUT": review_or_annotate,
        "PATCH": review_or_annotate,
        "DELETE": Capability.ANNOTATE,
    }

    def get_queryset(self) -> QuerySet[Annotation]:
        return self.member_objects(
            Annotation.objects.select_related("asset", "author", "reviewed_by")
        )

    @cached_property
    def changes(self) -> dict[str, Any]:
        """The validated body of a PUT/PATCH (``review_or_annotate`` decides on it)."""
        serializer = AnnotationUpdateSerializer(data=self.request.data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @extend_schema(
        request={JSON: AnnotationUpdateSerializer},
        responses={200: AnnotationSerializer, **errors(409)},
    )
    def put(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._update(request, partial=False)

    @extend_schema(
        request={JSON: AnnotationUpdateSerializer},
        responses={200: AnnotationSerializer, **errors(409)},
    )
    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._update(request, partial=True)

    def _update(self, request: Request, partial: bool) -> Response:
        annotation = self.get_object()
        changes = dict(self.changes)
        version = changes.pop("version", None)
        if version is None and not partial:
            raise InvalidInput("PUT needs the version you are replacing", "version_required")
        try:
            updated = update_annotation(
                annotation,
                expected_version=version,
                user=cast(User, request.user),
                changes=changes,
            )
        except Conflict as exc:
            # Deleted meanwhile (code ``deleted``): still the 409, with no current state.
            current = self.get_queryset().filter(pk=annotation.pk).first()
            exc.extra["current"] = AnnotationSerializer(current).data if current else None
            raise
        note_labels_changed(updated.asset.project)
        return Response(AnnotationSerializer(updated).data)

    def perform_destroy(self, instance: Annotation) -> None:
        version = query_int(
            self.request, "version", "version must be a positive integer", "invalid_version"
        )
        delete_annotation(instance, expected_version=version)
