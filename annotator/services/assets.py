"""Uploading assets: validate completely, then store files and rows together."""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass, field
from functools import partial
from typing import IO

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import QuerySet

from annotator.errors import InvalidInput, TooLarge
from annotator.media import MediaError, inspect_image, sha256_of, sniff_kind
from annotator.models import Asset, AssetKind, AssetStatus, EmbeddingStatus, Frame, Project
from annotator.services.jobs import start_job
from annotator.video import VideoInfo, VideoLimits, probe

logger = logging.getLogger(__name__)

# Kinds whose ingestion (decoding into frames or points) exists in this version.
INGESTIBLE_KINDS = {AssetKind.IMAGE, AssetKind.VIDEO}


def _clean_name(name: str | None) -> str:
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    return (base or "upload")[:255]


def storage_name(name: str, max_bytes: int = 100) -> str:
    """The asset's name as a file name every storage accepts: filesystems refuse names
    over 255 bytes (80 CJK characters are 240), so the stem is cut to ``max_bytes`` of
    UTF-8 (the asset keeps its full ``name``)."""
    stem, ext = os.path.splitext(name)
    ext = ext if len(ext.encode()) <= 16 else ""
    budget = max_bytes - len(ext.encode())
    stem = stem.encode()[:budget].decode("utf-8", errors="ignore") or "upload"
    return stem + ext


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
    if kind == AssetKind.VIDEO:
        return _ingest_video(project, upload, stream, user)
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
        asset.file.save(
            f"{checksum[:16]}-{storage_name(name)}", ContentFile(stream.read()), save=False
        )
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


def video_limits() -> VideoLimits:
    return VideoLimits(
        max_frames=settings.VIDEO_MAX_FRAMES,
        max_pixels=settings.VIDEO_MAX_PIXELS,
        zip_max_members=settings.VIDEO_ZIP_MAX_MEMBERS,
        zip_max_bytes=settings.VIDEO_ZIP_MAX_MB * 1024 * 1024,
    )


def _ingest_video(
    project: Project, upload: UploadedFile, stream: IO[bytes], user: User | None
) -> Asset:
    """A video file or a zip of images: only the header is read here (refused when it
    shows the file cannot be a video within the limits); the ``ingest`` job decodes the
    frames. No embedding job: a video's frames are embedded on demand, one at a time."""
    try:
        info: VideoInfo = probe(stream, video_limits())
    except MediaError as exc:
        raise InvalidInput(str(exc), exc.code) from None
    checksum = sha256_of(stream)
    name = _clean_name(upload.name)
    asset = Asset(
        project=project,
        kind=AssetKind.VIDEO,
        name=name,
        checksum=checksum,
        size_bytes=upload.size or 0,
        width=info.width,
        height=info.height,
        num_frames=info.num_frames,
        fps=info.fps,
        metadata=info.metadata,
        status=AssetStatus.PROCESSING,
        uploaded_by=user,
    )
    try:
        stream.seek(0)
        # The upload itself, not its bytes: stored in chunks (or moved, when spooled to
        # a temporary file), never read whole into memory.
        asset.file.save(f"{checksum[:16]}-{storage_name(name)}", upload, save=False)
        with transaction.atomic():
            asset.save()
            start_job(project=project, kind="ingest", user=user, asset=asset)
    except Exception:
        if asset.file.name:
            try:
                asset.file.storage.delete(asset.file.name)
            except Exception:
                logger.warning("could not remove %s after a failed upload", asset.file.name)
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
    """Delete the row (cascading to frames, annotations and jobs) and, once that
    commits, its files: original, display rendering, thumbnail, frame images and cached
    engine states (``remove_files``).

    Only the row of this very upload goes (same id, same stored original): a copy whose
    row never committed (an import rolled back) takes no other asset with it, and only
    its own named files."""
    with transaction.atomic():
        rows = Asset.objects.select_for_update().filter(pk=asset.pk, file=asset.file.name)
        files = files_of_assets(rows)
        if files.asset_ids:
            rows.delete()
        own = (asset.file, asset.display_file, asset.thumbnail)
        files.paths.update(str(f.name) for f in own if f)
        remove_files_on_commit(files)


def display_path(asset: Asset) -> str:
    """Storage path of the 8-bit image the UI and engines read."""
    return str(asset.display_file.name if asset.display_file else asset.file.name)


