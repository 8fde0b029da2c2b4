from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.models import Asset
from annotator.services.predict import request_prediction
from api.access import Capability
from api.views.assets import OnAsset


class PredictView(OnAsset, generics.GenericAPIView[Asset]):
    """Click -> mask through the ``interactive`` queue (see docs/api.md)."""

    capabilities = {"POST": Capability.ANNOTATE}

    @extend_schema(request=dict, responses={200: dict})
    def post(self, request: Request, pk: int) -> Response:
        # One query for the asset and the caller's role (annotated by member_objects):
        # this view is on the click path.
        return Response(request_prediction(self.get_object(), request.data))
