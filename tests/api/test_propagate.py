"""``POST /api/assets/{id}/propagate/``: what is checked before a job starts."""

from __future__ import annotations

from typing import Any

import pytest

from annotator.models import Annotation, Asset, Job
from annotator.services.annotations import create_annotation
from annotator.services.propagation import DEFAULT_REVIEW_THRESHOLD
from tests.annotator.sample_images import rle_of
from tests.api.helpers import assert_error
from tests.api.videos import disc_frames, make_video

pytestmark = pytest.mark.django_db


@pytest.fixture
def video(team: dict[str, Any]) -> Asset:
    frames, _ = disc_frames(8)
    return make_video(team["project"], frames)


@pytest.fixture
def keyframe(team: dict[str, Any], video: Asset) -> Annotation:
    _, masks = disc_frames(8)
    return create_annotation(
        asset=video, frame=2, label=team["label"], mask=rle_of(masks[2]), author=team["owner"]
    )


def _propagate(client: Any, asset: Asset, **body: Any) -> Any:
    return client.post(f"/api/assets/{asset.pk}/propagate/", body, format="json")


def test_a_propagation_starts_a_job_with_its_plan(
    team: dict[str, Any], client_for: Any, video: Asset, keyframe: Annotation
) -> None:
    response = _propagate(
        client_for(team["annotator"]), video, annotation=keyframe.pk, direction="both"
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job"])
    assert (job.kind, job.asset_id, job.status) == ("propagate", video.pk, "queued")
    assert job.params == {
        "annotation": keyframe.pk,
        "track": keyframe.track,
        "label": team["label"].pk,
        "frame": 2,
        "direction": "both",
        "end_frame": None,
        "threshold": DEFAULT_REVIEW_THRESHOLD,
        "engine": "auto",
    }


def test_a_newer_propagation_of_the_track_supersedes_the_queued_one(
    team: dict[str, Any], client_for: Any, video: Asset, keyframe: Annotation
) -> None:
    client = client_for(team["annotator"])
    first = _propagate(client, video, annotation=keyframe.pk).json()["job"]
    second = _propagate(client, video, annotation=keyframe.pk, threshold=0.7).json()["job"]
    assert Job.objects.get(pk=first).status == "cancelled"
    assert Job.objects.get(pk=second).status == "queued"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"direction": "sideways"}, "invalid_choice"),
        ({"end_frame": 8}, "frame_out_of_range"),
        ({"end_frame": 1}, "invalid_end_frame"),
        ({"direction": "backward", "end_frame": 5}, "invalid_end_frame"),
        ({"direction": "both", "end_frame": 5}, "invalid_end_frame"),
        ({"threshold": 1.5}, "max_value"),
        ({"end_frame": -1}, "min_value"),
        ({"engine": "magic"}, "invalid_choice"),
        ({"engine": "sam"}, "engine_unavailable"),
    ],
)
def test_bad_requests_are_refused_and_start_nothing(
    team: dict[str, Any],
    client_for: Any,
    video: Asset,
    keyframe: Annotation,
    body: dict[str, Any],
    code: str,
) -> None:
    response = _propagate(client_for(team["annotator"]), video, annotation=keyframe.pk, **body)
    assert_error(response, 400, code)
    assert not Job.objects.filter(kind="propagate").exists()


def test_an_annotation_of_another_asset_is_unknown(
    team: dict[str, Any], client_for: Any, video: Asset, keyframe: Annotation, asset: Asset
) -> None:
    other = make_video(team["project"], disc_frames(3)[0], name="other.mp4")
    response = _propagate(client_for(team["owner"]), other, annotation=keyframe.pk)
    assert_error(response, 400, "unknown_annotation")
    assert_error(
        _propagate(client_for(team["owner"]), video, annotation=10**9), 400, "unknown_annotation"
    )


def test_single_images_and_unready_videos_cannot_propagate(
    team: dict[str, Any], client_for: Any, video: Asset, keyframe: Annotation, annotation: Any
) -> None:
    client = client_for(team["owner"])
    response = _propagate(client, annotation.asset, annotation=annotation.pk)
    assert_error(response, 400, "single_frame")
    Asset.objects.filter(pk=video.pk).update(status="processing")
    assert_error(_propagate(client, video, annotation=keyframe.pk), 409, "asset_not_ready")


def test_viewers_and_reviewers_cannot_propagate(
    team: dict[str, Any], client_for: Any, video: Asset, keyframe: Annotation
) -> None:
    for role in ("viewer", "reviewer"):
        if role in team:
            assert_error(_propagate(client_for(team[role]), video, annotation=keyframe.pk), 403)
    assert not Job.objects.filter(kind="propagate").exists()


def test_an_empty_mask_cannot_be_propagated(
    team: dict[str, Any], client_for: Any, video: Asset
) -> None:
    import numpy as np

    empty = create_annotation(
        asset=video,
        frame=0,
        label=team["label"],
        mask=rle_of(np.zeros((64, 96), dtype=bool)),
        author=team["owner"],
    )
    response = _propagate(client_for(team["owner"]), video, annotation=empty.pk)
    assert_error(response, 400, "no_mask")
    assert not Job.objects.filter(kind="propagate").exists()
