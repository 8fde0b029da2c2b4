from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.models import Asset
from annotator.services.predict import request_prediction
from api.access import Capability
from api.schema import JSON, RETRY_AFTER, errors
from api.serializers.predict import PredictRequestSerializer, PredictResponseSerializer
from api.views.assets import OnAsset


class PredictView(OnAsset, generics.GenericAPIView[Asset]):
    """Click -> mask through the ``interactive`` queue (see docs/api.md)."""

    capabilities = {"POST": Capability.ANNOTATE}
    serializer_class = PredictRequestSerializer  # type: ignore[assignment]  # for OPTIONS
    # A click's body is small: a tight limit keeps one client from tying up a web
    # process parsing megabytes (api/parsers.py answers 413 body_too_large).
    max_body_setting = "PREDICT_MAX_BODY_BYTES"

    @extend_schema(
        request={JSON: PredictRequestSerializer},
        responses={200: PredictResponseSerializer, **errors(502, 503)},
        parameters=[RETRY_AFTER],
    )
    def post(self, request: Request, pk: int) -> Response:
        # One query for the asset and the caller's role (annotated by member_objects):
        # this view is on the click path.
        return Response(request_prediction(self.get_object(), request.data))
