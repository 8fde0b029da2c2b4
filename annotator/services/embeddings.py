"""Engine states per frame, prepared ahead of the first click.

A single image's state is queued at upload (``assets.queue_embedding``). A video's are
never all computed up front: the workspace asks for the frame being viewed and its
neighbours (``prefetch_frames``), and a click on any other frame computes its own.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from annotator.models import Asset, AssetStatus, Job, JobStatus
from annotator.services.jobs import start_job


def prefetch_order(frame: int, radius: int, num_frames: int) -> list[int]:
    """``frame`` first, then its neighbours nearest first, the next frame before the
    previous one (playback and stepping go forward more often)."""
    order = [frame]
    for step in range(1, radius + 1):
        order += [f for f in (frame + step, frame - step) if 0 <= f < num_frames]
    return order


def prefetch_frames(asset: Asset, frame: int, radius: int, user: User | None) -> Job | None:
    """Queue the default engine's state of ``frame`` and its neighbours. A prefetch of
    this asset still queued is re-aimed instead (scrubbing sends many; only the newest
    frame matters); ``None`` when that happened or there is nothing to do."""
    if asset.num_frames < 2 or asset.status != AssetStatus.READY:
        return None
    frames = prefetch_order(frame, radius, asset.num_frames)
    with transaction.atomic():
        waiting = (
            Job.objects.select_for_update()
            .filter(asset=asset, kind="embed", status=JobStatus.QUEUED)
            .order_by("-id")
            .first()
        )
        if waiting is not None:
            waiting.params = {**waiting.params, "frames": frames}
            waiting.save(update_fields=["params"])
            return waiting
        return start_job(
            project=asset.project,
            kind="embed",
            user=user,
            asset=asset,
            params={"frames": frames},
        )
