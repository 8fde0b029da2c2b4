"""Uploading assets: validate completely, then store files and rows together."""

from __future__ import annotations

import logging
import os
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from annotator.errors import InvalidInput, TooLarge
from annotator.media import MediaError, inspect_image, sha256_of, sniff_kind
from annotator.models import Asset, AssetKind, AssetStatus, EmbeddingStatus, Frame, Project
from annotator.services.jobs import start_job

logger = logging.getLogger(__name__)

# Kinds whose ingestion (decoding into frames or points) exists in this version.
INGESTIBLE_KINDS = {AssetKind.IMAGE}


def _clean_name(name: str | None) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    return (base or "upload")[:255]


def ingest_upload(
    project: Project, upload: UploadedFile, user: User | None, kind: str | None = None
) -> Asset:
    """Validate an uploaded file and store it as a new asset.

    Nothing is stored unless the whole file checks out; files written before a failing
    database insert are removed again. A thumbnail job (and, when an engine caches
    per-image state, an embedding job) are queued after the commit."""
    size = upload.size or 0
    if size > settings.MAX_UPLOAD_BYTES:
        raise TooLarge(
            f"the file is {size} bytes, the limit is {settings.MAX_UPLOAD_MB} MB", "file_too_large"
        )
    if size == 0:
        raise InvalidInput("the file is empty", "empty_file")
    stream: IO[bytes] = upload.file  # type: ignore[assignment]
    stream.seek(0)
    head = stream.read(64)
    stream.seek(0)
    detected = sniff_kind(head)
    if kind is None:
        kind = detected
    if kind is None:
        raise InvalidInput("cannot tell what kind of file this is", "unknown_kind")
    if kind not in AssetKind.values:
        raise InvalidInput(f"kind must be one of {', '.join(AssetKind.values)}", "invalid_kind")
    if kind not in INGESTIBLE_KINDS:
        raise InvalidInput(
            f"uploading {kind} assets is not supported by this server version yet",
            "unsupported_kind",
        )
    try:
        inspected = inspect_image(stream, settings.MAX_IMAGE_PIXELS)
    except MediaError as exc:
        raise InvalidInput(str(exc), exc.code) from None
    checksum = sha256_of(stream)
    name = _clean_name(upload.name)

    asset = Asset(
        project=project,
        kind=kind,
        name=name,
        checksum=checksum,
        size_bytes=size,
        width=inspected.width,
        height=inspected.height,
        num_frames=1,
        metadata=inspected.metadata,
        status=AssetStatus.PROCESSING,
        uploaded_by=user,
    )
    written: list[str] = []
    try:
        stream.seek(0)
        asset.file.save(f"{checksum[:16]}-{name}", ContentFile(stream.read()), save=False)
        written.append(str(asset.file.name))
        if inspected.display_png is not None:
            asset.display_file.save(
                f"{checksum[:16]}.png", ContentFile(inspected.display_png), save=False
            )
            written.append(str(asset.display_file.name))
        with transaction.atomic():
            asset.save()
            Frame.objects.create(
                asset=asset, index=0, width=inspected.width, height=inspected.height
            )
            start_job(
                project=project,
                kind="thumbnail",
                user=user,
                asset=asset,
            )
            queue_embedding(asset, user)
    except Exception:
        for path in written:
            try:
                asset.file.storage.delete(path)
            except Exception:
                logger.warning("could not remove %s after a failed upload", path, exc_info=True)
        raise
    return asset


def queue_embedding(asset: Asset, user: User | None = None) -> None:
    """Ask the ``embed`` queue to prepare the default engine's per-image state."""
    Asset.objects.filter(pk=asset.pk).update(embedding_status=EmbeddingStatus.QUEUED)
    asset.embedding_status = EmbeddingStatus.QUEUED
    start_job(
        project=asset.project,
        kind="embed",
        user=user,
        asset=asset,
    )


def delete_asset(asset: Asset) -> None:
    """Delete the row (cascading to frames and annotations), then its files."""
    paths = [str(f.name) for f in (asset.file, asset.display_file, asset.thumbnail) if f]
    storage = asset.file.storage
    with transaction.atomic():
        asset.delete()
    for path in paths:
        try:
            storage.delete(path)
        except Exception:
            logger.warning("could not remove %s", path, exc_info=True)


def display_path(asset: Asset) -> str:
    """Storage path of the 8-bit image the UI and engines read."""
    return str(asset.display_file.name if asset.display_file else asset.file.name)
