"""The ``export`` job: a project's annotations streamed into a writer of
``workers.export`` (one asset's rows in memory at a time), zipped to a local file named
after the job, then stored in media storage."""

from __future__ import annotations

import logging
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db.models import QuerySet

from annotator import task_routes
from annotator.models import Annotation, Asset, AssetKind, Export, Interaction, Project
from annotator.services.assets import display_path
from annotator.services.exports import delete_expired_exports
from workers.export import ExportAnnotation, ExportCategory, ExportImage, build_writer
from workers.runtime.lifecycle import JobRun, job_task

logger = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _reader(path: str) -> Callable[[], bytes]:
    def read() -> bytes:
        with default_storage.open(path, "rb") as stream:
            return bytes(stream.read())

    return read


def _image_name(asset: Asset, frame: int | None) -> str:
    stem, ext = os.path.splitext(asset.name)
    safe = _UNSAFE.sub("_", stem)[:80] or "image"
    ext = os.path.splitext(display_path(asset))[1].lower() or ext.lower() or ".png"
    if frame is None:
        return f"images/{asset.pk}_{safe}{ext}"
    return f"images/{asset.pk}_{safe}_f{frame:05d}{ext}"


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


def write_project_export(
    project: Project,
    zip_file: zipfile.ZipFile,
    fmt: str,
    options: dict[str, Any],
    progress: Callable[[float, str], None],
) -> dict[str, int]:
    """Stream the project's (filtered) annotations into ``zip_file``; returns counts."""
    labels = project.labels.all().order_by("id")
    if options.get("labels"):
        labels = labels.filter(pk__in=options["labels"])
    categories = [ExportCategory(id=lc.pk, name=lc.name, color=lc.color) for lc in labels]
    label_ids = {c.id for c in categories}
    assets = project.assets.filter(kind__in=[AssetKind.IMAGE, AssetKind.VIDEO, AssetKind.EVENTS])
    if options.get("assets"):
        assets = assets.filter(pk__in=options["assets"])
    annotations = Annotation.objects.filter(
        asset__in=assets, label_id__in=label_ids, mask__isnull=False
    )
    if options.get("review_status"):
        annotations = annotations.filter(review_status__in=options["review_status"])
    total = max(1, annotations.count())
    writer = build_writer(fmt, zip_file, categories, bool(options.get("include_images")))
    image_id = 0
    done = 0
    images = 0
    for asset in _in_chunks(assets.order_by("id"), 200):
        # Plain rows, not model instances: nothing per annotation outlives its asset
        # (prefetch caches on instances form reference cycles that only the cyclic
        # garbage collector frees, which let memory creep up with the project).
        rows = (
            annotations.filter(asset=asset)
            .order_by("frame", "id")
            .values(
                "id",
                "frame",
                "label_id",
                "mask",
                "source",
                "score",
                "review_status",
                "author__username",
                "version",
                "created",
            )
        )
        by_frame: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            by_frame.setdefault(row["frame"], []).append(dict(row))
        prompts = _interactions([row["id"] for group in by_frame.values() for row in group])
        # Still images are exported even without annotations (negatives for training);
        # frames of videos only where someone annotated them.
        frames = sorted(by_frame) if asset.num_frames > 1 else [0]
        for frame in frames:
            image_id += 1
            images += 1
            writer.add_image(
                ExportImage(
                    id=image_id,
                    asset_id=asset.pk,
                    file_name=_image_name(asset, frame if asset.num_frames > 1 else None),
                    width=int(asset.width or 0),
                    height=int(asset.height or 0),
                    frame_index=frame if asset.num_frames > 1 else None,
                    open_image=_reader(display_path(asset)),
                )
            )
            for annotation_row in by_frame.get(frame, []):
                writer.add_annotation(
                    ExportAnnotation(
                        id=annotation_row["id"],
                        image_id=image_id,
                        category_id=annotation_row["label_id"],
                        rle=annotation_row["mask"] or {},
                        source=annotation_row["source"],
                        score=annotation_row["score"],
                        review_status=annotation_row["review_status"],
                        author=annotation_row["author__username"],
                        version=annotation_row["version"],
                        created=annotation_row["created"].isoformat(),
                        interaction=prompts.get(annotation_row["id"]),
                    )
                )
                done += 1
                if done % 200 == 0:
                    progress(0.95 * done / total, f"{done}/{total} annotations")
    writer.close()
    return {"images": images, "annotations": done, "categories": len(categories)}


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
