"""``POST /api/projects/{id}/proposals/``: the project model's masks on unlabelled frames."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.services.proposals import start_proposals
from api.access import Capability
from api.permissions import InProject
from api.schema import JSON
from api.serializers.jobs import JobStartedSerializer
from api.serializers.learning import ProposalsRequestSerializer


class ProposalsView(InProject):
    """A ``proposals`` job: on every target frame without annotations, the model's masks
    (refined by the interactive engine) as ``source: generated``, ``review_status:
    pending``, with a ``score``."""

    capabilities = {"POST": Capability.ANNOTATE}

    @extend_schema(
        request={JSON: ProposalsRequestSerializer}, responses={202: JobStartedSerializer}
    )
    def post(self, request: Request, pk: int) -> Response:
        body = request.data if request.data else {}
        job = start_proposals(self.project, cast(User, request.user), body)
        return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)
