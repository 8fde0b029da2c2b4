"""``POST /api/assets/{id}/prefetch/``: prepare the engine state of the frame being
viewed and its neighbours before the first click on them."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.errors import InvalidInput
from annotator.models import Asset
from annotator.services.embeddings import prefetch_frames
from api.access import Capability
from api.schema import JSON
from api.serializers.jobs import JobStartedSerializer
from api.serializers.propagation import PrefetchRequestSerializer
from api.views.assets import OnAsset


class PrefetchView(OnAsset, generics.GenericAPIView[Asset]):
    # It only spends worker time to make clicks faster: the people who click.
    capabilities = {"POST": Capability.ANNOTATE}
    serializer_class = PrefetchRequestSerializer  # type: ignore[assignment]  # for OPTIONS

    @extend_schema(
        request={JSON: PrefetchRequestSerializer},
        responses={202: JobStartedSerializer, 200: JobStartedSerializer},
        description="202 with the job that prepares the frames; 200 with `job: null` when "
        "there is nothing to prepare (a single image, an asset still processing).",
    )
    def post(self, request: Request, pk: int) -> Response:
        asset = self.get_object()
        serializer = PrefetchRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        frame = serializer.validated_data["frame"]
        if frame >= asset.num_frames:
            raise InvalidInput(
                f"frame {frame} is out of range: the asset has {asset.num_frames} frame(s)",
                "frame_out_of_range",
            )
        job = prefetch_frames(
            asset, frame, serializer.validated_data["radius"], cast(User, request.user)
        )
        if job is None:
            return Response({"job": None}, status=status.HTTP_200_OK)
        return Response({"job": job.pk}, status=status.HTTP_202_ACCEPTED)
