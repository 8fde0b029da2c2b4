"""``GET /api/projects/{id}/dashboard/`` and the asset list's ``progress``, ``?ordering=``
and ``?state=``: how far a project's labelling has come."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from annotator.models import Asset, QueueItem
from annotator.services.projects import add_label
from tests.api.helpers import assert_error
from tests.api.learning_helpers import annotate, image_assets, trained_version
from tests.api.world import clip_asset

pytestmark = pytest.mark.django_db

ZERO_PROGRESS = {
    "annotations": 0,
    "pending": 0,
    "needs_review": 0,
    "accepted": 0,
    "rejected": 0,
    "generated": 0,
}


@pytest.fixture
def world(team: dict[str, Any]) -> dict[str, Any]:
    """Four images (b, d, a, c by name, in this order of creation) and a 3-frame clip:
    b: 2 accepted + 1 pending; d: 1 generated pending + 1 rejected; a: nothing;
    c: 1 needs_review; the clip: 1 pending on frame 2."""
    project, bird = team["project"], team["label"]
    fish = add_label(project, "fish")
    b, d, a, c = image_assets(project, 4)
    for asset, name in zip((b, d, a, c), "bdac", strict=True):
        Asset.objects.filter(pk=asset.pk).update(name=name)
    clip = clip_asset(project, name="clip.mp4", frames=3)
    annotator = team["annotator"]
    annotate(b, bird, annotator, review_status="accepted")
    annotate(b, fish, annotator, review_status="accepted")
    annotate(b, bird, annotator)
    annotate(d, bird, source="generated", score=0.4)
    annotate(d, fish, annotator, review_status="rejected", source="interactive")
    annotate(c, fish, source="propagated", review_status="needs_review")
    annotate(clip, bird, annotator, frame=2, source="imported")
    return {"a": a, "b": b, "c": c, "d": d, "clip": clip, "bird": bird, "fish": fish}


def assets_of(client: Any, project: Any, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/api/projects/{project.pk}/assets/{query}")
    assert response.status_code == 200, response.content
    rows: list[dict[str, Any]] = response.json()["results"]
    return rows


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [row["name"] for row in rows]


def test_every_asset_carries_its_progress(
    team: dict[str, Any], client_for: Any, world: dict[str, Any]
) -> None:
    rows = {
        r["name"]: r["progress"] for r in assets_of(client_for(team["viewer"]), team["project"])
    }
    assert rows["a"] == ZERO_PROGRESS
    assert rows["b"] == {**ZERO_PROGRESS, "annotations": 3, "pending": 1, "accepted": 2}
    assert rows["d"] == {
        **ZERO_PROGRESS,
        "annotations": 2,
        "pending": 1,
        "rejected": 1,
        "generated": 1,
    }
    assert rows["c"] == {**ZERO_PROGRESS, "annotations": 1, "needs_review": 1}
    assert rows["clip.mp4"] == {**ZERO_PROGRESS, "annotations": 1, "pending": 1}
    detail = client_for(team["owner"]).get(f"/api/assets/{world['b'].pk}/").json()
    assert detail["progress"] == rows["b"]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        (None, ["b", "d", "a", "c", "clip.mp4"]),
        ("name", ["a", "b", "c", "clip.mp4", "d"]),
        ("-name", ["d", "clip.mp4", "c", "b", "a"]),
        ("-created", ["clip.mp4", "c", "a", "d", "b"]),
        ("created", ["b", "d", "a", "c", "clip.mp4"]),
        ("pending", ["a", "c", "b", "d", "clip.mp4"]),
        ("-pending", ["b", "d", "clip.mp4", "a", "c"]),
        ("accepted", ["d", "a", "c", "clip.mp4", "b"]),
        ("-accepted", ["b", "d", "a", "c", "clip.mp4"]),
        ("annotations", ["a", "c", "clip.mp4", "d", "b"]),
        ("-annotations", ["b", "d", "c", "clip.mp4", "a"]),
    ],
)
def test_the_asset_list_orders_by_a_field_or_a_count(
    team: dict[str, Any], client_for: Any, world: dict[str, Any], ordering: str, expected: Any
) -> None:
    # Distinct creation times: "-created" must not fall back to ids by accident.
    start = timezone.now() - timedelta(hours=1)
    for n, key in enumerate(["b", "d", "a", "c", "clip"]):
        Asset.objects.filter(pk=world[key].pk).update(created=start + timedelta(minutes=n))
    query = f"?ordering={ordering}" if ordering else ""
    assert names(assets_of(client_for(team["owner"]), team["project"], query)) == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("unlabelled", ["a"]),
        ("pending", ["b", "d", "clip.mp4"]),
        ("accepted", ["b"]),
        ("needs_review", ["c"]),
    ],
)
def test_the_asset_list_filters_by_state(
    team: dict[str, Any], client_for: Any, world: dict[str, Any], state: str, expected: list[str]
) -> None:
    client = client_for(team["annotator"])
    response = client.get(f"/api/projects/{team['project'].pk}/assets/?state={state}")
    assert response.json()["count"] == len(expected)
    assert names(assets_of(client, team["project"], f"?state={state}")) == expected


def test_state_and_ordering_combine_with_kind(
    team: dict[str, Any], client_for: Any, world: dict[str, Any]
) -> None:
    rows = assets_of(client_for(team["owner"]), team["project"], "?state=pending&ordering=-name")
    assert names(rows) == ["d", "clip.mp4", "b"]
    rows = assets_of(client_for(team["owner"]), team["project"], "?state=pending&kind=image")
    assert names(rows) == ["b", "d"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?ordering=size", "invalid_ordering"),
        ("?ordering=--name", "invalid_ordering"),
        ("?ordering=progress_pending", "invalid_ordering"),
        ("?ordering=name,id", "invalid_ordering"),
        ("?state=rejected", "invalid_state"),
        ("?state=done", "invalid_state"),
    ],
)
def test_bad_ordering_or_state_is_refused(
    team: dict[str, Any], client_for: Any, world: dict[str, Any], query: str, code: str
) -> None:
    response = client_for(team["owner"]).get(f"/api/projects/{team['project'].pk}/assets/{query}")
    assert_error(response, 400, code)


def dashboard(client: Any, project: Any) -> Any:
    return client.get(f"/api/projects/{project.pk}/dashboard/")


def test_the_dashboard_counts_what_the_project_holds(
    team: dict[str, Any], client_for: Any, world: dict[str, Any]
) -> None:
    project = team["project"]
    items = [
        QueueItem.objects.create(project=project, asset=world["a"], frame=0),
        QueueItem.objects.create(project=project, asset=world["clip"], frame=0),
        QueueItem.objects.create(project=project, asset=world["clip"], frame=1, done=True),
    ]
    QueueItem.objects.filter(pk=items[1].pk).update(
        leased_by=team["annotator"], lease_expires=timezone.now() + timedelta(minutes=5)
    )
    # A lease that ran out is open again.
    QueueItem.objects.filter(pk=items[0].pk).update(
        leased_by=team["owner"], lease_expires=timezone.now() - timedelta(minutes=5)
    )
    trained_version(project, 1)
    second = trained_version(project, 2)
    second.metrics = {"miou": 0.8, "per_label": {}, "frames": 1}
    second.num_labels, second.trained_on = 4, 2
    second.save()
    response = dashboard(client_for(team["viewer"]), project)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["assets"], body["frames"]) == (5, 4 + 3)
    # b (accepted and pending manual), the clip's frame 2 (imported); not d (a proposal
    # and a rejected mask) nor c (a propagated mask flagged for review).
    assert body["frames_labelled"] == 2
    assert body["annotations"] == {
        "total": 7,
        "by_status": {"pending": 3, "accepted": 2, "rejected": 1, "needs_review": 1},
        "by_source": {
            "manual": 3,
            "interactive": 1,
            "propagated": 1,
            "generated": 1,
            "imported": 1,
        },
    }
    assert body["labels"] == [
        {"id": world["bird"].pk, "name": "bird", "color": "#00ff00", "annotations": 4},
        {"id": world["fish"].pk, "name": "fish", "color": world["fish"].color, "annotations": 3},
    ]
    assert body["queue"] == {"open": 1, "leased": 1, "done": 1}
    model = client_for(team["owner"]).get(f"/api/projects/{project.pk}/model/").json()
    assert body["model"] == model and body["model"]["version"] == 2
    assert body["efficiency"] == [
        {"version": 1, "num_labels": 1, "trained_on": 1, "miou": 0.5},
        {"version": 2, "num_labels": 4, "trained_on": 2, "miou": 0.8},
    ]


def test_an_empty_project_has_a_dashboard_of_zeros(team: dict[str, Any], client_for: Any) -> None:
    body = dashboard(client_for(team["annotator"]), team["project"]).json()
    assert (body["assets"], body["frames"], body["frames_labelled"]) == (0, 0, 0)
    assert body["annotations"]["total"] == 0
    assert set(body["annotations"]["by_status"].values()) == {0}
    assert set(body["annotations"]["by_source"].values()) == {0}
    assert body["labels"][0]["annotations"] == 0
    assert body["queue"] == {"open": 0, "leased": 0, "done": 0}
    assert (body["model"]["status"], body["efficiency"]) == ("none", [])


def test_another_projects_dashboard_does_not_exist(
    team: dict[str, Any], client_for: Any, other_project: Any
) -> None:
    assert_error(dashboard(client_for(team["owner"]), other_project), 404)
    assert_error(dashboard(client_for(team["outsider"]), team["project"]), 404)


def test_the_asset_list_counts_progress_in_the_same_queries_for_any_page_size(
    team: dict[str, Any], client_for: Any, world: dict[str, Any]
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(team["owner"])
    url = f"/api/projects/{team['project'].pk}/assets/?ordering=-pending"
    client.get(url)  # warm (the token, the content types)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url).status_code == 200
    for asset in image_assets(team["project"], 10, start=50):
        annotate(asset, world["bird"], team["annotator"])
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(url).json()["results"]) == 15
    assert len(many) == len(few), [q["sql"][:120] for q in many.captured_queries]
