"""``GET /api/assets/{id}/timeline/``: every track's frames in one compact answer, for
the workspace's timeline (markers per frame, the confidence strip)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.request import Request
from rest_framework.response import Response

from annotator.models import Asset
from api.permissions import READ_ONLY
from api.serializers.propagation import TimelineSerializer
from api.views.assets import OnAsset


class TimelineView(OnAsset, generics.GenericAPIView[Asset]):
    capabilities = READ_ONLY

    @extend_schema(responses=TimelineSerializer)
    def get(self, request: Request, pk: int) -> Response:
        asset = self.get_object()
        tracks: dict[int, dict[str, object]] = {}
        rows = asset.annotations.order_by("track", "frame", "id").values_list(
            "track", "label_id", "frame", "source", "review_status", "score", "id"
        )
        for track, label, frame, source, review, score, pk_ in rows.iterator(chunk_size=2000):
            entry = tracks.setdefault(track, {"track": track, "label": label, "frames": []})
            entry["frames"].append(  # type: ignore[attr-defined]
                [frame, source, review, None if score is None else round(score, 4), pk_]
            )
        timestamps: list[float | None] | None = None
        if asset.num_frames > 1:
            stamps = dict(asset.frames.values_list("index", "timestamp"))
            if any(v is not None for v in stamps.values()):
                timestamps = [stamps.get(i) for i in range(asset.num_frames)]
        return Response(
            {
                "num_frames": asset.num_frames,
                "fps": asset.fps,
                "timestamps": timestamps,
                "tracks": list(tracks.values()),
            }
        )
