"""Starting exports and imports (the work itself runs on the ``jobs`` queue)."""

from __future__ import annotations

import logging
import os
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from annotator.errors import InvalidInput, TooLarge
from annotator.models import Export, Job, Project, ReviewStatus
from annotator.services.jobs import start_job
from formats.archives import EXPORT_FORMATS, IMPORT_FORMATS

logger = logging.getLogger(__name__)


def _ids(value: Any, what: str) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise InvalidInput(f"{what} must be a list of ids", "invalid_filter")
    return value


def start_export(project: Project, user: User, body: dict[str, Any]) -> Export:
    """Validate the export request and queue it. Filters: ``labels`` (ids),
    ``review_status`` (list), ``assets`` (ids); ``include_images`` (bool)."""
    fmt = body.get("format", "coco")
    if fmt not in EXPORT_FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(EXPORT_FORMATS)}", "invalid_format")
    labels = _ids(body.get("labels"), "labels")
    if labels is not None:
        known = set(project.labels.filter(pk__in=labels).values_list("pk", flat=True))
        missing = sorted(set(labels) - known)
        if missing:
            raise InvalidInput(f"labels {missing} are not labels of this project", "unknown_label")
    assets = _ids(body.get("assets"), "assets")
    if assets is not None:
        known = set(project.assets.filter(pk__in=assets).values_list("pk", flat=True))
        missing = sorted(set(assets) - known)
        if missing:
            raise InvalidInput(f"assets {missing} are not assets of this project", "unknown_asset")
    review = body.get("review_status")
    if review is not None:
        if isinstance(review, str):
            review = [review]
        if not isinstance(review, list) or not set(review) <= set(ReviewStatus.values):
            raise InvalidInput(
                f"review_status must be a list of {', '.join(ReviewStatus.values)}",
                "invalid_filter",
            )
    include_images = body.get("include_images", False)
    if not isinstance(include_images, bool):
        raise InvalidInput("include_images must be true or false", "invalid_filter")
    options = {
        "labels": labels,
        "assets": assets,
        "review_status": review,
        "include_images": include_images,
    }
    with transaction.atomic():
        job = start_job(
            project=project,
            kind="export",
            user=user,
            params={"format": fmt, **options},
        )
        return Export.objects.create(
            project=project,
            job=job,
            format=fmt,
            options=options,
            created_by=user,
            expires=timezone.now() + timedelta(hours=settings.EXPORT_TTL_HOURS),
        )


def delete_expired_exports() -> int:
    """Remove expired export files and rows; returns how many."""
    count = 0
    for export in Export.objects.filter(expires__lt=timezone.now()):
        path = export.file.name
        export.delete()
        if path:
            try:
                default_storage.delete(path)
            except Exception:
                logger.warning("could not delete expired export %s", path, exc_info=True)
        count += 1
    return count


def _store_upload(upload: UploadedFile, prefix: str) -> str:
    size = upload.size or 0
    limit = settings.MAX_IMPORT_MB * 1024 * 1024
    if size > limit:
        raise TooLarge(
            f"the archive is {size} bytes, the limit is {settings.MAX_IMPORT_MB} MB",
            "archive_too_large",
        )
    if size == 0:
        raise InvalidInput("the uploaded file is empty", "empty_file")
    name = os.path.basename(upload.name or "upload")[:100]
    return default_storage.save(f"imports/{prefix}/{uuid.uuid4().hex}-{name}", upload)


def start_import(
    project: Project,
    user: User,
    archive: UploadedFile,
    images: UploadedFile | None,
    fmt: str | None,
) -> Job:
    """Store the uploaded archive and queue the import. Nothing reaches the project's
    tables until the worker has validated the whole archive."""
    if fmt is not None and fmt not in IMPORT_FORMATS:
        raise InvalidInput(f"format must be one of {', '.join(IMPORT_FORMATS)}", "invalid_format")
    paths = [_store_upload(archive, str(project.pk))]
    if images is not None:
        paths.append(_store_upload(images, str(project.pk)))
    try:
        with transaction.atomic():
            return start_job(
                project=project,
                kind="import",
                user=user,
                params={
                    "archive": paths[0],
                    "images": paths[1] if len(paths) > 1 else None,
                    "format": fmt,
                },
            )
    except Exception:
        for path in paths:
            default_storage.delete(path)
        raise