# --- the files of deleted assets and projects --------------------------------------------
# Where workers store what they derive from an asset: the layout of
# ``workers.engines.embedding_cache.embedding_key`` (the web side never imports workers;
# tests/api/test_media_cleanup.py pins the two together).
EMBEDDINGS_DIR = "embeddings"


def thumbnail_name(asset: Asset) -> str:
    """Storage name of an asset's thumbnail (written by the ``thumbnail`` job)."""
    return f"assets/thumbnails/{asset.pk}-{asset.checksum[:16]}.jpg"


def frames_folder(asset_id: int) -> str:
    """Storage folder of a video's frame images (written by the ``ingest`` job as
    ``{index:06d}.jpg``, or ``.png`` for a zip's PNG frames)."""
    return f"assets/frames/{asset_id}"


@dataclass
class StoredFiles:
    """Media files to remove once a delete commits: ``paths`` one by one, ``folders``
    with everything under them, and the cached engine states of ``asset_ids``."""

    paths: set[str] = field(default_factory=set)
    folders: set[str] = field(default_factory=set)
    asset_ids: set[int] = field(default_factory=set)


def files_of_assets(assets: QuerySet[Asset]) -> StoredFiles:
    """Every file of ``assets``, read from their rows: call it in the transaction that
    deletes them, once they are locked, so a worker's later write is either seen here or
    finds the row gone (and removes its file itself)."""
    files = StoredFiles()
    for pk, kind, checksum, *names in assets.values_list(
        "pk", "kind", "checksum", "file", "display_file", "thumbnail"
    ):
        files.asset_ids.add(pk)
        if kind == AssetKind.VIDEO:
            # Also the frames an ingest job is still writing, that have no row yet.
            files.folders.add(frames_folder(pk))
        files.paths.update(str(name) for name in names if name)
        # The thumbnail job's name, also when the row does not name it yet.
        files.paths.add(thumbnail_name(Asset(pk=pk, checksum=checksum)))
    # A video's frames are all in its folder: not listed one by one (thousands of rows).
    others = files.asset_ids - {int(f.rsplit("/", 1)[1]) for f in files.folders}
    if others:
        frames = Frame.objects.filter(asset_id__in=others).exclude(image="")
        files.paths.update(str(name) for name in frames.values_list("image", flat=True))
    return files


def remove_files_on_commit(files: StoredFiles) -> None:
    """Remove ``files`` once the current transaction commits (at once outside one);
    nothing when it rolls back."""
    transaction.on_commit(partial(remove_files, files))


def remove_files(files: StoredFiles, storage: Storage | None = None) -> None:
    """Remove ``files`` from media storage through the storage API (local files, S3; a
    name that is not there is no error). Never raises: the delete has committed, so a
    file that cannot be removed is logged and left."""
    storage = storage or default_storage
    try:
        for path in sorted(files.paths):
            _remove(storage, path)
        for folder in sorted(files.folders):
            _remove_folder(storage, folder)
        if files.asset_ids:
            for model in _listdir(storage, EMBEDDINGS_DIR)[0]:
                for pk in sorted(files.asset_ids):
                    _remove_folder(storage, f"{EMBEDDINGS_DIR}/{model}/{pk}")
    except Exception:
        logger.exception("removing the files of a deleted asset or project stopped")


def _remove(storage: Storage, path: str) -> None:
    try:
        storage.delete(path)
    except FileNotFoundError:
        pass
    except Exception:
        logger.warning("could not remove %s from media storage", path, exc_info=True)


def _listdir(storage: Storage, folder: str) -> tuple[list[str], list[str]]:
    try:
        folders, names = storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return [], []
    except Exception:
        logger.warning("could not list %s in media storage", folder, exc_info=True)
        return [], []
    return list(folders), list(names)


def _remove_folder(storage: Storage, folder: str) -> None:
    """Remove every file under ``folder``, then the folder itself where folders exist
    (a local file system; object stores have none)."""
    folders, names = _listdir(storage, folder)
    for name in names:
        _remove(storage, f"{folder}/{name}")
    for sub in folders:
        _remove_folder(storage, f"{folder}/{sub}")
    # No folders (an object store), gone already, or a worker wrote into it meanwhile.
    with contextlib.suppress(NotImplementedError, OSError):
        os.rmdir(storage.path(folder))
