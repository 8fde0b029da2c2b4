"""The ``propagate`` job: in-process on the test database (the plan, keyframes kept,
replacement, review flags, cancellation) and once through the API with the real worker."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from annotator.models import Annotation, Asset, Job
from annotator.services.annotations import create_annotation
from annotator.services.propagation import DEFAULT_REVIEW_THRESHOLD, start_propagation
from formats.rle import decode_mask, encode_mask
from tests.api.videos import disc_frames, make_video
from tests.conftest import wait_for_job
from workers import propagation as compute
from workers.runtime import propagation as runtime
from workers.runtime.propagation import Segment, plan, propagate_track

pytestmark = pytest.mark.django_db

FRAMES = 12


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


@pytest.fixture
def own_media(tmp_path: Any, settings: Any) -> None:
    """In-process tests store frames in their own folder, not the worker's."""
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }


@pytest.fixture
def clip(team: dict[str, Any], own_media: None) -> tuple[Asset, list[np.ndarray]]:
    frames, masks = disc_frames(FRAMES)
    return make_video(team["project"], frames), masks


def keyframe(team: dict[str, Any], asset: Asset, mask: np.ndarray, frame: int, **kw: Any) -> Any:
    return create_annotation(
        asset=asset,
        frame=frame,
        label=team["label"],
        mask=encode_mask(mask),
        author=team["owner"],
        **kw,
    )


def run(annotation: Annotation, user: Any, **kw: Any) -> Job:
    job = start_propagation(annotation, user=user, **kw)
    propagate_track(job.pk)
    return Job.objects.get(pk=job.pk)


def track_rows(annotation: Annotation) -> dict[int, Annotation]:
    rows = Annotation.objects.filter(asset=annotation.asset, track=annotation.track)
    return {row.frame: row for row in rows.order_by("frame")}


def test_the_review_threshold_is_the_compute_packages() -> None:
    assert DEFAULT_REVIEW_THRESHOLD == compute.DEFAULT_REVIEW_THRESHOLD


def test_plan_stops_before_keyframes_and_blends_from_them() -> None:
    assert plan(2, "forward", None, 10, {2, 6}) == [Segment(2, [3, 4, 5], 6)]
    assert plan(2, "forward", 4, 10, {6}) == [Segment(2, [3, 4], None)]
    assert plan(2, "backward", None, 10, {2, 6}) == [Segment(2, [1, 0], None)]
    assert plan(5, "both", None, 10, {0, 9}) == [
        Segment(5, [6, 7, 8], 9),
        Segment(5, [4, 3, 2, 1], 0),
    ]
    assert plan(3, "forward", None, 10, {4}) == []  # the next frame is a keyframe


def test_forward_propagation_tracks_the_object_on_every_frame(
    team: dict[str, Any], clip: tuple[Asset, list[np.ndarray]]
) -> None:
    asset, masks = clip
    start = keyframe(team, asset, masks[0], 0)
    job = run(start, team["annotator"])
    assert job.status == "done", job.error
    assert job.result["frames"] == FRAMES - 1 and job.result["stopped_at"] == []
    assert job.progress == 1.0
    rows = track_rows(start)
    assert sorted(rows) == list(range(FRAMES))
    for frame in range(1, FRAMES):
        row = rows[frame]
        assert (row.source, row.label_id, row.author) == (
            "propagated",
            team["label"].pk,
            team["annotator"],
        )
        assert 0.0 <= row.score <= 1.0
        assert row.review_status == (
            "needs_review" if row.score < DEFAULT_REVIEW_THRESHOLD else "pending"
        )
        assert iou(decode_mask(row.mask), masks[frame]) > 0.75, frame
        assert row.area == decode_mask(row.mask).sum()


def test_keyframes_stop_the_run_and_are_never_changed_and_reruns_replace(
    team: dict[str, Any], clip: tuple[Asset, list[np.ndarray]]
) -> None:
    asset, masks = clip
    start = keyframe(team, asset, masks[0], 0)
    run(start, team["annotator"], end_frame=8)
    later = keyframe(team, asset, masks[6], 6, track=start.track)
    first_ids = {f: r.pk for f, r in track_rows(start).items()}
    job = run(start, team["annotator"])
    assert job.result["stopped_at"] == [6]
    rows = track_rows(start)
    assert rows[6].pk == later.pk and rows[6].version == 1 and rows[6].source == "manual"
    # Frames 1..5 replaced (new rows, blended towards frame 6), 7 and 8 left from before.
    assert all(rows[f].pk != first_ids[f] for f in range(1, 6))
    assert [rows[f].pk for f in (7, 8)] == [first_ids[7], first_ids[8]]
    assert sorted(rows) == list(range(9))
    for frame in range(1, 6):
        assert iou(decode_mask(rows[frame].mask), masks[frame]) > 0.75


