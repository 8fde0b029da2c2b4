from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.models import Membership
from annotator.services.projects import remove_member, set_member
from api.access import Capability, get_member_project, member_projects, require
from api.serializers.projects import MemberSerializer


class MemberListView(generics.ListCreateAPIView[Membership]):
    serializer_class = MemberSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[Membership]:
        project, _ = get_member_project(self.request.user, self.kwargs["pk"])
        return project.memberships.select_related("user")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project, role = get_member_project(request.user, kwargs["pk"])
        require(role, Capability.MANAGE)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = set_member(
            project,
            serializer.validated_data["user"]["username"],
            serializer.validated_data["role"],
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(generics.RetrieveUpdateDestroyAPIView[Membership]):
    serializer_class = MemberSerializer

    def get_queryset(self) -> QuerySet[Membership]:
        return Membership.objects.filter(
            project__in=member_projects(self.request.user)
        ).select_related("user", "project")

    def get_object(self) -> Membership:
        membership = super().get_object()
        if self.request.method not in ("GET", "HEAD", "OPTIONS"):
            _, role = get_member_project(self.request.user, membership.project_id)
            require(role, Capability.MANAGE)
        return membership

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        membership = self.get_object()
        role = request.data.get("role") if hasattr(request.data, "get") else None
        updated = set_member(membership.project, membership.user.username, str(role))
        return Response(MemberSerializer(updated).data)

    def perform_destroy(self, instance: Membership) -> None:
        remove_member(instance)
