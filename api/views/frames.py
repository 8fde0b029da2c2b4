"""Frame images and thumbnails, streamed from media storage after a membership check."""

from __future__ import annotations

import mimetypes

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotFound
from rest_framework.request import Request

from annotator.models import Asset, AssetKind, AssetStatus
from annotator.services.assets import display_path
from api.permissions import READ_ONLY
from api.views.assets import OnAsset

_FORMAT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "MPO": "image/jpeg"}


def _stream(path: str, storage_file: object, content_type: str | None = None) -> FileResponse:
    content_type = content_type or mimetypes.guess_type(path)[0] or "application/octet-stream"
    response = FileResponse(storage_file, content_type=content_type)
    # Frames never change under the same URL+checksum; let the browser keep them a while.
    response["Cache-Control"] = "private, max-age=3600"
    return response


class FrameImageView(OnAsset, generics.GenericAPIView[Asset]):
    capabilities = READ_ONLY

    @extend_schema(responses={(200, "image/png"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int, index: int) -> FileResponse:
        asset = self.get_object()
        if asset.status == AssetStatus.FAILED and asset.kind == AssetKind.VIDEO:
            raise NotFound(f"the video could not be read: {asset.error}", code="asset_failed")
        frame = asset.frames.filter(index=index).first()
        field = frame.image if frame is not None and frame.image else None
        # While a video is decoded, ``num_frames`` is the header's estimate (0 when it
        # gave none) and its frames appear in order, a batch at a time.
        decoding = asset.kind == AssetKind.VIDEO and asset.status == AssetStatus.PROCESSING
        unknown_length = decoding and asset.num_frames == 0
        if index >= asset.num_frames and not (decoding and field) and not unknown_length:
            raise NotFound(
                f"frame {index} is out of range: the asset has {asset.num_frames} frame(s)",
                code="frame_out_of_range",
            )
        if field is None and asset.kind == AssetKind.VIDEO:
            if not decoding:
                raise NotFound("the frame image is not available", code="frame_missing")
            raise NotFound(
                f"frame {index} is not decoded yet: the video is still being processed",
                code="frame_not_ready",
            )
        path = field.name if field else display_path(asset)
        content_type = None
        if field is None:
            # The stored name keeps the uploader's file name, which may say nothing (or
            # lie) about the format; the format was detected at upload.
            fmt = "PNG" if asset.display_file else str(asset.metadata.get("format", ""))
            content_type = _FORMAT_TYPES.get(fmt)
        storage = asset.file.storage
        if not path or not storage.exists(path):
            raise NotFound("the frame image is not available", code="frame_missing")
        return _stream(str(path), storage.open(path, "rb"), content_type)


class ThumbnailView(OnAsset, generics.GenericAPIView[Asset]):
    capabilities = READ_ONLY

    @extend_schema(responses={(200, "image/jpeg"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> FileResponse:
        asset = self.get_object()
        if not asset.thumbnail:
            raise NotFound("the thumbnail is not ready yet", code="thumbnail_not_ready")
        return _stream(str(asset.thumbnail.name), asset.thumbnail.open("rb"))