def test_backward_run_with_an_end_frame(
    team: dict[str, Any], clip: tuple[Asset, list[np.ndarray]]
) -> None:
    asset, masks = clip
    start = keyframe(team, asset, masks[10], 10)
    job = run(start, team["annotator"], direction="backward", end_frame=7)
    assert job.status == "done" and job.result["frames"] == 3
    assert sorted(track_rows(start)) == [7, 8, 9, 10]


def test_a_threshold_of_one_flags_every_frame(
    team: dict[str, Any], clip: tuple[Asset, list[np.ndarray]]
) -> None:
    asset, masks = clip
    start = keyframe(team, asset, masks[0], 0)
    job = run(start, team["annotator"], end_frame=4, threshold=1.0)
    assert job.result["needs_review"] == 4
    statuses = {r.review_status for f, r in track_rows(start).items() if f}
    assert statuses == {"needs_review"}


def test_a_cancelled_run_stops_and_keeps_only_whole_chunks(
    team: dict[str, Any], clip: tuple[Asset, list[np.ndarray]], monkeypatch: Any
) -> None:
    asset, masks = clip
    start = keyframe(team, asset, masks[0], 0)
    job = start_propagation(start, user=team["owner"])
    read = runtime._Frames.read

    def cancel_at_six(self: Any, index: int) -> np.ndarray:
        if index == 6:
            Job.objects.filter(pk=job.pk).update(status="cancelled")
        return read(self, index)

    monkeypatch.setattr(runtime, "CHUNK", 2)
    monkeypatch.setattr(runtime, "REPORT_EVERY_S", 0.0)
    monkeypatch.setattr(runtime._Frames, "read", cancel_at_six)
    propagate_track(job.pk)
    assert Job.objects.get(pk=job.pk).status == "cancelled"
    stored = sorted(track_rows(start))
    assert stored[0] == 0 and stored == list(range(len(stored))) and len(stored) <= 6


def test_a_deleted_annotation_fails_the_job_with_a_reason(
    team: dict[str, Any], clip: tuple[Asset, list[np.ndarray]]
) -> None:
    asset, masks = clip
    start = keyframe(team, asset, masks[0], 0)
    job = start_propagation(start, user=team["owner"])
    start.delete()
    propagate_track(job.pk)
    job.refresh_from_db()
    assert job.status == "failed" and "deleted" in job.error


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_propagation_through_the_api_and_the_real_worker(
    team: dict[str, Any], client_for: Any, celery_worker: Any
) -> None:
    frames, masks = disc_frames(8)
    asset = make_video(team["project"], frames)
    client = client_for(team["annotator"])
    created = client.post(
        f"/api/assets/{asset.pk}/annotations/",
        {"frame": 0, "label": team["label"].pk, "mask": encode_mask(masks[0])},
        format="json",
    ).json()
    response = client.post(
        f"/api/assets/{asset.pk}/propagate/", {"annotation": created["id"]}, format="json"
    )
    assert response.status_code == 202, response.content
    job = wait_for_job(response.json()["job"], timeout=90)
    assert job.status == "done", job.error
    listed = client.get(
        f"/api/assets/{asset.pk}/annotations/?track={created['track']}&source=propagated"
    ).json()["results"]
    assert [row["frame"] for row in listed] == list(range(1, 8))
    # The session's worker has SAM configured (tiny, random weights): the job re-segments
    # with it, and drift control keeps the carried masks on the object, roughly.
    assert job.result["engine"] == "sam"
    ious = [iou(decode_mask(row["mask"]), masks[row["frame"]]) for row in listed]
    assert min(ious) > 0.1 and float(np.mean(ious)) > 0.4, ious
    # Asked for the weight-free engine, the same worker re-segments without SAM.
    again = client.post(
        f"/api/assets/{asset.pk}/propagate/",
        {"annotation": created["id"], "engine": "classical"},
        format="json",
    )
    job = wait_for_job(again.json()["job"], timeout=90)
    assert (job.status, job.result["engine"], job.result["frames"]) == ("done", "classical", 7)
    listed = client.get(
        f"/api/assets/{asset.pk}/annotations/?track={created['track']}&source=propagated"
    ).json()["results"]
    assert len(listed) == 7  # the earlier run's masks were replaced, not added to
    for row in listed:
        assert iou(decode_mask(row["mask"]), masks[row["frame"]]) > 0.75
    timeline = client.get(f"/api/assets/{asset.pk}/timeline/").json()
    assert [f[0] for f in timeline["tracks"][0]["frames"]] == list(range(8))
    assert client.delete(f"/api/assets/{asset.pk}/").status_code == 204  # and its files
