from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.services.predict import request_prediction
from api.access import Capability, get_member_project, require
from api.views.assets import member_assets


class PredictView(APIView):
    """Click -> mask through the ``interactive`` queue (see docs/api.md)."""

    @extend_schema(request=dict, responses={200: dict})
    def post(self, request: Request, pk: int) -> Response:
        asset = get_object_or_404(member_assets(request), pk=pk)
        _, role = get_member_project(request.user, asset.project_id)
        require(role, Capability.ANNOTATE)
        return Response(request_prediction(asset, request.data))
