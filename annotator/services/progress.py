"""How far a project's labelling has come: per-asset counts and the dashboard's figures."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from annotator.errors import InvalidInput
from annotator.models import (
    Annotation,
    AnnotationSource,
    Asset,
    AssetStatus,
    Project,
    ReviewStatus,
)
from annotator.services.project_model import label_annotations, model_state
from annotator.services.queue import queue_counts

#: ``progress`` of an asset: annotation counts, one aggregate per key.
PROGRESS_COUNTS: dict[str, Q | None] = {
    "annotations": None,
    "pending": Q(annotations__review_status=ReviewStatus.PENDING),
    "needs_review": Q(annotations__review_status=ReviewStatus.NEEDS_REVIEW),
    "accepted": Q(annotations__review_status=ReviewStatus.ACCEPTED),
    "rejected": Q(annotations__review_status=ReviewStatus.REJECTED),
    "generated": Q(annotations__source=AnnotationSource.GENERATED),
}
ORDERINGS = ("name", "created", "annotations", "pending", "accepted", "needs_review")
STATES = ("unlabelled", "pending", "accepted", "needs_review")


def with_progress(assets: QuerySet[Asset]) -> QuerySet[Asset]:
    """Each asset annotated with ``progress_<key>`` counts (one query for a page)."""
    return assets.annotate(
        **{
            f"progress_{key}": Count("annotations", filter=condition, distinct=True)
            if condition is not None
            else Count("annotations", distinct=True)
            for key, condition in PROGRESS_COUNTS.items()
        }
    )


def filter_and_order(
    assets: QuerySet[Asset], state: str | None, ordering: str | None
) -> QuerySet[Asset]:
    """``?state=`` keeps assets with no annotation (``unlabelled``) or with some in that
    review state; ``?ordering=`` sorts by a count or a field (``-`` for descending)."""
    if state:
        if state not in STATES:
            raise InvalidInput(f"state must be one of {', '.join(STATES)}", "invalid_state")
        if state == "unlabelled":
            assets = assets.filter(progress_annotations=0)  # type: ignore[misc]
        else:
            assets = assets.filter(**{f"progress_{state}__gt": 0})
    if ordering:
        name = ordering.removeprefix("-")
        if name not in ORDERINGS:
            raise InvalidInput(
                f"ordering must be one of {', '.join(ORDERINGS)} (with - to reverse)",
                "invalid_ordering",
            )
        field = name if name in ("name", "created") else f"progress_{name}"
        return assets.order_by(f"{'-' if ordering.startswith('-') else ''}{field}", "id")
    return assets.order_by("id")


def progress_of(asset: Asset) -> dict[str, int]:
    """The counts :func:`with_progress` annotated (queried for an asset without them)."""
    if not hasattr(asset, "progress_annotations"):
        asset = with_progress(Asset.objects.filter(pk=asset.pk)).get()
    return {key: int(getattr(asset, f"progress_{key}")) for key in PROGRESS_COUNTS}


def dashboard(project: Project) -> dict[str, Any]:
    """``GET /api/projects/{id}/dashboard/``."""
    annotations = Annotation.objects.filter(asset__project=project)
    by_status = dict(
        annotations.values_list("review_status")
        .annotate(n=Count("id"))
        .values_list("review_status", "n")
    )
    by_source = dict(
        annotations.values_list("source").annotate(n=Count("id")).values_list("source", "n")
    )
    labels = project.labels.annotate(n=Count("annotations")).order_by("id")
    state = model_state(project)
    assets = project.assets.all()
    return {
        "assets": assets.count(),
        "frames": int(
            assets.filter(status=AssetStatus.READY).aggregate(n=Sum("num_frames"))["n"] or 0
        ),
        "frames_labelled": label_annotations(project)
        .values("asset_id", "frame")
        .distinct()
        .count(),
        "annotations": {
            "total": sum(by_status.values()),
            "by_status": {s: int(by_status.get(s, 0)) for s in ReviewStatus.values},
            "by_source": {s: int(by_source.get(s, 0)) for s in AnnotationSource.values},
        },
        "labels": [
            {"id": label.pk, "name": label.name, "color": label.color, "annotations": label.n}
            for label in labels
        ],
        "queue": queue_counts(project),
        "model": state,
        "efficiency": [
            {
                "version": entry["version"],
                "num_labels": entry["num_labels"],
                "trained_on": entry["trained_on"],
                "miou": (entry["metrics"] or {}).get("miou"),
            }
            for entry in state["history"]
        ],
    }
