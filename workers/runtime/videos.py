"""The ``ingest`` job: decode a video (or a zip of images) into one stored image and one
``Frame`` row per frame, then mark the asset ready.

Streaming: one decoded frame in memory at a time (``annotator.video.decode_frames``),
frame rows inserted in batches, progress reported with each batch. Frames are stored
under ``assets/frames/{asset id}/`` (``frames_folder``) as ``{index:06d}.jpg`` (or a
zip's PNG frames as they are), which the frame view streams straight from storage.

Any run may be a rerun (a cancelled or lost earlier run): it starts by removing that
asset's earlier frames. A run that fails removes what it wrote and marks the asset
``failed`` with ``error`` and ``error_code``; a run whose asset was deleted meanwhile
removes what it wrote after the delete.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage
from django.db import IntegrityError, transaction

from annotator import task_routes
from annotator.media import make_thumbnail as render_thumbnail
from annotator.models import Asset, AssetStatus, Frame, Job
from annotator.services.assets import (
    StoredFiles,
    frames_folder,
    remove_files,
    thumbnail_name,
    video_limits,
)
from annotator.video import DecodeReport, Source, VideoError, decode_frames
from workers.runtime.lifecycle import (
    DB_CONNECTION_ERRORS,
    JobCancelled,
    JobFailed,
    JobRun,
    job_task,
    on_given_up,
)

logger = logging.getLogger(__name__)

#: Frame rows are inserted, and progress reported, every this many frames: about a
#: third of a second of work at 854x480, so frames appear in the UI while it runs.
BATCH_SIZE = 25


class _AssetGone(Exception):
    """The asset was deleted while its frames were being written."""


@job_task(task_routes.INGEST_VIDEO)
def ingest_video(run: JobRun) -> None:
    """Decode the job's asset into frames. Fails (asset and job) with the decoder's code:
    ``corrupt_video``, ``no_frames``, ``too_many_frames``, ``corrupt_frame``,
    ``mixed_frame_sizes``, ..., or ``cancelled`` when the user cancelled it."""
    asset = Asset.objects.filter(pk=run.job.asset_id or 0).first()
    if asset is None:
        run.result = {"skipped": "the asset was deleted"}
        return
    storage = asset.file.storage
    discard_frames(asset, storage)  # an earlier run's, cancelled or lost midway
    try:
        _ingest(run, asset, storage)
    except VideoError as exc:
        discard_frames(asset, storage)
        mark_failed(asset.pk, str(exc), exc.code)
        raise JobFailed(f"{exc.code}: {exc}") from None
    except JobCancelled:
        # Taken for lost and handed to another delivery: that run starts over and owns
        # the frames now. Otherwise cancelled by the user, or the asset was deleted.
        if not run.handed_over():
            discard_frames(asset, storage)
            mark_failed(asset.pk, "the ingest job was cancelled", "cancelled")
        raise
    except _AssetGone:
        discard_frames(asset, storage)
        run.result = {"skipped": "the asset was deleted"}
    except DB_CONNECTION_ERRORS:
        raise  # run again while claims remain; the next run starts over
    except Exception:
        discard_frames(asset, storage)
        mark_failed(
            asset.pk,
            "internal_error: the video could not be processed; the worker's log has details",
            "internal_error",
        )
        raise


def _ingest(run: JobRun, asset: Asset, storage: Storage) -> None:
    report = DecodeReport()
    folder = frames_folder(asset.pk)
    expected = asset.num_frames  # the header's count (0 when it gave none)
    batch: list[Frame] = []
    count, size, thumbnail = 0, (0, 0), ""
    with _source(storage, str(asset.file.name)) as source:
        for frame in decode_frames(source, video_limits(), report):
            name = _put(storage, f"{folder}/{frame.index:06d}{frame.extension}", frame.data)
            if frame.index == 0:
                size = (frame.width, frame.height)
                small = render_thumbnail(io.BytesIO(frame.data), settings.THUMBNAIL_SIZE)
                thumbnail = _put(storage, thumbnail_name(asset), small)
            batch.append(
                Frame(
                    asset_id=asset.pk,
                    index=frame.index,
                    timestamp=frame.timestamp,
                    image=name,
                    width=frame.width,
                    height=frame.height,
                )
            )
            count += 1
            if len(batch) >= BATCH_SIZE:
                _insert(run, asset.pk, batch)
                total = max(expected, count)
                run.progress(min(0.99, count / max(total, 1)), f"frame {count}/{total}")
    _insert(run, asset.pk, batch)
    metadata: dict[str, Any] = {**asset.metadata, **report.metadata, "rotation": report.rotation}
    if report.stopped or (expected and count < expected):
        # A truncated or damaged file: the frames before the damage are kept.
        metadata["decode_stopped"] = report.stopped or f"{count} of {expected} frames decoded"
    result = {
        "frames": count,
        "fps": report.fps,
        "width": size[0],
        "height": size[1],
        "rotation": report.rotation,
        "stopped": metadata.get("decode_stopped"),
    }
    with transaction.atomic():
        updated = Asset.objects.filter(pk=asset.pk).update(
            status=AssetStatus.READY,
            num_frames=count,
            width=size[0],
            height=size[1],
            fps=report.fps,
            metadata=metadata,
            thumbnail=thumbnail,
            error="",
            error_code="",
        )
        if not updated:
            raise _AssetGone
        run.finish_in_transaction(result)


@contextmanager
def _source(storage: Storage, name: str) -> Iterator[Source]:
    """A local path where the storage has one (FFmpeg reads it natively), else a
    seekable stream (an object store's file, spooled to a temporary file)."""
    try:
        path = storage.path(name)
    except NotImplementedError:
        with storage.open(name, "rb") as stream:
            yield stream
        return
    yield path


def _put(storage: Storage, name: str, data: bytes) -> str:
    """Store ``data`` under exactly ``name`` (a rerun overwrites; the storage would
    otherwise pick another name)."""
    if storage.exists(name):
        storage.delete(name)
    return storage.save(name, ContentFile(data))


def _insert(run: JobRun, asset_id: int, batch: list[Frame]) -> None:
    if not batch:
        return
    try:
        Frame.objects.bulk_create(batch)
    except IntegrityError:
        if not Asset.objects.filter(pk=asset_id).exists():
            raise _AssetGone from None
        if run.handed_over():  # another run wrote these frames meanwhile
            raise JobCancelled(f"job {run.lease.job_id} was handed over") from None
        raise
    batch.clear()


def discard_frames(asset: Asset, storage: Storage | None = None) -> None:
    """Remove the asset's frame rows, frame images and thumbnail."""
    Frame.objects.filter(asset_id=asset.pk).delete()
    files = StoredFiles(paths={thumbnail_name(asset)}, folders={frames_folder(asset.pk)})
    remove_files(files, storage or default_storage)


def mark_failed(asset_id: int, error: str, code: str) -> None:
    Asset.objects.filter(pk=asset_id).update(
        status=AssetStatus.FAILED,
        error=error[:2000],
        error_code=code[:64],
        num_frames=0,
        thumbnail="",
    )


@on_given_up("ingest")
def _given_up(job: Job) -> None:
    """The worker was lost on every attempt: nothing will finish this asset."""
    asset = Asset.objects.filter(pk=job.asset_id or 0).first()
    if asset is not None:
        discard_frames(asset, asset.file.storage)
        mark_failed(asset.pk, job.error or "the ingest job was given up", "worker_lost")
