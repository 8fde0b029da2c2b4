"""The active-learning queue: ``GET /api/projects/{id}/queue/next/`` leases the frame to
label next; ``POST /api/queue/{item}/complete/`` and ``.../skip/`` close or return it."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.models import QueueItem
from annotator.services.queue import STRATEGIES, complete, next_item, release, skip
from api.access import Capability
from api.permissions import InProject, OnProjectObject
from api.schema import errors
from api.serializers.learning import QueueItemSerializer


class QueueNextView(InProject):
    """Lease the next frame to label under ``strategy`` (``combined`` by default): 204
    when nothing is left. Asking again while holding a lease returns the same item."""

    capabilities = {"GET": Capability.ANNOTATE}

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "strategy", str, enum=list(STRATEGIES), description="How items are ranked."
            )
        ],
        responses={
            200: QueueItemSerializer,
            204: OpenApiResponse(description="Nothing left."),
            **errors(403),  # a read that needs more than reading (viewers, reviewers)
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        item = next_item(
            self.project, cast(User, request.user), request.query_params.get("strategy")
        )
        if item is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(QueueItemSerializer(item).data)


class _QueueItemAction(OnProjectObject, generics.GenericAPIView[QueueItem]):
    serializer_class = QueueItemSerializer
    capabilities = {"POST": Capability.ANNOTATE}

    def get_queryset(self) -> QuerySet[QueueItem]:
        return self.member_objects(QueueItem.objects.all())


class QueueCompleteView(_QueueItemAction):
    """Close the item: its frame is labelled."""

    capabilities = {"POST": Capability.ANNOTATE}

    @extend_schema(request=None, responses={200: QueueItemSerializer, **errors(409)})
    def post(self, request: Request, pk: int) -> Response:
        item = complete(self.get_object(), cast(User, request.user))
        return Response(QueueItemSerializer(item).data)


class QueueSkipView(_QueueItemAction):
    """Give the item back: it is not offered to you again; others still get it."""

    capabilities = {"POST": Capability.ANNOTATE}

    @extend_schema(request=None, responses={200: QueueItemSerializer, **errors(409)})
    def post(self, request: Request, pk: int) -> Response:
        item = skip(self.get_object(), cast(User, request.user))
        return Response(QueueItemSerializer(item).data)


class QueueReleaseView(_QueueItemAction):
    """Give the lease back without skipping (leaving queue mode): the item is offered
    again, to anyone."""

    capabilities = {"POST": Capability.ANNOTATE}

    @extend_schema(request=None, responses={200: QueueItemSerializer, **errors(409)})
    def post(self, request: Request, pk: int) -> Response:
        item = release(self.get_object(), cast(User, request.user))
        return Response(QueueItemSerializer(item).data)
