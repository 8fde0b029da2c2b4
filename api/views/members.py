from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.models import Membership
from annotator.services.projects import remove_member, set_member
from api.access import Capability
from api.permissions import OWNERS_CHANGE, InProject, OnProjectObject
from api.schema import errors
from api.serializers.projects import MemberRoleSerializer, MemberSerializer


@extend_schema_view(post=extend_schema(responses={201: MemberSerializer, **errors(409)}))
class MemberListView(InProject, generics.ListCreateAPIView[Membership]):
    serializer_class = MemberSerializer
    pagination_class = None
    capabilities = {"POST": Capability.MANAGE}

    def get_queryset(self) -> QuerySet[Membership]:
        return self.project.memberships.select_related("user")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = set_member(
            self.project,
            serializer.validated_data["user"]["username"],
            serializer.validated_data["role"],
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    put=extend_schema(
        request=MemberRoleSerializer, responses={200: MemberSerializer, **errors(409)}
    ),
    patch=extend_schema(
        request=MemberRoleSerializer, responses={200: MemberSerializer, **errors(409)}
    ),
    delete=extend_schema(responses={204: None, **errors(409)}),
)
class MemberDetailView(OnProjectObject, generics.RetrieveUpdateDestroyAPIView[Membership]):
    serializer_class = MemberSerializer
    capabilities = OWNERS_CHANGE

    def get_queryset(self) -> QuerySet[Membership]:
        return self.member_objects(Membership.objects.select_related("user", "project"))

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        membership = self.get_object()
        # A body that is not an object has no role: the same 400 as a missing one.
        body = request.data if isinstance(request.data, dict) else {}
        serializer = MemberRoleSerializer(data=body)
        serializer.is_valid(raise_exception=True)
        updated = set_member(
            membership.project, membership.user.username, serializer.validated_data["role"]
        )
        return Response(MemberSerializer(updated).data)

    def perform_destroy(self, instance: Membership) -> None:
        remove_member(instance)
