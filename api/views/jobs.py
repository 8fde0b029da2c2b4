from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.models import Job
from annotator.services.jobs import cancel_job
from api.access import Capability, can, get_member_project, member_projects
from api.serializers.jobs import JobSerializer


def member_jobs(request: Request) -> QuerySet[Job]:
    return Job.objects.filter(project__in=member_projects(request.user))


class ProjectJobListView(generics.ListAPIView[Job]):
    serializer_class = JobSerializer

    def get_queryset(self) -> QuerySet[Job]:
        project, _ = get_member_project(self.request.user, self.kwargs["pk"])
        queryset = project.jobs.all()
        wanted = self.request.query_params.get("status")
        if wanted:
            queryset = queryset.filter(status__in=wanted.split(","))
        kind = self.request.query_params.get("kind")
        if kind:
            queryset = queryset.filter(kind=kind)
        return queryset.order_by("-id")


class JobDetailView(generics.RetrieveAPIView[Job]):
    serializer_class = JobSerializer

    def get_queryset(self) -> QuerySet[Job]:
        return member_jobs(self.request)


class JobCancelView(APIView):
    @extend_schema(request=None, responses=JobSerializer)
    def post(self, request: Request, pk: int) -> Response:
        job = get_object_or_404(member_jobs(request), pk=pk)
        _, role = get_member_project(request.user, job.project_id)
        if not (can(role, Capability.MANAGE) or job.created_by_id == request.user.pk):
            raise PermissionDenied("only the job's creator or a project owner can cancel it")
        return Response(JobSerializer(cancel_job(job)).data)
