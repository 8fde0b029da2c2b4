"""The learning loop's jobs in-process on the test database: train, queue refresh,
proposals, and the click prior."""

from __future__ import annotations

from typing import Any

import numpy as np
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


def _label(team: dict[str, Any], asset: Any, frame: int, mask: Any, **extra: Any) -> Annotation:
    return create_annotation(
        asset=asset,
        frame=frame,
        label=team["label"],
        mask=rle_of(mask),
        author=extra.pop("author", team["annotator"]),
        **extra,
    )


def test_train_refresh_propose_round_trip(team: dict[str, Any], own_media: None) -> None:
    frames, masks = disc_frames(8)
    asset = make_video(team["project"], frames)
    for index in (0, 4):
        _label(team, asset, index, masks[index])
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
        pred, truth = decode_mask(row.mask or {}), masks[row.frame]
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
        _label(team, asset, 0, masks[0])
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
        assert proposals.result is not None and proposals.result["proposals"] >= 4
    finally:
        engine_pool._engines.clear()
        engine_pool._caches.clear()


# --- more of the jobs in-process ---------------------------------------------------------------


def test_the_queue_job_fills_every_strategys_column(team: dict[str, Any], own_media: None) -> None:
    frames, masks = disc_frames(8)
    asset = make_video(team["project"], frames)
    _label(team, asset, 0, masks[0])
    job = start_training(team["project"], team["owner"])
    train_model(job.pk)
    refresh = Job.objects.filter(kind="queue").latest("id")
    refresh_queue(refresh.pk)
    refresh.refresh_from_db()
    assert refresh.status == "done", refresh.error
    assert refresh.result is not None
    assert refresh.result == {"items": 7, "closed": 1, "model_version": 1}
    items = QueueItem.objects.filter(project=team["project"], done=False)
    assert sorted(items.values_list("frame", flat=True)) == list(range(1, 8))
    assert QueueItem.objects.get(asset=asset, frame=0).done  # labelled: closed
    for column in ("score", "random", "entropy", "margin", "sensitivity", "diversity"):
        values = list(items.values_list(column, flat=True))
        assert len(set(values)) > 1, (column, values)  # scored, not left at 0
    assert set(items.values_list("model_version", flat=True)) == {1}


