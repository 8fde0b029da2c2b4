"""Small builders shared by the learning-loop API tests (model, queue, review,
proposals, dashboard): image assets as rows, annotations in any review state, and the
queue's HTTP calls."""

from __future__ import annotations

from typing import Any

from annotator.models import Annotation, Asset, AssetStatus, Project, ProjectModel
from annotator.services.annotations import create_annotation
from tests.annotator.sample_images import box_mask, rle_of
from tests.api.helpers import HEIGHT, WIDTH


def image_assets(project: Project, count: int, start: int = 0) -> list[Asset]:
    """``count`` ready 64 x 48 image assets (rows only: the queue, review and progress
    never read pixels)."""
    return [
        Asset.objects.create(
            project=project,
            kind="image",
            name=f"img-{i}.png",
            checksum=f"{i:064d}",
            width=WIDTH,
            height=HEIGHT,
            status=AssetStatus.READY,
        )
        for i in range(start, start + count)
    ]


def square() -> dict[str, Any]:
    return rle_of(box_mask(HEIGHT, WIDTH, 5, 5, 15, 15))


def annotate(
    asset: Asset,
    label: Any,
    author: Any = None,
    *,
    frame: int = 0,
    source: str = "manual",
    review_status: str = "pending",
    score: float | None = None,
    mask: Any = None,
) -> Annotation:
    return create_annotation(
        asset=asset,
        frame=frame,
        label=label,
        mask=square() if mask is None else rle_of(mask),
        author=author,
        source=source,
        review_status=review_status,
        score=score,
    )


def trained_version(project: Project, version: int = 1) -> ProjectModel:
    """A stored version row (its file is never read by the tests that use it)."""
    return ProjectModel.objects.create(
        project=project,
        version=version,
        trained_on=1,
        num_labels=1,
        metrics={"miou": 0.5, "per_label": {}, "frames": 1},
        path=f"learning/{project.pk}/none-{version}.bin",
    )


def next_of(client: Any, project: Project, strategy: str | None = None) -> Any:
    query = f"?strategy={strategy}" if strategy is not None else ""
    return client.get(f"/api/projects/{project.pk}/queue/next/{query}")


def queue_action(client: Any, item: int, action: str) -> Any:
    return client.post(f"/api/queue/{item}/{action}/")
