"""Database <-> export records: the ORM side of exports and imports.

``write_project_export`` streams a project's annotations into a writer from
``workers.export``; ``store_import_bundle`` stores a validated import in one
transaction. Neither keeps more than one asset's annotations in memory.
"""

from __future__ import annotations

import logging
import os
import re
import zipfile
from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from annotator.models import (
    Annotation,
    AnnotationSource,
    Asset,
    AssetKind,
    Interaction,
    LabelClass,
    Project,
    ReviewStatus,
)
from annotator.services.assets import delete_asset, display_path, ingest_upload
from annotator.services.projects import COLOR_RE, next_color
from formats.rle import MaskError, mask_stats, validate_rle
from workers.export import (
    ExportAnnotation,
    ExportCategory,
    ExportImage,
    ImportBundle,
    build_writer,
)

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
    for asset in assets.order_by("id").iterator(chunk_size=200):
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


def _match_label(
    project: Project, category: ExportCategory, cache: dict[str, LabelClass]
) -> LabelClass:
    if category.name in cache:
        return cache[category.name]
    label = project.labels.filter(name=category.name).first()
    if label is None:
        color = category.color if COLOR_RE.match(category.color or "") else next_color(project)
        label = LabelClass.objects.create(project=project, name=category.name, color=color.lower())
    cache[category.name] = label
    return label


def store_import_bundle(
    project: Project,
    bundle: ImportBundle,
    user: User | None,
    progress: Callable[[float, str], None],
) -> dict[str, int]:
    """Store a validated bundle: match images to the project's assets by file name (or
    upload the archive's images as new assets), create labels by name, and annotations.
    All or nothing: on any error no row stays and uploaded image files are removed."""
    created_assets: list[Asset] = []
    try:
        with transaction.atomic():
            labels: dict[str, LabelClass] = {}
            categories = {c.id: c for c in bundle.categories}
            by_name: dict[str, Asset] = {}
            for asset in project.assets.all().only(
                "id", "name", "width", "height", "num_frames", "project_id"
            ):
                by_name.setdefault(asset.name, asset)
            image_assets: dict[int, Asset] = {}
            for n, image in enumerate(bundle.images):
                base = os.path.basename(image.file_name)
                # Our own exports prefix the asset id ("12_name.png"); match either way.
                stripped = re.sub(r"^\d+_", "", base)
                stripped = re.sub(r"_f\d{5}(\.\w+)$", r"\1", stripped)
                found = by_name.get(base) or by_name.get(stripped)
                if found is None:
                    if image.open_image is None:
                        raise ImportFailed(
                            f"image {image.file_name!r} is neither in the archive nor an asset "
                            "of this project (matched by file name)",
                            "missing_image",
                        )
                    upload = SimpleUploadedFile(stripped or base, image.open_image())
                    found = ingest_upload(project, upload, user)
                    created_assets.append(found)
                    by_name[found.name] = found
                asset = found
                if (asset.width, asset.height) != (image.width, image.height):
                    raise ImportFailed(
                        f"image {image.file_name!r} is {image.width}x{image.height} in the "
                        f"archive but the asset is {asset.width}x{asset.height}",
                        "rle_size_mismatch",
                    )
                frame = image.frame_index or 0
                if frame >= asset.num_frames:
                    raise ImportFailed(
                        f"image {image.file_name!r}: frame {frame} is out of range",
                        "frame_out_of_range",
                    )
                image_assets[image.id] = asset
                if n % 50 == 0:
                    progress(0.2 + 0.3 * n / max(1, len(bundle.images)), "matching images")
            count = 0
            frames = {image.id: image.frame_index or 0 for image in bundle.images}
            for ann in bundle.annotations:
                asset = image_assets[ann.image_id]
                try:
                    rle = validate_rle(ann.rle, int(asset.height or 0), int(asset.width or 0))
                except MaskError as exc:
                    raise ImportFailed(f"annotation {ann.id}: {exc}", exc.code) from None
                stats = mask_stats(rle)
                source = (
                    ann.source
                    if ann.source in AnnotationSource.values
                    else AnnotationSource.IMPORTED
                )
                review = (
                    ann.review_status
                    if ann.review_status in ReviewStatus.values
                    else ReviewStatus.PENDING
                )
                annotation = Annotation.objects.create(
                    asset=asset,
                    frame=frames[ann.image_id],
                    label=_match_label(project, categories[ann.category_id], labels),
                    mask=rle,
                    area=stats.area,
                    bbox=stats.bbox,
                    source=source if bundle.format == "native" else AnnotationSource.IMPORTED,
                    score=ann.score,
                    review_status=review,
                    author=user,
                )
                if ann.interaction:
                    Interaction.objects.create(
                        asset=asset,
                        frame=annotation.frame,
                        annotation=annotation,
                        prompts={k: v for k, v in ann.interaction.items() if k != "engine"},
                        engine=str(ann.interaction.get("engine", ""))[:32],
                        author=user,
                    )
                count += 1
                if count % 200 == 0:
                    progress(
                        0.5 + 0.45 * count / max(1, len(bundle.annotations)), "storing annotations"
                    )
            return {
                "annotations": count,
                "images": len(bundle.images),
                "new_assets": len(created_assets),
                "labels": len(labels),
            }
    except Exception:
        for asset in created_assets:
            try:
                delete_asset(asset)
            except Exception:
                logger.warning("could not clean up imported asset files", exc_info=True)
        raise


class ImportFailed(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code
