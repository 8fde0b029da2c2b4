from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.files.base import ContentFile

from annotator.media import make_thumbnail as render_thumbnail
from annotator.models import Asset, AssetStatus
from annotator.services.assets import display_path
from workers.jobs import run_job


@shared_task(name="workers.make_thumbnail", acks_late=True, ignore_result=True)
def make_thumbnail(job_id: int) -> None:
    """Render the asset's thumbnail and mark the asset ready. Running it twice writes the
    same file again under the same name."""
    with run_job(job_id) as run:
        if run is None or run.job.asset_id is None:
            return
        asset = Asset.objects.get(pk=run.job.asset_id)
        run.progress(0.1, "rendering thumbnail")
        storage = asset.file.storage
        with storage.open(display_path(asset), "rb") as stream:
            data = render_thumbnail(stream, settings.THUMBNAIL_SIZE)
        name = f"assets/thumbnails/{asset.pk}-{asset.checksum[:16]}.jpg"
        if storage.exists(name):
            storage.delete(name)
        saved = storage.save(name, ContentFile(data))
        Asset.objects.filter(pk=asset.pk).update(thumbnail=saved, status=AssetStatus.READY)
        run.result = {"thumbnail": f"/api/assets/{asset.pk}/thumbnail"}
