"""``/api/projects/{id}/model/``: the project model's state, its retraining setting and
training as a job (the job itself runs in-process here: ``train_model(job.pk)``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils.dateparse import parse_datetime

from annotator.models import Annotation, Asset, Job, ProjectModel
from annotator.services.annotations import create_annotation
from tests.annotator.sample_images import rle_of
from tests.api.helpers import assert_error
from tests.api.learning_helpers import annotate, image_assets
from tests.api.videos import disc_frames, make_video
from workers.runtime.learning import train_model

pytestmark = pytest.mark.django_db

STATE_FIELDS = {
    "status",
    "version",
    "kind",
    "trained_on",
    "num_labels",
    "metrics",
    "updated",
    "job",
    "labels_since",
    "retrain_after",
    "history",
}


@pytest.fixture
def video(team: dict[str, Any], settings: Any) -> tuple[Asset, list[Any]]:
    """An 8-frame clip of a disc and its true masks; every frame is a queue candidate."""
    settings.QUEUE_VIDEO_STRIDE = 1
    frames, masks = disc_frames(8)
    return make_video(team["project"], frames), masks


def label(team: dict[str, Any], video: tuple[Asset, list[Any]], frame: int) -> Annotation:
    asset, masks = video
    return create_annotation(
        asset=asset,
        frame=frame,
        label=team["label"],
        mask=rle_of(masks[frame]),
        author=team["annotator"],
    )


def state(client: Any, project: Any) -> dict[str, Any]:
    response = client.get(f"/api/projects/{project.pk}/model/")
    assert response.status_code == 200, response.content
    body: dict[str, Any] = response.json()
    assert set(body) == STATE_FIELDS
    return body


def train(client: Any, project: Any) -> Any:
    return client.post(f"/api/projects/{project.pk}/model/train/")


def run_training(client: Any, project: Any) -> Job:
    response = train(client, project)
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job"])
    train_model(job.pk)
    job.refresh_from_db()
    assert job.status == "done", job.error
    return job


def test_a_new_project_has_no_model(team: dict[str, Any], client_for: Any) -> None:
    for role in ("owner", "annotator", "reviewer", "viewer"):
        body = state(client_for(team[role]), team["project"])
        assert body == {
            "status": "none",
            "version": None,
            "kind": None,
            "trained_on": 0,
            "num_labels": 0,
            "metrics": {},
            "updated": None,
            "job": None,
            "labels_since": 0,
            "retrain_after": 0,
            "history": [],
        }


def test_training_without_labels_is_refused(team: dict[str, Any], client_for: Any) -> None:
    asset = image_assets(team["project"], 1)[0]
    # Neither a pending proposal nor a rejected mask is a label.
    annotate(asset, team["label"], source="generated", score=0.9)
    annotate(asset, team["label"], team["annotator"], review_status="rejected")
    annotate(asset, team["label"], source="propagated")
    assert_error(train(client_for(team["annotator"]), team["project"]), 400, "no_labels")
    assert not Job.objects.filter(kind="train").exists()
    assert state(client_for(team["owner"]), team["project"])["labels_since"] == 0


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_only_owners_and_annotators_train(
    team: dict[str, Any], client_for: Any, video: Any, role: str
) -> None:
    label(team, video, 0)
    assert_error(train(client_for(team[role]), team["project"]), 403)
    assert not Job.objects.filter(kind="train").exists()


def test_training_runs_as_a_job_and_a_second_request_gets_the_same_job(
    team: dict[str, Any], client_for: Any, video: Any
) -> None:
    label(team, video, 0)
    client = client_for(team["annotator"])
    first = train(client, team["project"])
    assert first.status_code == 202, first.content
    job = Job.objects.get(pk=first.json()["job"])
    assert (job.kind, job.status, job.created_by) == ("train", "queued", team["annotator"])
    assert train(client_for(team["owner"]), team["project"]).json() == {"job": job.pk}
    during = state(client, team["project"])
    assert (during["status"], during["job"], during["version"]) == ("training", job.pk, None)
    assert during["labels_since"] == 1
    train_model(job.pk)
    job.refresh_from_db()
    assert job.status == "done", job.error
    after = state(client, team["project"])
    assert (after["status"], after["job"], after["version"], after["kind"]) == (
        "ready",
        None,
        1,
        "pixel",
    )
    assert (after["trained_on"], after["num_labels"], after["labels_since"]) == (1, 1, 0)
    assert parse_datetime(after["updated"]) is not None
    assert [h["version"] for h in after["history"]] == [1]
    # The next request is a new job, for version 2.
    assert train(client, team["project"]).json()["job"] != job.pk


def test_versions_count_up_with_their_history_and_labels_since(
    team: dict[str, Any], client_for: Any, video: Any
) -> None:
    client = client_for(team["owner"])
    label(team, video, 0)
    run_training(client, team["project"])
    label(team, video, 3)
    label(team, video, 6)
    assert state(client, team["project"])["labels_since"] == 2
    run_training(client, team["project"])
    body = state(client, team["project"])
    assert (body["version"], body["trained_on"], body["num_labels"]) == (2, 3, 3)
    assert [(h["version"], h["trained_on"], h["num_labels"]) for h in body["history"]] == [
        (1, 1, 1),
        (2, 3, 3),
    ]
    assert body["history"][-1]["metrics"] == body["metrics"]
    assert body["labels_since"] == 0


def test_metrics_come_from_held_back_frames_once_three_are_labelled(
    team: dict[str, Any], client_for: Any, video: Any
) -> None:
    client = client_for(team["owner"])
    label(team, video, 0)
    label(team, video, 4)
    run_training(client, team["project"])
    assert state(client, team["project"])["metrics"] == {
        "miou": None,
        "per_label": {},
        "frames": 0,
    }
    label(team, video, 7)
    run_training(client, team["project"])
    metrics = state(client, team["project"])["metrics"]
    assert metrics["frames"] >= 1
    assert isinstance(metrics["miou"], float) and metrics["miou"] > 0.5, metrics
    assert set(metrics["per_label"]) == {str(team["label"].pk)}


def test_the_owner_sets_retrain_after(team: dict[str, Any], client_for: Any) -> None:
    url = f"/api/projects/{team['project'].pk}/model/"
    response = client_for(team["owner"]).patch(url, {"retrain_after": 7}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["retrain_after"] == 7
    assert state(client_for(team["viewer"]), team["project"])["retrain_after"] == 7
    team["project"].refresh_from_db()
    assert team["project"].settings["retrain_after"] == 7
    for role in ("annotator", "reviewer", "viewer"):
        refused = client_for(team[role]).patch(url, {"retrain_after": 1}, format="json")
        assert_error(refused, 403)
    assert state(client_for(team["owner"]), team["project"])["retrain_after"] == 7


@pytest.mark.parametrize(
    "body",
    [
        {"retrain_after": -1},
        {"retrain_after": 10_001},
        {"retrain_after": "3"},
        {"retrain_after": 2.5},
        {"retrain_after": True},
        {"retrain_after": None},
        {},
        {"retrain": 3},
        [3],
    ],
)
def test_bad_retrain_after_values_are_refused(
    team: dict[str, Any], client_for: Any, body: Any
) -> None:
    url = f"/api/projects/{team['project'].pk}/model/"
    response = client_for(team["owner"]).patch(url, body, format="json")
    assert_error(response, 400, "invalid_retrain_after")
    team["project"].refresh_from_db()
    assert "retrain_after" not in (team["project"].settings or {})


@pytest.mark.parametrize("value", [0, 10_000])
def test_retrain_after_takes_its_bounds(team: dict[str, Any], client_for: Any, value: int) -> None:
    url = f"/api/projects/{team['project'].pk}/model/"
    response = client_for(team["owner"]).patch(url, {"retrain_after": value}, format="json")
    assert response.status_code == 200 and response.json()["retrain_after"] == value


def post_label(client: Any, asset: Asset, frame: int, team: dict[str, Any], mask: Any) -> Any:
    response = client.post(
        f"/api/assets/{asset.pk}/annotations/",
        {"frame": frame, "label": team["label"].pk, "mask": rle_of(mask)},
        format="json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def train_jobs(project: Any) -> int:
    return Job.objects.filter(project=project, kind="train").count()


def test_a_training_starts_by_itself_after_retrain_after_new_labels(
    team: dict[str, Any], client_for: Any, video: Any
) -> None:
    asset, masks = video
    owner, annotator = client_for(team["owner"]), client_for(team["annotator"])
    owner.patch(f"/api/projects/{team['project'].pk}/model/", {"retrain_after": 2}, format="json")
    post_label(annotator, asset, 0, team, masks[0])
    assert train_jobs(team["project"]) == 0
    post_label(annotator, asset, 1, team, masks[1])
    job = Job.objects.get(project=team["project"], kind="train")
    assert (job.status, job.created_by, job.params) == ("queued", None, {"auto": True})
    assert state(owner, team["project"])["job"] == job.pk
    post_label(annotator, asset, 2, team, masks[2])
    assert train_jobs(team["project"]) == 1  # one at a time
    train_model(job.pk)
    assert state(owner, team["project"])["labels_since"] == 0
    post_label(annotator, asset, 3, team, masks[3])
    assert train_jobs(team["project"]) == 1
    post_label(annotator, asset, 4, team, masks[4])
    assert train_jobs(team["project"]) == 2


def test_proposals_and_rejected_masks_are_not_new_labels_but_accepted_ones_are(
    team: dict[str, Any], client_for: Any, video: Any
) -> None:
    asset, masks = video
    owner, annotator = client_for(team["owner"]), client_for(team["annotator"])
    owner.patch(f"/api/projects/{team['project'].pk}/model/", {"retrain_after": 2}, format="json")
    proposals = [
        annotate(asset, team["label"], frame=f, source="generated", score=0.5, mask=masks[f])
        for f in (5, 6, 7)
    ]
    rejected = annotate(
        asset, team["label"], team["annotator"], frame=4, review_status="rejected", mask=masks[4]
    )
    post_label(annotator, asset, 0, team, masks[0])
    # An annotator's edit of the rejected one that leaves it rejected (a score) counts not.
    response = annotator.patch(
        f"/api/annotations/{rejected.pk}/", {"version": 1, "score": 0.3}, format="json"
    )
    assert response.status_code == 200 and response.json()["review_status"] == "rejected"
    assert state(owner, team["project"])["labels_since"] == 1
    assert train_jobs(team["project"]) == 0
    reviewer = client_for(team["reviewer"])
    reject = {"decision": "reject", "comment": "no"}
    response = reviewer.post(f"/api/annotations/{proposals[0].pk}/review/", reject, format="json")
    assert response.status_code == 200
    assert train_jobs(team["project"]) == 0
    accept = {"decision": "accept"}
    response = reviewer.post(f"/api/annotations/{proposals[1].pk}/review/", accept, format="json")
    assert response.status_code == 200, response.content
    assert state(owner, team["project"])["labels_since"] == 2
    assert train_jobs(team["project"]) == 1


def test_without_retrain_after_nothing_trains_by_itself(
    team: dict[str, Any], client_for: Any, video: Any
) -> None:
    asset, masks = video
    annotator = client_for(team["annotator"])
    for frame in range(4):
        post_label(annotator, asset, frame, team, masks[frame])
    assert train_jobs(team["project"]) == 0
    assert state(annotator, team["project"])["labels_since"] == 4
    assert not ProjectModel.objects.exists()


def test_a_label_added_while_a_version_trains_counts_for_the_next_one(
    team: dict[str, Any], client_for: Any, video: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers.runtime import learning

    real_train = learning.train

    def train_while_someone_labels(*args: Any, **kwargs: Any) -> Any:
        if not Annotation.objects.filter(frame=5).exists():
            label(team, video, 5)  # read after the labels were, before the version is stored
        return real_train(*args, **kwargs)

    monkeypatch.setattr(learning, "train", train_while_someone_labels)
    label(team, video, 0)
    run_training(client_for(team["owner"]), team["project"])
    body = state(client_for(team["owner"]), team["project"])
    assert (body["version"], body["num_labels"]) == (1, 1)
    assert body["labels_since"] == 1


# --- the model's prior for clicks -------------------------------------------------------------


@pytest.fixture
def fake_queue(monkeypatch: pytest.MonkeyPatch) -> Any:
    from annotator.services import predict as predict_service
    from tests.api.test_predict import FakeQueue

    fake = FakeQueue()
    monkeypatch.setattr(predict_service, "queue_state", lambda name: (True, 0))
    monkeypatch.setattr(predict_service.app, "send_task", fake.send_task)
    monkeypatch.setattr(predict_service, "wait_reply", fake.wait_reply)
    return fake


def click(client: Any, asset: Asset, **extra: Any) -> Any:
    body = {"frame": 0, "clicks": [{"x": 20, "y": 30}], **extra}
    return client.post(f"/api/assets/{asset.pk}/predict/", body, format="json")


@pytest.mark.parametrize("value", [987_654, "bird", True, 1.5, [1]])
def test_a_click_for_an_unknown_label_is_refused(
    team: dict[str, Any], client_for: Any, video: Any, fake_queue: Any, value: Any
) -> None:
    asset, _ = video
    ProjectModel.objects.create(project=team["project"], version=1, path="learning/x.bin")
    assert_error(click(client_for(team["annotator"]), asset, label=value), 400, "unknown_label")
    assert not fake_queue.calls


def test_a_click_for_another_projects_label_is_refused(
    team: dict[str, Any], client_for: Any, video: Any, fake_queue: Any, other_project: Any
) -> None:
    asset, _ = video
    theirs = other_project.labels.get()
    assert_error(click(client_for(team["owner"]), asset, label=theirs.pk), 400, "unknown_label")
    assert not fake_queue.calls


def test_a_click_carries_the_latest_versions_prior_once_one_is_trained(
    team: dict[str, Any], client_for: Any, video: Any, fake_queue: Any
) -> None:
    asset, _ = video
    client = client_for(team["annotator"])

    def sent_prior() -> Any:
        return fake_queue.calls[-1]["options"]["kwargs"]["prior"]

    assert click(client, asset, label=team["label"].pk).status_code == 200
    assert sent_prior() is None  # nothing trained yet
    for version in (1, 2):
        ProjectModel.objects.create(project=team["project"], version=version, path=f"m{version}")
    ProjectModel.objects.create(project=team["project"], version=3, path="m3", status="failed")
    assert click(client, asset, label=team["label"].pk).status_code == 200
    assert sent_prior() == {"project": team["project"].pk, "version": 2, "label": team["label"].pk}
    assert click(client, asset).status_code == 200
    assert sent_prior()["label"] is None
    # A version that did poorly on its held-back frames is not trusted with clicks.
    ProjectModel.objects.create(
        project=team["project"], version=4, path="m4", metrics={"miou": 0.3, "frames": 2}
    )
    assert click(client, asset, label=team["label"].pk).status_code == 200
    assert sent_prior() is None
    ProjectModel.objects.create(
        project=team["project"], version=5, path="m5", metrics={"miou": 0.8, "frames": 2}
    )
    assert click(client, asset, label=team["label"].pk).status_code == 200
    assert sent_prior()["version"] == 5


def test_a_failed_first_training_shows_as_failed(
    team: dict[str, Any], client_for: Any, video: Any
) -> None:
    client = client_for(team["owner"])
    first = label(team, video, 0)
    job = Job.objects.get(pk=train(client, team["project"]).json()["job"])
    first.delete()  # nothing left to learn from when the worker takes it
    train_model(job.pk)
    job.refresh_from_db()
    assert job.status == "failed"
    body = state(client, team["project"])
    assert (body["status"], body["version"], body["job"]) == ("failed", None, None)
    # A version that trains after all is ready again.
    label(team, video, 1)
    run_training(client, team["project"])
    assert state(client, team["project"])["status"] == "ready"
