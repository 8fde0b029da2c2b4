"""``POST /api/assets/{id}/propagate/``: carry an annotation's mask through the video."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.errors import InvalidInput
from annotator.models import Annotation, Asset
from annotator.services.propagation import start_propagation
from api.access import Capability
from api.schema import JSON, errors
from api.serializers.jobs import JobStartedSerializer
from api.serializers.propagation import PropagateRequestSerializer
from api.views.assets import OnAsset


class PropagateView(OnAsset, generics.GenericAPIView[Asset]):
    capabilities = {"POST": Capability.ANNOTATE}
    serializer_class = PropagateRequestSerializer  # type: ignore[assignment]  # for OPTIONS

    @extend_schema(
        request={JSON: PropagateRequestSerializer},
        responses={202: JobStartedSerializer, **errors(409)},
    )
    def post(self, request: Request, pk: int) -> Response:
        asset = self.get_object()
        serializer = PropagateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        annotation = (
            Annotation.objects.select_related("asset__project")
            .filter(pk=data["annotation"], asset=asset)
            .first()
        )
        if annotation is None:
            # Another asset's annotation (of any project) is the same answer as none.
            raise InvalidInput(
                f"annotation {data['annotation']} is not an annotation of this asset",
                "unknown_annotation",
            )
        job = start_propagation(
            annotation,
            user=cast(User, request.user),
            direction=data["direction"],
            end_frame=data.get("end_frame"),
            threshold=data.get("threshold"),
            engine=data["engine"],
        )
        return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)
