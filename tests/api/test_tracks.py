"""Object identity (``track``), the annotation filters, the timeline and prefetch."""

from __future__ import annotations

from typing import Any

import pytest

from annotator.models import Annotation, Asset, Job
from annotator.services.annotations import create_annotation
from tests.annotator.sample_images import box_mask, rle_of
from tests.api.helpers import assert_error
from tests.api.videos import disc_frames, make_video

pytestmark = pytest.mark.django_db


@pytest.fixture
def video(team: dict[str, Any]) -> Asset:
    frames, _ = disc_frames(6)
    return make_video(team["project"], frames)


def _rle(x0: int = 5) -> dict[str, Any]:
    return rle_of(box_mask(64, 96, x0, 5, x0 + 10, 15))


def _post(client: Any, asset: Asset, label: int, **extra: Any) -> Any:
    return client.post(
        f"/api/assets/{asset.pk}/annotations/",
        {"frame": 0, "label": label, "mask": _rle(), **extra},
        format="json",
    )


def test_new_objects_get_new_tracks_and_a_given_track_is_kept(
    team: dict[str, Any], client_for: Any, video: Asset
) -> None:
    client = client_for(team["annotator"])
    label = team["label"].pk
    first = _post(client, video, label).json()
    second = _post(client, video, label).json()
    assert (first["track"], second["track"]) == (1, 2)
    same = _post(client, video, label, frame=3, track=first["track"]).json()
    assert same["track"] == 1 and same["frame"] == 3
    # A client's own number moves the counter past it: the server never reuses it.
    assert _post(client, video, label, track=40).json()["track"] == 40
    assert _post(client, video, label).json()["track"] == 41


@pytest.mark.parametrize("track", [0, -1, 2**31, "x", 1.5, True])
def test_bad_tracks_are_refused(
    team: dict[str, Any], client_for: Any, video: Asset, track: Any
) -> None:
    response = _post(client_for(team["annotator"]), video, team["label"].pk, track=track)
    assert_error(response, 400)
    assert not Annotation.objects.exists()


def test_list_filters_by_frame_track_source_and_review_status(
    team: dict[str, Any], client_for: Any, video: Asset
) -> None:
    def make(frame: int, track: int, **fields: Any) -> Annotation:
        return create_annotation(
            asset=video,
            frame=frame,
            label=team["label"],
            mask=_rle(),
            author=None,
            track=track,
            **fields,
        )

    a = make(0, 1)
    b = make(1, 1, source="propagated", review_status="needs_review", score=0.2)
    c = make(1, 2, source="propagated", score=0.9)
    client = client_for(team["viewer"])
    url = f"/api/assets/{video.pk}/annotations/"

    def ids(query: str) -> list[int]:
        response = client.get(url + query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("?track=1") == [a.pk, b.pk]
    assert ids("?frame=1") == [b.pk, c.pk]
    assert ids("?source=propagated") == [b.pk, c.pk]
    assert ids("?review_status=needs_review") == [b.pk]
    assert ids("?track=1&source=manual") == [a.pk]
    for query, code in (
        ("?track=x", "invalid_track"),
        ("?source=robot", "invalid_source"),
        ("?review_status=maybe", "invalid_review_status"),
    ):
        assert_error(client.get(url + query), 400, code)


def test_a_new_mask_on_a_propagated_annotation_makes_it_a_manual_keyframe(
    team: dict[str, Any], client_for: Any, video: Asset
) -> None:
    row = create_annotation(
        asset=video,
        frame=2,
        label=team["label"],
        mask=_rle(),
        author=None,
        track=1,
        source="propagated",
        review_status="needs_review",
        score=0.3,
    )
    client = client_for(team["annotator"])
    response = client.patch(
        f"/api/annotations/{row.pk}/", {"version": 1, "mask": _rle(20)}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["source"] == "manual"
    assert response.json()["review_status"] == "pending"  # the flag is answered
    # Naming the source keeps it as the client says; a review alone changes no source.
    other = create_annotation(
        asset=video,
        frame=3,
        label=team["label"],
        mask=_rle(),
        author=None,
        track=1,
        source="propagated",
    )
    body = client.patch(
        f"/api/annotations/{other.pk}/",
        {"version": 1, "mask": _rle(20), "source": "propagated"},
        format="json",
    ).json()
    assert body["source"] == "propagated"
    reviewed = client_for(team["owner"]).patch(
        f"/api/annotations/{other.pk}/", {"review_status": "accepted"}, format="json"
    )
    assert reviewed.json()["source"] == "propagated"


def test_timeline_lists_every_track_by_frame(
    team: dict[str, Any], client_for: Any, video: Asset
) -> None:
    for frame, track, source, score in (
        (0, 1, "manual", None),
        (2, 1, "propagated", 0.25),
        (1, 1, "propagated", 0.8),
        (0, 2, "manual", None),
    ):
        create_annotation(
            asset=video,
            frame=frame,
            label=team["label"],
            mask=_rle(),
            author=None,
            track=track,
            source=source,
            score=score,
        )
    body = client_for(team["viewer"]).get(f"/api/assets/{video.pk}/timeline/").json()
    assert body["num_frames"] == 6 and body["fps"] == 25.0
    assert body["timestamps"] == pytest.approx([i / 25 for i in range(6)])
    tracks = {t["track"]: t for t in body["tracks"]}
    assert set(tracks) == {1, 2}
    assert [row[:4] for row in tracks[1]["frames"]] == [
        [0, "manual", "pending", None],
        [1, "propagated", "pending", 0.8],
        [2, "propagated", "pending", 0.25],
    ]
    assert tracks[1]["label"] == team["label"].pk


def test_prefetch_queues_the_frame_first_then_its_neighbours(
    team: dict[str, Any], client_for: Any, video: Asset
) -> None:
    client = client_for(team["annotator"])
    url = f"/api/assets/{video.pk}/prefetch/"
    response = client.post(url, {"frame": 0, "radius": 2}, format="json")
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job"])
    assert (job.kind, job.params["frames"]) == ("embed", [0, 1, 2])
    # Scrubbing on: the queued job is re-aimed rather than a second one queued.
    again = client.post(url, {"frame": 4}, format="json").json()
    assert again["job"] == job.pk
    assert Job.objects.get(pk=job.pk).params["frames"] == [4, 5, 3, 2]
    assert Job.objects.filter(kind="embed").count() == 1
    assert_error(client.post(url, {"frame": 6}, format="json"), 400, "frame_out_of_range")
    assert_error(client_for(team["viewer"]).post(url, {"frame": 1}, format="json"), 403)


def test_prefetch_of_a_single_image_has_nothing_to_do(
    team: dict[str, Any], client_for: Any, asset: Asset
) -> None:
    before = Job.objects.count()
    response = client_for(team["owner"]).post(
        f"/api/assets/{asset.pk}/prefetch/", {"frame": 0}, format="json"
    )
    assert response.status_code == 200 and response.json() == {"job": None}
    assert Job.objects.count() == before