def test_training_without_labels_left_fails_the_job(team: dict[str, Any], own_media: None) -> None:
    frames, masks = disc_frames(2)
    asset = make_video(team["project"], frames)
    annotation = _label(team, asset, 0, masks[0])
    job = start_training(team["project"], team["owner"])
    annotation.delete()  # gone before a worker took the job
    train_model(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "no_labels" in job.error
    assert not ProjectModel.objects.exists()


def test_proposals_never_land_on_a_frame_annotated_meanwhile(
    team: dict[str, Any], own_media: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.runtime import learning

    frames, masks = disc_frames(4)
    asset = make_video(team["project"], frames)
    _label(team, asset, 0, masks[0])
    train_model(start_training(team["project"], team["owner"]).pk)
    real_propose = learning.propose

    def a_person_labels_frame_2_first(image: Any, *args: Any, **kwargs: Any) -> Any:
        if not Annotation.objects.filter(asset=asset, frame=2).exists():
            _label(team, asset, 2, masks[2])
        return real_propose(image, *args, **kwargs)

    monkeypatch.setattr(learning, "propose", a_person_labels_frame_2_first)
    job = start_proposals(team["project"], team["owner"], {})
    propose_masks(job.pk)
    job.refresh_from_db()
    assert job.status == "done", job.error
    generated = Annotation.objects.filter(asset=asset, source="generated")
    assert sorted(generated.values_list("frame", flat=True)) == [1, 3]
    assert Annotation.objects.filter(asset=asset, frame=2).count() == 1
    assert job.result is not None and job.result["proposals"] == 2


def test_the_click_prior_reaches_the_engine(
    team: dict[str, Any], own_media: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run_prediction`` with a prior: the classical engine is given the model's
    probability map for the label (and none for a label the model never saw)."""
    from annotator.services.projects import add_label
    from formats.prompts import validate_prompts
    from workers.runtime import predict as runtime_predict

    frames, masks = disc_frames(4)
    asset = make_video(team["project"], frames)
    _label(team, asset, 0, masks[0])
    train_model(start_training(team["project"], team["owner"]).pk)
    engine = runtime_predict.get_engine("classical")
    seen: list[Any] = []
    real_predict = engine.predict

    def spy(state: Any, prompts: Any) -> Any:
        seen.append(prompts.prior)
        return real_predict(state, prompts)

    monkeypatch.setattr(engine, "predict", spy)
    height, width = masks[2].shape
    prompts = validate_prompts({"clicks": [{"x": 22, "y": 32}]}, width, height)
    unseen = add_label(team["project"], "fish")
    for label in (team["label"].pk, None, unseen.pk):
        prior = {"project": team["project"].pk, "version": 1, "label": label}
        payload, _ = runtime_predict.run_prediction(asset.pk, 2, "classical", prompts, None, prior)
        assert "mask" in payload
    assert seen[0] is not None and seen[0].shape == masks[2].shape
    assert seen[0][masks[2]].mean() > 0.6 > seen[0][~masks[2]].mean()
    assert seen[1] is not None  # any foreground
    assert seen[2] is None  # a label the model does not know: no prior, the click still works


# --- through the API and a real worker -----------------------------------------------------------


def _disc_images(project: Any, count: int) -> tuple[list[Any], list[Any]]:
    """``count`` 96 x 72 image assets of a red disc at a different place on each, stored
    where the worker reads them, and the discs' true masks."""
    import io

    import numpy as np
    from django.core.files.base import ContentFile
    from PIL import Image

    from annotator.models import Asset

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:72, :96]
    assets, masks = [], []
    for n in range(count):
        image = np.stack(
            [
                rng.integers(0, 60, (72, 96)),
                rng.integers(90, 160, (72, 96)),
                rng.integers(120, 200, (72, 96)),
            ],
            axis=-1,
        ).astype(np.uint8)
        mask = (xx - (25 + 12 * n)) ** 2 + (yy - (30 + 3 * n)) ** 2 <= 14**2
        image[mask] = (200, 40, 40)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        asset = Asset.objects.create(
            project=project,
            kind="image",
            name=f"disc{n}.png",
            checksum=f"{n:02d}" + "d" * 62,
            width=96,
            height=72,
            status="ready",
        )
        asset.file.save(f"disc{n}.png", ContentFile(buffer.getvalue()))
        assets.append(asset)
        masks.append(mask)
    return assets, masks


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_train_propose_and_click_through_the_api_and_a_real_worker(
    team: dict[str, Any], client_for: Any, celery_worker: Any
) -> None:
    from tests.conftest import wait_for_job

    assets, masks = _disc_images(team["project"], 5)
    client = client_for(team["annotator"])
    for n in (0, 1):
        response = client.post(
            f"/api/assets/{assets[n].pk}/annotations/",
            {"frame": 0, "label": team["label"].pk, "mask": rle_of(masks[n])},
            format="json",
        )
        assert response.status_code == 201, response.content
    # An annotation that is no label still keeps proposals off its frame.
    _label(team, assets[2], 0, masks[2], review_status="rejected")
    url = f"/api/projects/{team['project'].pk}"
    assert client.post(f"{url}/proposals/", {}, format="json").json()["code"] == "no_model"
    trained = wait_for_job(client.post(f"{url}/model/train/").json()["job"], timeout=90)
    assert trained.status == "done", trained.error
    model = client.get(f"{url}/model/").json()
    assert (model["status"], model["version"], model["trained_on"]) == ("ready", 1, 2)
    response = client.post(f"{url}/proposals/", {}, format="json")
    assert response.status_code == 202, response.content
    job = wait_for_job(response.json()["job"], timeout=90)
    assert job.status == "done", job.error
    generated = Annotation.objects.filter(asset__project=team["project"], source="generated")
    assert sorted(generated.values_list("asset_id", flat=True)) == [assets[3].pk, assets[4].pk]
    for row in generated:
        assert (row.review_status, row.author, row.label_id) == ("pending", None, team["label"].pk)
        assert row.score is not None and 0 <= row.score <= 1
        pred, truth = decode_mask(row.mask or {}), masks[assets.index(row.asset)]
        assert (pred & truth).sum() / (pred | truth).sum() > 0.6
    for asset in assets[:3]:
        assert Annotation.objects.filter(asset=asset).count() == 1
    # A click with the label: the worker computes the model's prior and answers.
    target = masks[3]
    ys, xs = np.nonzero(target)
    response = client.post(
        f"/api/assets/{assets[3].pk}/predict/",
        {
            "frame": 0,
            "clicks": [{"x": float(xs.mean()), "y": float(ys.mean())}],
            "label": team["label"].pk,
            "engine": "classical",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    pred = decode_mask(response.json()["mask"])
    assert (pred & target).sum() / (pred | target).sum() > 0.6
    # The queue ranking the training started ends here, not in a later test's time.
    for job_id in Job.objects.filter(project=team["project"]).values_list("pk", flat=True):
        assert wait_for_job(job_id, timeout=90).status == "done"


def test_a_training_takes_an_even_spread_of_many_labelled_frames() -> None:
    from workers.runtime.learning import _spread

    assert _spread(list(range(5)), 10) == [0, 1, 2, 3, 4]
    picked = _spread(list(range(1000)), 300)
    assert len(picked) == 300 == len(set(picked))
    assert picked[0] == 0 and picked[-1] >= 990
    gaps = {b - a for a, b in zip(picked, picked[1:], strict=False)}
    assert gaps <= {3, 4}


def test_a_ranking_with_every_frame_labelled_ends_done(
    team: dict[str, Any], own_media: None
) -> None:
    frames, masks = disc_frames(3)
    asset = make_video(team["project"], frames)
    for index in range(3):
        _label(team, asset, index, masks[index])
    job = start_training(team["project"], team["owner"])
    train_model(job.pk)
    refresh = Job.objects.filter(kind="queue").latest("id")
    refresh_queue(refresh.pk)
    refresh.refresh_from_db()
    assert refresh.status == "done", refresh.error
    result = refresh.result or {}
    assert result["items"] == 0 and result["closed"] == 3


def test_proposals_asked_while_the_first_training_runs_wait_for_it(
    team: dict[str, Any], own_media: None, settings: Any
) -> None:
    """ "Train" then "propose" back to back: no 400 no_model; the proposals job waits for
    the training and proposes with the version it stored."""
    frames, masks = disc_frames(4)
    asset = make_video(team["project"], frames)
    _label(team, asset, 0, masks[0], author=team["owner"])
    training = start_training(team["project"], team["owner"])
    proposals = start_proposals(team["project"], team["owner"], {})
    assert proposals.params["after_training"] == training.pk
    train_model(training.pk)
    propose_masks(proposals.pk)
    proposals.refresh_from_db()
    assert proposals.status == "done", proposals.error
    result = proposals.result or {}
    assert result["model_version"] == 1 and result["proposals"] == 3


def test_proposals_waiting_for_a_training_that_never_runs_give_up(
    team: dict[str, Any], own_media: None, settings: Any
) -> None:
    settings.LEARNING_TRAIN_WAIT_S = 1
    frames, masks = disc_frames(3)
    asset = make_video(team["project"], frames)
    _label(team, asset, 0, masks[0], author=team["owner"])
    start_training(team["project"], team["owner"])  # no worker ever runs it
    proposals = start_proposals(team["project"], team["owner"], {})
    propose_masks(proposals.pk)
    proposals.refresh_from_db()
    assert proposals.status == "failed" and "no_model" in proposals.error
