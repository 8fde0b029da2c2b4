from __future__ import annotations

from django.db.models import F
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.models import Asset
from annotator.services.predict import request_prediction
from api.access import Capability, require


class PredictView(APIView):
    """Click -> mask through the ``interactive`` queue (see docs/api.md)."""

    @extend_schema(request=dict, responses={200: dict})
    def post(self, request: Request, pk: int) -> Response:
        # One query for the asset and the caller's role: this view is on the click path.
        asset = get_object_or_404(
            Asset.objects.filter(project__memberships__user_id=request.user.pk or 0).annotate(
                role=F("project__memberships__role")
            ),
            pk=pk,
        )
        require(getattr(asset, "role", None), Capability.ANNOTATE)
        return Response(request_prediction(asset, request.data))
