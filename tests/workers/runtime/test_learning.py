"""The learning loop's jobs in-process on the test database: train, queue refresh,
proposals, and the click prior."""

from __future__ import annotations

from typing import Any

import pytest

from annotator.models import Annotation, Job, ProjectModel, QueueItem
from annotator.services.annotations import create_annotation
from annotator.services.project_model import start_training
from annotator.services.proposals import start_proposals
from annotator.services.queue import next_item
from formats.rle import decode_mask
from tests.annotator.sample_images import rle_of
from tests.api.videos import disc_frames, make_video
from workers.runtime.learning import click_prior, propose_masks, refresh_queue, train_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_media(tmp_path: Any, settings: Any) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path / "media")},
        },
    }
    settings.VAR_DIR = tmp_path
    settings.QUEUE_VIDEO_STRIDE = 1


def test_train_refresh_propose_round_trip(team: dict[str, Any], own_media: None) -> None:
    frames, masks = disc_frames(8)
    asset = make_video(team["project"], frames)
    for index in (0, 4):
        create_annotation(
            asset=asset,
            frame=index,
            label=team["label"],
            mask=rle_of(masks[index]),
            author=team["annotator"],
        )
    job = start_training(team["project"], team["owner"])
    train_model(job.pk)
    job.refresh_from_db()
    assert job.status == "done", job.error
    model = ProjectModel.objects.get(project=team["project"])
    assert model.version == 1 and model.trained_on == 2
    refresh = Job.objects.filter(kind="queue").latest("id")
    refresh_queue(refresh.pk)
    refresh.refresh_from_db()
    assert refresh.status == "done", refresh.error
    assert QueueItem.objects.filter(project=team["project"], done=False).count() == 6
    item = next_item(team["project"], team["annotator"], "combined")
    assert item is not None and item.frame not in (0, 4)
    proposals = start_proposals(team["project"], team["owner"], {})
    propose_masks(proposals.pk)
    proposals.refresh_from_db()
    assert proposals.status == "done", proposals.error
    generated = Annotation.objects.filter(asset=asset, source="generated")
    assert generated.count() == 6, proposals.result

    ious = []
    for row in generated:
        pred, truth = decode_mask(row.mask), masks[row.frame]
        ious.append((pred & truth).sum() / (pred | truth).sum())
    assert min(ious) > 0.6, ious
    prior = click_prior(team["project"].pk, 1, asset, 2, None)
    assert prior is not None and prior.shape == masks[2].shape
    assert prior[masks[2]].mean() > 0.6 > prior[~masks[2]].mean()


def test_with_sam_configured_the_model_is_a_head_on_sams_embeddings(
    team: dict[str, Any], own_media: None, settings: Any, tiny_sam_checkpoint: Any
) -> None:
    """``sam-head``: trained on the filter features and SAM's embedding; the queue's
    scores (sensitivity included) and the proposals use the same features."""
    from workers.runtime import engine_pool

    settings.SAM_CHECKPOINT, settings.SAM_MODEL_TYPE = str(tiny_sam_checkpoint), "tiny"
    engine_pool._engines.clear()
    engine_pool._caches.clear()
    try:
        frames, masks = disc_frames(6)
        asset = make_video(team["project"], frames)
        create_annotation(
            asset=asset,
            frame=0,
            label=team["label"],
            mask=rle_of(masks[0]),
            author=team["annotator"],
        )
        job = start_training(team["project"], team["owner"])
        train_model(job.pk)
        job.refresh_from_db()
        assert job.status == "done", job.error
        assert ProjectModel.objects.get(project=team["project"]).kind == "sam-head"
        refresh = Job.objects.filter(kind="queue").latest("id")
        refresh_queue(refresh.pk)
        refresh.refresh_from_db()
        assert refresh.status == "done", refresh.error
        scored = QueueItem.objects.filter(project=team["project"], done=False)
        assert scored.count() == 5 and all(item.model_version == 1 for item in scored)
        proposals = start_proposals(team["project"], team["owner"], {})
        propose_masks(proposals.pk)
        proposals.refresh_from_db()
        assert proposals.status == "done", proposals.error
        assert proposals.result["proposals"] >= 4
    finally:
        engine_pool._engines.clear()
        engine_pool._caches.clear()
