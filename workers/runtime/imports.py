"""The ``import`` job: validate a whole uploaded archive (``workers.export`` readers),
then store it through the domain services in one transaction: all or nothing."""

from __future__ import annotations

import logging
import os
import re
import tempfile

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from annotator import task_routes
from annotator.errors import DomainError
from annotator.models import (
    AnnotationSource,
    Asset,
    LabelClass,
    Project,
    ReviewStatus,
)
from annotator.services.annotations import create_annotation
from annotator.services.assets import delete_asset, ingest_upload
from annotator.services.projects import COLOR_RE, add_label
from workers.export import (
    ArchiveError,
    ArchiveLimits,
    ExportCategory,
    ImportBundle,
    validate_and_load,
)
from workers.runtime.lifecycle import JobFailed, JobRun, job_task

logger = logging.getLogger(__name__)


def _match_label(
    project: Project, category: ExportCategory, cache: dict[str, LabelClass]
) -> LabelClass:
    """The project's label of the category's name, created (with the archive's colour
    when it is a valid one) when the project has none."""
    if category.name in cache:
        return cache[category.name]
    label = project.labels.filter(name=category.name.strip()).first()
    if label is None:
        color = category.color if COLOR_RE.match(category.color or "") else None
        label = add_label(project, category.name, color)
    cache[category.name] = label
    return label


def store_import_bundle(
    project: Project,
    bundle: ImportBundle,
    user: User | None,
    run: JobRun,
) -> dict[str, int]:
    """Store a validated bundle: match images to the project's assets by file name (or
    upload the archive's images as new assets), create labels by name, and annotations.
    All or nothing: on any error no row stays and uploaded image files are removed; the
    job is finished in the same transaction, so a run that lost the job (cancelled, or
    taken for lost and handed to another delivery) stores nothing."""
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
                    run.progress(0.2 + 0.3 * n / max(1, len(bundle.images)), "matching images")
            count = 0
            frames = {image.id: image.frame_index or 0 for image in bundle.images}
            for ann in bundle.annotations:
                asset = image_assets[ann.image_id]
                native = bundle.format == "native"
                interaction = None
                if ann.interaction:
                    prompts = {k: v for k, v in ann.interaction.items() if k != "engine"}
                    interaction = {"prompts": prompts, "engine": ann.interaction.get("engine", "")}
                try:
                    create_annotation(
                        asset=asset,
                        frame=frames[ann.image_id],
                        label=_match_label(project, categories[ann.category_id], labels),
                        mask=ann.rle,
                        author=user,
                        source=(
                            ann.source
                            if native and ann.source in AnnotationSource.values
                            else AnnotationSource.IMPORTED
                        ),
                        score=ann.score,
                        review_status=(
                            ann.review_status
                            if ann.review_status in ReviewStatus.values
                            else ReviewStatus.PENDING
                        ),
                        interaction=interaction,
                    )
                except DomainError as exc:
                    raise ImportFailed(f"annotation {ann.id}: {exc}", exc.code) from None
                count += 1
                if count % 200 == 0:
                    run.progress(
                        0.5 + 0.45 * count / max(1, len(bundle.annotations)), "storing annotations"
                    )
            counts = {
                "annotations": count,
                "images": len(bundle.images),
                "new_assets": len(created_assets),
                "labels": len(labels),
            }
            run.finish_in_transaction(dict(counts))
            return counts
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


def _local_copy(path: str) -> str:
    """Imports read archives with random access: copy from storage to a local file."""
    fd, local = tempfile.mkstemp(suffix=os.path.splitext(path)[1] or ".zip")
    with os.fdopen(fd, "wb") as out, default_storage.open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            out.write(chunk)
    return local


@job_task(task_routes.IMPORT_DATASET)
def import_dataset(run: JobRun) -> None:
    """Validate the whole archive first, then store it in one transaction. The uploaded
    files are removed once the job is done or failed (a run killed mid-way leaves them
    for the next delivery)."""
    job = run.job
    params = job.params
    stored = [p for p in (params.get("archive"), params.get("images")) if p]
    locals_: list[str] = []
    try:
        locals_ = [_local_copy(p) for p in stored]
        run.progress(0.05, "validating the archive")
        limit = settings.MAX_IMPORT_MB * 1024 * 1024
        limits = ArchiveLimits(max_compressed_bytes=limit, max_uncompressed_bytes=4 * limit)
        try:
            bundle = validate_and_load(
                locals_[0],
                images_zip=locals_[1] if len(locals_) > 1 else None,
                format=params.get("format"),
                limits=limits,
                require_images=False,
            )
        except ArchiveError as exc:
            raise JobFailed(f"{exc.code}: {exc}") from None
        with bundle:
            run.progress(0.2, "storing")
            try:
                store_import_bundle(job.project, bundle, job.created_by, run)
            except ImportFailed as exc:
                raise JobFailed(f"{exc.code}: {exc}") from None
    finally:
        for path in locals_:
            os.unlink(path)
        if not run.handed_over():
            for path in stored:
                default_storage.delete(path)
