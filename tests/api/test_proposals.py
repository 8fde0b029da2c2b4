"""``POST /api/projects/{id}/proposals/``: what is checked before the job starts, and
which frames it targets (the job through a real worker: tests/workers/runtime/
test_learning.py)."""

from __future__ import annotations

from typing import Any

import pytest

from annotator.models import Job
from annotator.services.proposals import frames_to_propose
from tests.api.helpers import assert_error
from tests.api.learning_helpers import annotate, image_assets, trained_version
from tests.api.world import clip_asset

pytestmark = pytest.mark.django_db


def propose(client: Any, project: Any, body: Any = None) -> Any:
    url = f"/api/projects/{project.pk}/proposals/"
    return client.post(url, body, format="json") if body is not None else client.post(url)


@pytest.fixture
def assets(team: dict[str, Any]) -> list[Any]:
    return image_assets(team["project"], 3)


def test_proposals_need_a_trained_model(
    team: dict[str, Any], client_for: Any, assets: list[Any]
) -> None:
    annotate(assets[0], team["label"], team["annotator"])  # labelled, never trained
    assert_error(propose(client_for(team["annotator"]), team["project"], {}), 400, "no_model")
    assert not Job.objects.filter(kind="proposals").exists()


@pytest.mark.parametrize("body", [None, {}, {"assets": None, "labels": None}])
def test_proposals_start_a_job_for_every_asset_and_label_by_default(
    team: dict[str, Any], client_for: Any, assets: list[Any], body: Any
) -> None:
    trained_version(team["project"], 1)
    trained_version(team["project"], 2)
    response = propose(client_for(team["annotator"]), team["project"], body)
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job"])
    assert (job.kind, job.status, job.created_by) == ("proposals", "queued", team["annotator"])
    assert job.params == {"assets": None, "labels": None, "model": 2, "after_training": None}


def test_proposals_for_chosen_assets_and_labels(
    team: dict[str, Any], client_for: Any, assets: list[Any]
) -> None:
    trained_version(team["project"])
    body = {"assets": [assets[2].pk, assets[0].pk, assets[2].pk], "labels": [team["label"].pk]}
    response = propose(client_for(team["owner"]), team["project"], body)
    assert response.status_code == 202, response.content
    params = Job.objects.get(pk=response.json()["job"]).params
    assert params == {
        "assets": sorted([assets[0].pk, assets[2].pk]),
        "labels": [team["label"].pk],
        "model": 1,
        "after_training": None,
    }


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda t, a, o: {"assets": [a[0].pk, 987_654]}, "unknown_asset"),
        (lambda t, a, o: {"assets": [o["asset"].pk]}, "unknown_asset"),
        (lambda t, a, o: {"labels": [987_654]}, "unknown_label"),
        (lambda t, a, o: {"labels": [t["label"].pk, o["label"].pk]}, "unknown_label"),
        (lambda t, a, o: {"assets": "all"}, "invalid_assets"),
        (lambda t, a, o: {"assets": [0]}, "invalid_assets"),
        (lambda t, a, o: {"assets": [True]}, "invalid_assets"),
        (lambda t, a, o: {"assets": [str(a[0].pk)]}, "invalid_assets"),
        (lambda t, a, o: {"labels": [1.5]}, "invalid_labels"),
        (lambda t, a, o: {"labels": {"id": 1}}, "invalid_labels"),
        (lambda t, a, o: {"labels": []}, "invalid_labels"),  # none is not "all"
        (lambda t, a, o: {"assets": []}, "invalid_assets"),
        (lambda t, a, o: [a[0].pk], "invalid_body"),
    ],
)
def test_bad_targets_are_refused(
    team: dict[str, Any],
    client_for: Any,
    assets: list[Any],
    other_asset: Any,
    make: Any,
    code: str,
) -> None:
    trained_version(team["project"])
    theirs = {"asset": other_asset, "label": other_asset.project.labels.get()}
    response = propose(client_for(team["owner"]), team["project"], make(team, assets, theirs))
    assert_error(response, 400, code)
    assert not Job.objects.filter(kind="proposals").exists()


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_only_owners_and_annotators_ask_for_proposals(
    team: dict[str, Any], client_for: Any, assets: list[Any], role: str
) -> None:
    trained_version(team["project"])
    assert_error(propose(client_for(team[role]), team["project"], {}), 403)
    assert not Job.objects.filter(kind="proposals").exists()


def test_proposals_target_ready_frames_without_any_annotation(
    team: dict[str, Any], assets: list[Any], settings: Any
) -> None:
    settings.QUEUE_VIDEO_STRIDE = 2
    project = team["project"]
    clip = clip_asset(project, frames=5)
    annotate(assets[0], team["label"], team["annotator"])
    # Anything on a frame keeps proposals off it: a rejected mask, an earlier proposal.
    annotate(assets[1], team["label"], source="generated", review_status="rejected")
    annotate(clip, team["label"], team["annotator"], frame=2)
    processing = image_assets(project, 1, start=9)[0]
    processing.status = "processing"
    processing.save()
    assert frames_to_propose(project.pk, None) == [(assets[2].pk, 0), (clip.pk, 0), (clip.pk, 4)]
    assert frames_to_propose(project.pk, [clip.pk, processing.pk]) == [(clip.pk, 0), (clip.pk, 4)]
    assert frames_to_propose(project.pk, [assets[0].pk]) == []
