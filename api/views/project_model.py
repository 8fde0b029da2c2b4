"""``/api/projects/{id}/model/``: the project model's state, its settings and training."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.errors import InvalidInput
from annotator.services.project_model import model_state, set_retrain_after, start_training
from api.access import Capability
from api.permissions import InProject
from api.schema import JSON
from api.serializers.jobs import JobStartedSerializer
from api.serializers.learning import ModelSettingsSerializer, ModelStateSerializer


class ProjectModelView(InProject):
    """The latest trained version, whether one is training, and every version's figures."""

    capabilities = {"PATCH": Capability.MANAGE}

    @extend_schema(responses=ModelStateSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(model_state(self.project))

    @extend_schema(request={JSON: ModelSettingsSerializer}, responses=ModelStateSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        body: Any = request.data
        if not isinstance(body, dict) or "retrain_after" not in body:
            raise InvalidInput("give retrain_after", "invalid_retrain_after")
        set_retrain_after(self.project, body["retrain_after"])
        return Response(model_state(self.project))


class TrainView(InProject):
    """Train a new version of the project model on every label (a ``train`` job)."""

    capabilities = {"POST": Capability.ANNOTATE}

    @extend_schema(request=None, responses={202: JobStartedSerializer})
    def post(self, request: Request, pk: int) -> Response:
        job = start_training(self.project, cast(User, request.user))
        return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)
