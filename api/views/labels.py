from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from annotator.models import LabelClass
from annotator.services.projects import add_label, delete_label, update_label
from api.access import Capability
from api.permissions import OWNERS_CHANGE, InProject, OnProjectObject
from api.schema import errors
from api.serializers.projects import LabelSerializer


@extend_schema_view(post=extend_schema(responses={201: LabelSerializer, **errors(409)}))
class LabelListView(InProject, generics.ListCreateAPIView[LabelClass]):
    serializer_class = LabelSerializer
    pagination_class = None
    capabilities = {"POST": Capability.MANAGE}

    def get_queryset(self) -> QuerySet[LabelClass]:
        return self.project.labels.all()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        label = add_label(
            self.project, serializer.validated_data["name"], serializer.validated_data.get("color")
        )
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    put=extend_schema(responses={200: LabelSerializer, **errors(409)}),
    patch=extend_schema(responses={200: LabelSerializer, **errors(409)}),
    delete=extend_schema(responses={204: None, **errors(409)}),
)
class LabelDetailView(OnProjectObject, generics.RetrieveUpdateDestroyAPIView[LabelClass]):
    serializer_class = LabelSerializer
    capabilities = OWNERS_CHANGE

    def get_queryset(self) -> QuerySet[LabelClass]:
        return self.member_objects(LabelClass.objects.all())

    def perform_update(self, serializer: BaseSerializer[LabelClass]) -> None:
        update_label(cast(LabelClass, serializer.instance), **serializer.validated_data)

    def perform_destroy(self, instance: LabelClass) -> None:
        delete_label(instance)
