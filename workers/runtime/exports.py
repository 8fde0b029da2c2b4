"""The ``export`` job: a project's annotations streamed into a writer of
``workers.export`` (one still image's rows, or one chunk of a video's frames, in memory
at a time), zipped to a local file named after the job, then stored in media storage.
Frame images of videos are read from their ``Frame.image`` files."""

from __future__ import annotations

import logging
import os
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models import Q, QuerySet

from annotator import task_routes
from annotator.models import (
    Annotation,
    Asset,
    AssetKind,
    AssetStatus,
    Export,
    Frame,
    Interaction,
    Project,
)
from annotator.services.assets import display_path
from annotator.services.exports import delete_expired_exports
from workers.export import (
    ExportAnnotation,
    ExportCategory,
    ExportError,
    ExportImage,
    ExportVideo,
    Writer,
    build_writer,
)
from workers.runtime.lifecycle import JobFailed, JobRun, job_task

logger = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


#: Frames of a video read from the database at a time (their rows and annotations): the
#: memory of an export stays flat in the video's length.
FRAME_CHUNK = 256

_ANNOTATION_FIELDS = (
    "id",
    "frame",
    "track",
    "label_id",
    "mask",
    "source",
    "score",
    "review_status",
    "author__username",
    "version",
    "created",
)


def _reader(path: str) -> Callable[[], bytes]:
    def read() -> bytes:
        with default_storage.open(path, "rb") as stream:
            return bytes(stream.read())

    return read


def archive_stem(name: str) -> str:
    """The archive-safe stem of an asset's name (``"my clip.mp4"`` -> ``"my_clip"``):
    with the asset id in front, what its files are named after in an export."""
    return _UNSAFE.sub("_", os.path.splitext(name)[0])[:80] or "image"


def _image_name(asset: Asset) -> str:
    """A still image's archive name, ``images/<asset id>_<stem><ext>``."""
    ext = os.path.splitext(display_path(asset))[1].lower()
    ext = ext or os.path.splitext(asset.name)[1].lower() or ".png"
    return f"images/{asset.pk}_{archive_stem(asset.name)}{ext}"


def _frame_name(video: ExportVideo, index: int, image_path: str) -> str:
    """A frame's archive name, ``images/<asset id>_<stem>/<frame:05d><ext>``: one folder
    per video, so frames never collide and derived files (masks, labels) follow."""
    ext = os.path.splitext(image_path)[1].lower() or ".jpg"
    return f"images/{video.folder}/{index:05d}{ext}"


