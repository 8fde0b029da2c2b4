"""Starting exports and imports (the work itself runs on the ``jobs`` queue)."""

from __future__ import annotations

import logging
import os
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from annotator.errors import InvalidInput, TooLarge
from annotator.models import Export, Job, Project
from annotator.services.assets import storage_name
from annotator.services.jobs import start_job
from formats.archives import IMPORT_FORMATS

logger = logging.getLogger(__name__)


def start_export(
    project: Project,
    user: User,
    *,
    format: str = "coco",
    labels: list[int] | None = None,
    assets: list[int] | None = None,
    review_status: list[str] | None = None,
    include_images: bool = False,
) -> Export:
    """Queue an export of ``project`` in ``format``. The request's shape is the API's to
    check (``ExportRequestSerializer``); this checks what needs the database, that the
    filters name the project's own ``labels`` and ``assets`` (ids), then creates the job
    and its ``Export`` row. ``review_status``: the statuses to include; ``None`` filters
    nothing."""
    if labels is not None:
        known = set(project.labels.filter(pk__in=labels).values_list("pk", flat=True))
        missing = sorted(set(labels) - known)
        if missing:
            raise InvalidInput(f"labels {missing} are not labels of this project", "unknown_label")
    if assets is not None:
        known = set(project.assets.filter(pk__in=assets).values_list("pk", flat=True))
        missing = sorted(set(assets) - known)
        if missing:
            raise InvalidInput(f"assets {missing} are not assets of this project", "unknown_asset")
    options = {
        "labels": labels,
        "assets": assets,
        "review_status": review_status,
        "include_images": include_images,
    }
    with transaction.atomic():
        job = start_job(
            project=project,
            kind="export",
            user=user,
            params={"format": format, **options},
        )
        return Export.objects.create(
            project=project,
            job=job,
            format=format,
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


def _check_upload(upload: UploadedFile) -> None:
    size = upload.size or 0
    limit = settings.MAX_IMPORT_MB * 1024 * 1024
    if size > limit:
        raise TooLarge(
            f"the archive is {size} bytes, the limit is {settings.MAX_IMPORT_MB} MB",
            "archive_too_large",
        )
    if size == 0:
        raise InvalidInput("the uploaded file is empty", "empty_file")


def _store_upload(upload: UploadedFile, prefix: str) -> str:
    name = storage_name(os.path.basename(upload.name or "upload"))
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
    uploads = [archive] if images is None else [archive, images]
    for upload in uploads:  # every check before anything is stored
        _check_upload(upload)
    paths: list[str] = []
    try:
        paths.extend(_store_upload(upload, str(project.pk)) for upload in uploads)
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
