from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, QuerySet, RestrictedError
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from annotator.errors import Conflict, InvalidInput
from annotator.models import LabelClass
from annotator.services.projects import add_label
from api.access import Capability, get_member_project, member_projects, require
from api.serializers.projects import LabelSerializer


class LabelListView(generics.ListCreateAPIView[LabelClass]):
    serializer_class = LabelSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[LabelClass]:
        project, _ = get_member_project(self.request.user, self.kwargs["pk"])
        return project.labels.all()

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        project, role = get_member_project(request.user, kwargs["pk"])
        require(role, Capability.MANAGE)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        label = add_label(
            project, serializer.validated_data["name"], serializer.validated_data.get("color")
        )
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)


class LabelDetailView(generics.RetrieveUpdateDestroyAPIView[LabelClass]):
    serializer_class = LabelSerializer

    def get_queryset(self) -> QuerySet[LabelClass]:
        projects = member_projects(self.request.user)
        return LabelClass.objects.filter(project__in=projects)

    def get_object(self) -> LabelClass:
        label = super().get_object()
        if self.request.method not in ("GET", "HEAD", "OPTIONS"):
            _, role = get_member_project(self.request.user, label.project_id)
            require(role, Capability.MANAGE)
        return label

    def perform_update(self, serializer: BaseSerializer[LabelClass]) -> None:
        data = serializer.validated_data
        if "name" in data:
            data["name"] = data["name"].strip()
            if not data["name"]:
                raise InvalidInput("a label needs a name", "invalid_label")
        if "color" in data:
            data["color"] = data["color"].lower()
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError:
            raise Conflict(
                f"the project already has a label named {data.get('name')!r}", "duplicate_label"
            ) from None

    def perform_destroy(self, instance: LabelClass) -> None:
        try:
            instance.delete()
        except (ProtectedError, RestrictedError):
            raise Conflict(
                "the label is used by annotations; relabel or delete them first", "label_in_use"
            ) from None
