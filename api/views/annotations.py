from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.errors import Conflict, InvalidInput
from annotator.models import Annotation, LabelClass
from annotator.services.annotations import create_annotation, update_annotation
from api.access import Capability, get_member_project, member_projects, require
from api.serializers.annotations import (
    AnnotationCreateSerializer,
    AnnotationSerializer,
    AnnotationUpdateSerializer,
)
from api.views.assets import member_assets

_REVIEW_FIELDS = {"review_status", "version"}


def _label(project_id: int, label_id: int) -> LabelClass:
    label = LabelClass.objects.filter(pk=label_id).first()
    if label is None:
        raise InvalidInput(f"unknown label {label_id}", "unknown_label")
    if label.project_id != project_id:
        raise InvalidInput(f"label {label_id} belongs to another project", "foreign_label")
    return label


class AssetAnnotationListView(generics.ListCreateAPIView[Annotation]):
    serializer_class = AnnotationSerializer

    def get_queryset(self) -> QuerySet[Annotation]:
        asset = get_object_or_404(member_assets(self.request), pk=self.kwargs["pk"])
        queryset = asset.annotations.select_related("author").prefetch_related("interactions")
        frame = self.request.query_params.get("frame")
        if frame is not None:
            if not frame.isdigit():
                raise InvalidInput("frame must be a non-negative integer", "invalid_frame")
            queryset = queryset.filter(frame=int(frame))
        return queryset.order_by("id")

    @extend_schema(request=AnnotationCreateSerializer, responses=AnnotationSerializer)
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        asset = get_object_or_404(member_assets(request), pk=kwargs["pk"])
        _, role = get_member_project(request.user, asset.project_id)
        require(role, Capability.ANNOTATE)
        serializer = AnnotationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        annotation = create_annotation(
            asset=asset,
            frame=data["frame"],
            label=_label(asset.project_id, data["label"]),
            mask=data["mask"],
            author=request.user,  # type: ignore[arg-type]
            source=data["source"],
            score=data.get("score"),
            interaction=data.get("interaction"),
        )
        return Response(AnnotationSerializer(annotation).data, status=status.HTTP_201_CREATED)


class AnnotationDetailView(generics.RetrieveUpdateDestroyAPIView[Annotation]):
    serializer_class = AnnotationSerializer

    def get_queryset(self) -> QuerySet[Annotation]:
        return Annotation.objects.filter(
            asset__project__in=member_projects(self.request.user)
        ).select_related("asset", "author")

    @extend_schema(request=AnnotationUpdateSerializer, responses=AnnotationSerializer)
    def put(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._update(request, partial=False)

    @extend_schema(request=AnnotationUpdateSerializer, responses=AnnotationSerializer)
    def patch(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._update(request, partial=True)

    def _update(self, request: Request, partial: bool) -> Response:
        annotation = self.get_object()
        _, role = get_member_project(request.user, annotation.asset.project_id)
        serializer = AnnotationUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        if set(data) <= _REVIEW_FIELDS and "review_status" in data:
            require(role, Capability.REVIEW)
        else:
            require(role, Capability.ANNOTATE)
            if "review_status" in data:
                require(role, Capability.REVIEW)
        version = data.pop("version", None)
        if version is None:
            if not partial:
                raise InvalidInput("PUT needs the version you are replacing", "version_required")
            version = annotation.version
        if "label" in data:
            data["label"] = _label(annotation.asset.project_id, data["label"])
        try:
            updated = update_annotation(
                annotation,
                expected_version=version,
                user=cast(User, request.user),
                changes=data,
            )
        except Conflict as exc:
            exc.extra["current"] = AnnotationSerializer(self.get_object()).data
            raise
        return Response(AnnotationSerializer(updated).data)

    def perform_destroy(self, instance: Annotation) -> None:
        _, role = get_member_project(self.request.user, instance.asset.project_id)
        require(role, Capability.ANNOTATE)
        version = self.request.query_params.get("version")
        if version is not None and not version.isdigit():
            raise InvalidInput("version must be a positive integer", "invalid_version")
        if version is not None:
            deleted, _ = Annotation.objects.filter(pk=instance.pk, version=version).delete()
            if not deleted:
                raise Conflict(
                    f"the annotation changed meanwhile (now version {instance.version})",
                    "stale_version",
                    current_version=instance.version,
                )
        else:
            instance.delete()
