from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.models import Job
from annotator.services.jobs import cancel_job
from api.permissions import READ_ONLY, InProject, OnProjectObject, manager_or_creator
from api.serializers.jobs import JobSerializer


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("status", str, description="Only jobs in these states (`a,b`)."),
            OpenApiParameter("kind", str, description="Only jobs of this kind."),
        ]
    )
)
class ProjectJobListView(InProject, generics.ListAPIView[Job]):
    serializer_class = JobSerializer
    capabilities = READ_ONLY

    def get_queryset(self) -> QuerySet[Job]:
        queryset = self.project.jobs.all()
        wanted = self.request.query_params.get("status")
        if wanted:
            queryset = queryset.filter(status__in=wanted.split(","))
        kind = self.request.query_params.get("kind")
        if kind:
            queryset = queryset.filter(kind=kind)
        return queryset.order_by("-id")


class JobDetailView(OnProjectObject, generics.RetrieveAPIView[Job]):
    serializer_class = JobSerializer
    capabilities = READ_ONLY

    def get_queryset(self) -> QuerySet[Job]:
        return self.member_objects(Job.objects.all())


class JobCancelView(OnProjectObject, generics.GenericAPIView[Job]):
    serializer_class = JobSerializer  # what OPTIONS describes (the answer; no body is read)
    capabilities = {"POST": manager_or_creator}

    def get_queryset(self) -> QuerySet[Job]:
        return self.member_objects(Job.objects.all())

    @extend_schema(request=None, responses=JobSerializer)
    def post(self, request: Request, pk: int) -> Response:
        return Response(JobSerializer(cancel_job(self.get_object())).data)
