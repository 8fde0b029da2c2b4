"""The ``thumbnail`` job: render an asset's thumbnail and mark the asset ready."""

from __future__ import annotations

from django.conf import settings
from django.core.files.base import ContentFile

from annotator import task_routes
from annotator.media import make_thumbnail as render_thumbnail
from annotator.models import Asset, AssetStatus
from annotator.services.assets import display_path, thumbnail_name
from workers.runtime.lifecycle import JobRun, job_task


@job_task(task_routes.MAKE_THUMBNAIL)
def make_thumbnail(run: JobRun) -> None:
    """Running it twice writes the same file again under the same name."""
    asset = Asset.objects.filter(pk=run.job.asset_id or 0).first()
    if asset is None:
        return
    run.progress(0.1, "rendering thumbnail")
    storage = asset.file.storage
    with storage.open(display_path(asset), "rb") as stream:
        data = render_thumbnail(stream, settings.THUMBNAIL_SIZE)
    name = thumbnail_name(asset)
    if storage.exists(name):
        storage.delete(name)
    saved = storage.save(name, ContentFile(data))
    if not Asset.objects.filter(pk=asset.pk).update(thumbnail=saved, status=AssetStatus.READY):
        # Deleted while rendering: its files went when the delete committed, so this
        # one is the only one left to remove.
        storage.delete(saved)
        run.result = {"skipped": "the asset was deleted"}
        return
    run.result = {"thumbnail": f"/api/assets/{asset.pk}/thumbnail"}
