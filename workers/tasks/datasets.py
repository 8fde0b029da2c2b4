from __future__ import annotations

import os
import tempfile
import zipfile

from celery import shared_task
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from annotator.models import Export, Job
from annotator.services.exports import delete_expired_exports
from workers.datasets import ImportFailed, store_import_bundle, write_project_export
from workers.export import ArchiveError, ArchiveLimits, validate_and_load
from workers.jobs import JobFailed, run_job


@shared_task(name="workers.export_project", acks_late=True, ignore_result=True)
def export_project(job_id: int) -> None:
    """Write the export zip to a local temporary file (streamed, flat memory), then move
    it to media storage. Running twice rewrites the same file name."""
    with run_job(job_id) as run:
        if run is None:
            return
        delete_expired_exports()
        export = Export.objects.filter(job_id=job_id).select_related("project").first()
        if export is None:
            return
        run.progress(0.0, "collecting annotations")
        fd, tmp_path = tempfile.mkstemp(suffix=".zip")
        os.close(fd)
        try:
            with zipfile.ZipFile(tmp_path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
                counts = write_project_export(
                    export.project, archive, export.format, export.options, run.progress
                )
            run.progress(0.97, "storing the archive")
            name = f"exports/{export.project_id}/{export.pk}-{export.format}.zip"
            if default_storage.exists(name):
                default_storage.delete(name)
            with open(tmp_path, "rb") as stream:
                saved = default_storage.save(name, File(stream))
            Export.objects.filter(pk=export.pk).update(
                file=saved, size_bytes=os.path.getsize(tmp_path), counts=counts
            )
        finally:
            os.unlink(tmp_path)
        run.result = {
            "export": export.pk,
            "download": f"/api/exports/{export.pk}/download",
            "format": export.format,
            **counts,
        }


def _local_copy(path: str) -> str:
    """Imports read archives with random access: copy from storage to a local file."""
    fd, local = tempfile.mkstemp(suffix=os.path.splitext(path)[1] or ".zip")
    with os.fdopen(fd, "wb") as out, default_storage.open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            out.write(chunk)
    return local


@shared_task(name="workers.import_dataset", acks_late=True, ignore_result=True)
def import_dataset(job_id: int) -> None:
    """Validate the whole archive first, then store it in one transaction."""
    with run_job(job_id) as run:
        if run is None:
            return
        job = Job.objects.select_related("project", "created_by").get(pk=job_id)
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
                    counts = store_import_bundle(job.project, bundle, job.created_by, run.progress)
                    run.result = dict(counts)
                except ImportFailed as exc:
                    raise JobFailed(f"{exc.code}: {exc}") from None
        finally:
            for path in locals_:
                os.unlink(path)
            for path in stored:
                default_storage.delete(path)
