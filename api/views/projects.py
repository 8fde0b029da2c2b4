from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.models import Membership, Project
from annotator.services.projects import create_project, delete_project
from api.access import member_projects
from api.permissions import OWNERS_CHANGE, InProject
from api.serializers.projects import ProjectSerializer, ProjectUpdateSerializer


def _roles(user_id: int) -> dict[int, str]:
    return dict(Membership.objects.filter(user_id=user_id).values_list("project_id", "role"))


class ProjectListView(generics.ListCreateAPIView[Project]):
    # Outside any project: anyone signed in lists their projects and creates new ones.
    permission_classes = [IsAuthenticated]
    serializer_class = ProjectSerializer

    def get_queryset(self) -> QuerySet[Project]:
        return (
            member_projects(self.request.user)
            .prefetch_related("labels")
            .annotate(num_assets=Count("assets", distinct=True))
            .order_by("id")
        )

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "roles": _roles(self.request.user.pk or 0)}

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = create_project(
            request.user,  # type: ignore[arg-type]
            data["name"],
            data.get("description", ""),
            data.get("labels", []),
        )
        body = ProjectSerializer(project, context={"roles": {project.pk: "owner"}}).data
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema_view(
    put=extend_schema(request=ProjectUpdateSerializer),
    patch=extend_schema(request=ProjectUpdateSerializer),
)
class ProjectDetailView(InProject, generics.RetrieveUpdateDestroyAPIView[Project]):
    serializer_class = ProjectSerializer
    capabilities = OWNERS_CHANGE

    def get_object(self) -> Project:
        return self.project

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "roles": _roles(self.request.user.pk or 0)}

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project = self.get_object()
        serializer = ProjectUpdateSerializer(
            project, data=request.data, partial=kwargs.get("partial", False)
        )
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(ProjectSerializer(project, context=self.get_serializer_context()).data)

    def perform_destroy(self, instance: Project) -> None:
        delete_project(instance)
