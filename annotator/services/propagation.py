"""Carrying an object's mask through the frames of a video: the web side.

``start_propagation`` checks a request and starts a ``propagate`` job; the worker side
(``workers/runtime/propagation.py``) walks the frames and stores one ``propagated``
annotation per frame. The rules both sides share live here:

* a *keyframe* of a track is any of its annotations that a person made or approved:
  every source but ``propagated``, and a propagated one once ``accepted``. Propagation
  stops at the next keyframe and never changes one;
* running it again replaces the track's earlier propagated masks on the frames it covers;
* a frame whose confidence is below the threshold is stored ``needs_review``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet

from annotator.errors import Conflict, InvalidInput
from annotator.models import (
    Annotation,
    AnnotationSource,
    Asset,
    AssetStatus,
    Job,
    JobStatus,
    ReviewStatus,
)
from annotator.services.jobs import cancel_job, start_job
from formats.rle import mask_stats

DIRECTIONS = ("forward", "backward", "both")
#: Frames whose confidence is below this are stored ``needs_review`` (a request may say
#: otherwise). Kept equal to ``workers.propagation.DEFAULT_REVIEW_THRESHOLD`` (the web
#: side does not import workers; tests/workers/runtime/test_propagation.py pins them).
DEFAULT_REVIEW_THRESHOLD = 0.45


def keyframes(track_rows: QuerySet[Annotation]) -> QuerySet[Annotation]:
    """The keyframes among ``track_rows`` (annotations of one track)."""
    return track_rows.filter(
        ~Q(source=AnnotationSource.PROPAGATED) | Q(review_status=ReviewStatus.ACCEPTED)
    )


def replaceable(track_rows: QuerySet[Annotation]) -> QuerySet[Annotation]:
    """The earlier propagation results among ``track_rows``, which a new run replaces."""
    return track_rows.filter(source=AnnotationSource.PROPAGATED).exclude(
        review_status=ReviewStatus.ACCEPTED
    )


def _running_for_track(asset_id: int, track: int) -> QuerySet[Job]:
    return Job.objects.filter(
        asset_id=asset_id,
        kind="propagate",
        status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        params__track=track,
    )


def start_propagation(
    annotation: Annotation,
    *,
    user: User | None,
    direction: str = "forward",
    end_frame: int | None = None,
    threshold: float | None = None,
    engine: str = "auto",
) -> Job:
    """Start a ``propagate`` job from ``annotation`` (its frame, mask, track and label).

    ``end_frame``: the last frame to reach (inclusive; by default the end of the video,
    or its start going backward). A propagation of the same track still queued or
    running is cancelled first: the newer request (a correction) supersedes it."""
    asset = annotation.asset
    if direction not in DIRECTIONS:
        raise InvalidInput(f"direction must be one of {', '.join(DIRECTIONS)}", "invalid_direction")
    if asset.num_frames < 2:
        raise InvalidInput("the asset has a single frame: nothing to propagate to", "single_frame")
    if asset.status != AssetStatus.READY:
        raise Conflict(
            f"the asset is {asset.status}: frames can be propagated once it is ready",
            "asset_not_ready",
        )
    if not annotation.mask or not annotation.area:
        raise InvalidInput("the annotation has no mask to propagate (it is empty)", "no_mask")
    if end_frame is not None:
        if not 0 <= end_frame < asset.num_frames:
            raise InvalidInput(
                f"end_frame {end_frame} is out of range: the asset has {asset.num_frames} frames",
                "frame_out_of_range",
            )
        if direction == "both":
            raise InvalidInput(
                "end_frame goes with direction forward or backward", "invalid_end_frame"
            )
        if (direction == "forward") != (end_frame > annotation.frame):
            raise InvalidInput(
                f"end_frame {end_frame} is not {direction} of frame {annotation.frame}",
                "invalid_end_frame",
            )
    if engine == "sam" and not settings.SAM_CHECKPOINT:
        raise InvalidInput(
            "SAM is not configured on this server (set SAM_CHECKPOINT)", "engine_unavailable"
        )
    if threshold is None:
        threshold = DEFAULT_REVIEW_THRESHOLD
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInput("threshold must be between 0 and 1", "invalid_threshold")
    for job in _running_for_track(asset.pk, annotation.track):
        cancel_job(job)
    params: dict[str, Any] = {
        "annotation": annotation.pk,
        "track": annotation.track,
        "label": annotation.label_id,
        "frame": annotation.frame,
        "direction": direction,
        "end_frame": end_frame,
        "threshold": threshold,
        "engine": engine,
    }
    with transaction.atomic():
        return start_job(
            project=asset.project, kind="propagate", user=user, asset=asset, params=params
        )


@dataclass(frozen=True)
class PropagatedFrame:
    """One frame's result of a propagation run: a validated RLE and its confidence."""

    frame: int
    mask: dict[str, Any]
    confidence: float


def store_propagated(
    *,
    asset: Asset,
    track: int,
    label_id: int,
    results: list[PropagatedFrame],
    threshold: float,
    author: User | None,
) -> tuple[int, int]:
    """Store ``results`` as the track's ``propagated`` annotations (call it in a
    transaction): the track's earlier propagated masks on those frames go, a frame where
    the track has a keyframe (made meanwhile, too) is left as it is. Returns
    ``(stored, flagged)``, flagged being those stored ``needs_review``."""
    frames = [r.frame for r in results]
    rows = Annotation.objects.filter(asset=asset, track=track, frame__in=frames)
    kept = set(keyframes(rows).values_list("frame", flat=True))
    replaceable(rows).delete()
    new = []
    for result in results:
        if result.frame in kept:
            continue
        stats = mask_stats(result.mask)
        confidence = round(max(0.0, min(1.0, float(result.confidence))), 4)
        new.append(
            Annotation(
                asset=asset,
                frame=result.frame,
                track=track,
                label_id=label_id,
                mask=result.mask,
                area=stats.area,
                bbox=stats.bbox,
                source=AnnotationSource.PROPAGATED,
                score=confidence,
                review_status=(
                    ReviewStatus.NEEDS_REVIEW if confidence < threshold else ReviewStatus.PENDING
                ),
                author=author,
            )
        )
    Annotation.objects.bulk_create(new)
    return len(new), sum(a.review_status == ReviewStatus.NEEDS_REVIEW for a in new)
