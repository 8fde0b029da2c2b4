"""Review: ``GET /api/projects/{id}/review/`` lists what waits for a reviewer;
``POST /api/annotations/{id}/review/`` accepts or rejects one with a comment."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.errors import InvalidInput
from annotator.models import Annotation, AnnotationSource
from annotator.services.review import review_annotation, review_queryset
from api.access import Capability
from api.permissions import InProject, OnProjectObject
from api.schema import JSON, errors
from api.serializers.annotations import AnnotationSerializer
from api.serializers.learning import ReviewRequestSerializer


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter(
                "status", str, enum=["pending", "needs_review"], description="Only this state."
            ),
            OpenApiParameter(
                "source", str, enum=AnnotationSource.values, description="Only this source."
            ),
        ],
        # A read that needs more than reading: annotators and viewers are refused.
        responses={200: AnnotationSerializer(many=True), **errors(403)},
    )
)
class ReviewListView(InProject, generics.ListAPIView[Annotation]):
    """Annotations waiting for review: flagged ones first, then proposals, oldest first."""

    serializer_class = AnnotationSerializer
    capabilities = {"GET": Capability.REVIEW}

    def get_queryset(self) -> QuerySet[Annotation]:
        params = self.request.query_params
        return (
            review_queryset(self.project, params.get("status"), params.get("source"))
            .select_related("author", "reviewed_by")
            .prefetch_related("interactions")
        )


class ReviewView(OnProjectObject, generics.GenericAPIView[Annotation]):
    """Accept or reject an annotation. A rejected one's frame goes back to its author's
    queue, with the comment."""

    serializer_class = ReviewRequestSerializer  # type: ignore[assignment]  # for OPTIONS
    project_path = "asset__project"
    capabilities = {"POST": Capability.REVIEW}

    def get_queryset(self) -> QuerySet[Annotation]:
        return self.member_objects(Annotation.objects.select_related("asset__project"))

    @extend_schema(request={JSON: ReviewRequestSerializer}, responses=AnnotationSerializer)
    def post(self, request: Request, pk: int) -> Response:
        annotation = self.get_object()
        # Checked by the service, whose codes the API documents (invalid_decision,
        # invalid_comment): a serializer would answer invalid_choice and make 12 "12".
        body: Any = request.data
        if not isinstance(body, dict):
            raise InvalidInput("the request body must be a JSON object", "invalid_body")
        updated = review_annotation(
            annotation, cast(User, request.user), body.get("decision"), body.get("comment", "")
        )
        return Response(AnnotationSerializer(updated).data)