def _interactions(annotation_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The latest interaction (prompts + engine) of each annotation."""
    latest: dict[int, dict[str, Any]] = {}
    if not annotation_ids:
        return latest
    rows = (
        Interaction.objects.filter(annotation_id__in=annotation_ids)
        .order_by("id")
        .values("annotation_id", "prompts", "engine")
    )
    for row in rows:
        prompts = dict(row["prompts"] or {})
        prompts.setdefault("engine", row["engine"])
        latest[row["annotation_id"]] = prompts
    return latest


def _in_chunks(queryset: QuerySet[Asset], size: int) -> Iterator[Asset]:
    """The rows of ``queryset`` a chunk at a time, each chunk one query that is read to
    its end. Not ``.iterator()``: on SQLite its open cursor keeps a read snapshot, and the
    run's own progress write then fails with "database is locked" once another
    connection (a heartbeat) has written meanwhile."""
    ids = list(queryset.values_list("pk", flat=True))
    for start in range(0, len(ids), size):
        yield from queryset.model.objects.filter(pk__in=ids[start : start + size]).order_by("pk")


def _annotation_record(row: dict[str, Any], image_id: int, prompts: Any) -> ExportAnnotation:
    return ExportAnnotation(
        id=row["id"],
        image_id=image_id,
        category_id=row["label_id"],
        rle=row["mask"] or {},
        source=row["source"],
        score=row["score"],
        review_status=row["review_status"],
        author=row["author__username"],
        version=row["version"],
        created=row["created"].isoformat(),
        interaction=prompts,
        track=row["track"],
    )


class _ProjectExport:
    """One run of :func:`write_project_export`: feeds the writer asset by asset, a video
    a chunk of frames at a time, and counts what went in."""

    def __init__(
        self,
        writer: Writer,
        annotations: QuerySet[Annotation],
        include_images: bool,
        progress: Callable[[float, str], None],
    ) -> None:
        self.writer = writer
        self.annotations = annotations
        self.include_images = include_images
        self.progress = progress
        self.total = max(1, annotations.count())
        self.image_id = 0
        self.images = 0
        self.done = 0

    def _rows(self, asset: Asset, first: int, last: int) -> dict[int, list[dict[str, Any]]]:
        """The annotation rows of frames ``first..last`` of ``asset``, by frame."""
        # Plain rows, not model instances: nothing per annotation outlives its chunk
        # (prefetch caches on instances form reference cycles that only the cyclic
        # garbage collector frees, which let memory creep up with the project).
        rows = (
            self.annotations.filter(asset=asset, frame__gte=first, frame__lte=last)
            .order_by("frame", "id")
            .values(*_ANNOTATION_FIELDS)
        )
        by_frame: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            by_frame.setdefault(row["frame"], []).append(dict(row))
        return by_frame

    def _add(self, image: ExportImage, rows: list[dict[str, Any]], prompts: dict[int, Any]) -> None:
        self.writer.add_image(image)
        self.images += 1
        for row in rows:
            self.writer.add_annotation(_annotation_record(row, image.id, prompts.get(row["id"])))
            self.done += 1
            if self.done % 200 == 0:
                self.progress(
                    0.95 * self.done / self.total, f"{self.done}/{self.total} annotations"
                )

    def add_still(self, asset: Asset) -> None:
        """A single image: exported even without annotations (a negative for training)."""
        self.image_id += 1
        image = ExportImage(
            id=self.image_id,
            asset_id=asset.pk,
            file_name=_image_name(asset),
            width=int(asset.width or 0),
            height=int(asset.height or 0),
            open_image=_reader(display_path(asset)),
        )
        rows = self._rows(asset, 0, 0).get(0, [])
        self._add(image, rows, _interactions([row["id"] for row in rows]))

    def add_video(self, asset: Asset, every_frame: bool) -> None:
        """The frames of a video: every frame for formats that want them, else the
        annotated ones; each with its own size and stored image."""
        video = ExportVideo(
            id=asset.pk,
            name=asset.name,
            folder=f"{asset.pk}_{archive_stem(asset.name)}",
            num_frames=asset.num_frames,
            width=int(asset.width or 0),
            height=int(asset.height or 0),
            fps=asset.fps,
        )
        if every_frame:
            numbers: Sequence[int] = range(asset.num_frames)
        else:
            numbers = list(
                self.annotations.filter(asset=asset)
                .order_by("frame")
                .values_list("frame", flat=True)
                .distinct()
            )
        for start in range(0, len(numbers), FRAME_CHUNK):
            chunk = numbers[start : start + FRAME_CHUNK]
            by_frame = self._rows(asset, chunk[0], chunk[-1])
            prompts = _interactions([row["id"] for rows in by_frame.values() for row in rows])
            frames: dict[int, dict[str, Any]] = {
                row["index"]: dict(row)
                for row in Frame.objects.filter(
                    asset=asset, index__gte=chunk[0], index__lte=chunk[-1]
                ).values("index", "width", "height", "image")
            }
            for index in chunk:
                frame = frames.get(index, {})
                path = str(frame.get("image") or "")
                if self.include_images and not path:
                    raise JobFailed(
                        f"frame_missing: frame {index} of video {asset.name!r} (asset "
                        f"{asset.pk}) has no stored image; export it without images, or "
                        "wait until the video is processed"
                    )
                self.image_id += 1
                image = ExportImage(
                    id=self.image_id,
                    asset_id=asset.pk,
                    file_name=_frame_name(video, index, path),
                    width=int(frame.get("width") or video.width),
                    height=int(frame.get("height") or video.height),
                    frame_index=index,
                    open_image=_reader(path) if path else None,
                    video=video,
                )
                self._add(image, by_frame.get(index, []), prompts)
            if every_frame:
                self.progress(
                    0.95 * self.done / self.total,
                    f"{asset.name}: frame {chunk[-1] + 1}/{asset.num_frames}",
                )


def write_project_export(
    project: Project,
    zip_file: zipfile.ZipFile,
    fmt: str,
    options: dict[str, Any],
    progress: Callable[[float, str], None],
) -> dict[str, int]:
    """Stream the project's (filtered) annotations into ``zip_file``; returns counts.

    Still images are exported whole (even without annotations). A video (a video
    asset, or any asset of more than one frame) is exported frame by frame: its
    annotated frames, or every frame for formats that want them (DAVIS); videos not yet
    ``ready`` are left out (their frames are not all stored) and counted under
    ``skipped_videos``.
    """
    labels = project.labels.all().order_by("id")
    if options.get("labels"):
        labels = labels.filter(pk__in=options["labels"])
    categories = [ExportCategory(id=lc.pk, name=lc.name, color=lc.color) for lc in labels]
    label_ids = {c.id for c in categories}
    assets = project.assets.filter(kind__in=[AssetKind.IMAGE, AssetKind.VIDEO, AssetKind.EVENTS])
    if options.get("assets"):
        assets = assets.filter(pk__in=options["assets"])
    videos = Q(kind=AssetKind.VIDEO) | Q(num_frames__gt=1)
    skipped = assets.filter(videos).exclude(status=AssetStatus.READY)
    skipped_videos = skipped.count()
    assets = assets.exclude(pk__in=skipped.values("pk"))
    annotations = Annotation.objects.filter(
        asset__in=assets, label_id__in=label_ids, mask__isnull=False
    )
    if options.get("review_status"):
        annotations = annotations.filter(review_status__in=options["review_status"])
    include_images = bool(options.get("include_images"))
    writer = build_writer(fmt, zip_file, categories, include_images)
    run = _ProjectExport(writer, annotations, include_images, progress)
    try:
        for asset in _in_chunks(assets.order_by("id"), 200):
            if asset.kind == AssetKind.VIDEO or asset.num_frames > 1:
                run.add_video(asset, writer.every_frame)
            else:
                run.add_still(asset)
        writer.close()
    except ExportError as exc:
        raise JobFailed(f"{exc.code}: {exc.message}") from None
    counts = {"images": run.images, "annotations": run.done, "categories": len(categories)}
    if skipped_videos:
        counts["skipped_videos"] = skipped_videos
    return counts


def _scratch_zip(run: JobRun) -> Path:
    """The local zip of this run, named after the job: leftovers of an earlier run of
    the same job (a worker killed mid-export) are removed first."""
    scratch = Path(settings.VAR_DIR) / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    for leftover in scratch.glob(f"export-{run.job.pk}-*.zip"):
        leftover.unlink(missing_ok=True)
    return scratch / f"export-{run.job.pk}-{run.lease.token[:12] or 'local'}.zip"


@job_task(task_routes.EXPORT_PROJECT)
def export_project(run: JobRun) -> None:
    """Write the export zip to a local file (streamed, flat memory), then move it to
    media storage. Running twice (a redelivery after a lost worker) rewrites the same
    stored file name; the Export row gets its file only once the zip is complete."""
    delete_expired_exports()
    export = Export.objects.filter(job_id=run.job.pk).select_related("project").first()
    if export is None:
        return
    run.progress(0.0, "collecting annotations")
    local = _scratch_zip(run)
    try:
        with zipfile.ZipFile(local, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            counts = write_project_export(
                export.project, archive, export.format, export.options, run.progress
            )
        run.progress(0.97, "storing the archive")
        name = f"exports/{export.project_id}/{export.pk}-{export.format}.zip"
        if default_storage.exists(name):
            default_storage.delete(name)
        with open(local, "rb") as stream:
            saved = default_storage.save(name, File(stream))
        stored = Export.objects.filter(pk=export.pk).update(
            file=saved, size_bytes=local.stat().st_size, counts=counts
        )
        if not stored:  # deleted meanwhile (with its project): nobody can download it
            default_storage.delete(saved)
            return
    finally:
        local.unlink(missing_ok=True)
    run.result = {
        "export": export.pk,
        "download": f"/api/exports/{export.pk}/download",
        "format": export.format,
        **counts,
    }
