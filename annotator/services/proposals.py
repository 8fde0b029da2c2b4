"""Proposals: the project model's masks on frames that have none, as a job. A new run
replaces the earlier proposals nobody has reviewed or edited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet

from annotator.errors import InvalidInput
from annotator.models import (
    Annotation,
    AnnotationSource,
    Asset,
    AssetStatus,
    Job,
    Project,
    ReviewStatus,
)
from annotator.services.jobs import start_job
from annotator.services.project_model import latest_model, training_job
from annotator.services.queue import candidate_frames

MAX_IDS = 10_000


def _ids(value: Any, name: str) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > MAX_IDS:
        raise InvalidInput(
            f"{name} must be a non-empty list of ids (leave it out for all)", f"invalid_{name}"
        )
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or item < 1:
            raise InvalidInput(f"{name} must be a list of ids", f"invalid_{name}")
    return sorted(set(value))


def start_proposals(project: Project, user: User | None, body: Any) -> Job:
    """A ``proposals`` job over ``assets`` (default: every ready asset) and ``labels``
    (default: every label the model knows), with the latest version of the model, or the
    one a training queued or running will store (the job waits for it). Unknown or
    foreign ids are one answer: 400 ``unknown_asset`` / ``unknown_label``."""
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object", "invalid_body")
    asset_ids = _ids(body.get("assets"), "assets")
    label_ids = _ids(body.get("labels"), "labels")
    model = latest_model(project)
    training = training_job(project)
    if model is None and training is None:
        raise InvalidInput(
            "the project has no trained model yet: train it first (model/train)", "no_model"
        )
    if asset_ids is not None:
        found = set(
            Asset.objects.filter(project=project, pk__in=asset_ids).values_list("pk", flat=True)
        )
        if found != set(asset_ids):
            raise InvalidInput("no such asset in this project", "unknown_asset")
    if label_ids is not None:
        found = set(project.labels.filter(pk__in=label_ids).values_list("pk", flat=True))
        if found != set(label_ids):
            raise InvalidInput("no such label in this project", "unknown_label")
    with transaction.atomic():
        return start_job(
            project=project,
            kind="proposals",
            user=user,
            # A training queued or running is waited for: "train, then propose" asked
            # back to back proposes with the new version.
            params={
                "assets": asset_ids,
                "labels": label_ids,
                "model": model.version if model else None,
                "after_training": training.pk if training else None,
            },
        )


def replaceable_proposals(rows: QuerySet[Annotation]) -> QuerySet[Annotation]:
    """Earlier proposals nobody has acted on (still ``generated`` and waiting for review):
    a new run replaces them, as a new propagation replaces its earlier masks."""
    return rows.filter(
        source=AnnotationSource.GENERATED,
        review_status__in=[ReviewStatus.PENDING, ReviewStatus.NEEDS_REVIEW],
    )


def frames_to_propose(project_id: int, asset_ids: list[int] | None) -> list[tuple[int, int]]:
    """``(asset id, frame)`` of the target frames with no annotation but earlier
    proposals nobody acted on: a proposal never lands beside a person's work."""
    assets = Asset.objects.filter(project_id=project_id, status=AssetStatus.READY)
    if asset_ids is not None:
        assets = assets.filter(pk__in=asset_ids)
    rows = Annotation.objects.filter(asset__in=assets)
    taken = set(
        rows.exclude(pk__in=replaceable_proposals(rows).values("pk"))
        .values_list("asset_id", "frame")
        .distinct()
    )
    return [
        (asset.pk, frame)
        for asset in assets.order_by("id")
        for frame in candidate_frames(asset)
        if (asset.pk, frame) not in taken
    ]
