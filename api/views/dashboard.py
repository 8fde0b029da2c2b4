"""``GET /api/projects/{id}/dashboard/``: counts, label distribution, queue, model and
the label-efficiency curve."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.services.progress import dashboard
from api.permissions import READ_ONLY, InProject
from api.serializers.learning import DashboardSerializer


class DashboardView(InProject):
    """The project's labelling progress at a glance (every member)."""

    capabilities = READ_ONLY

    @extend_schema(responses=DashboardSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(dashboard(self.project))
