"""Review: ``GET /api/projects/{id}/review/`` lists what waits for a reviewer;
``POST /api/annotations/{id}/review/`` accepts or rejects with a comment, and a
rejection sends the frame back to its author."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from annotator.models import AnnotationRevision, QueueItem
from annotator.services.project_model import label_annotations
from tests.annotator.sample_images import box_mask, rle_of
from tests.api.helpers import HEIGHT, WIDTH, assert_error
from tests.api.learning_helpers import annotate, image_assets, next_of

pytestmark = pytest.mark.django_db


def review_list(client: Any, project: Any, query: str = "") -> Any:
    return client.get(f"/api/projects/{project.pk}/review/{query}")


def decide(client: Any, annotation: Any, decision: Any, comment: Any = None) -> Any:
    body: dict[str, Any] = {"decision": decision}
    if comment is not None:
        body["comment"] = comment
    return client.post(f"/api/annotations/{annotation.pk}/review/", body, format="json")


@pytest.fixture
def assets(team: dict[str, Any]) -> list[Any]:
    return image_assets(team["project"], 4)


@pytest.fixture
def mixed(team: dict[str, Any], assets: list[Any]) -> dict[str, Any]:
    """One annotation in every state, created oldest first in this order."""
    label, annotator = team["label"], team["annotator"]
    return {
        "manual": annotate(assets[0], label, annotator),
        "generated": annotate(assets[1], label, source="generated", score=0.7),
        "flagged": annotate(assets[2], label, source="propagated", review_status="needs_review"),
        "accepted": annotate(assets[3], label, annotator, review_status="accepted"),
        "rejected": annotate(assets[3], label, annotator, review_status="rejected"),
        "manual2": annotate(assets[3], label, annotator),
        "generated2": annotate(assets[0], label, source="generated", score=0.2, frame=0),
        "flagged2": annotate(assets[1], label, annotator, review_status="needs_review"),
    }


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_the_review_list_puts_flagged_then_proposals_then_oldest_first(
    team: dict[str, Any], client_for: Any, mixed: dict[str, Any]
) -> None:
    order = ["flagged", "flagged2", "generated", "generated2", "manual", "manual2"]
    for role in ("owner", "reviewer"):
        response = review_list(client_for(team[role]), team["project"])
        assert ids(response) == [mixed[name].pk for name in order]
        body = response.json()
        assert body["count"] == 6 and {"next", "previous"} <= set(body)
        first = body["results"][0]
        assert {"review_comment", "reviewed_by", "reviewed_at", "score", "source"} <= set(first)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?status=needs_review", ["flagged", "flagged2"]),
        ("?status=pending", ["generated", "generated2", "manual", "manual2"]),
        ("?source=generated", ["generated", "generated2"]),
        ("?status=needs_review&source=manual", ["flagged2"]),
        ("?source=imported", []),
    ],
)
def test_the_review_list_filters_by_status_and_source(
    team: dict[str, Any], client_for: Any, mixed: dict[str, Any], query: str, expected: list[str]
) -> None:
    response = review_list(client_for(team["reviewer"]), team["project"], query)
    assert ids(response) == [mixed[name].pk for name in expected]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("?status=accepted", "invalid_review_status"),
        ("?status=nope", "invalid_review_status"),
        ("?source=robot", "invalid_source"),
    ],
)
def test_bad_filters_are_refused(
    team: dict[str, Any], client_for: Any, mixed: dict[str, Any], query: str, code: str
) -> None:
    assert_error(review_list(client_for(team["owner"]), team["project"], query), 400, code)


@pytest.mark.parametrize("role", ["annotator", "viewer"])
def test_only_owners_and_reviewers_review(
    team: dict[str, Any], client_for: Any, mixed: dict[str, Any], role: str
) -> None:
    client = client_for(team[role])
    assert_error(review_list(client, team["project"]), 403)
    assert_error(decide(client, mixed["manual"], "accept"), 403)
    mixed["manual"].refresh_from_db()
    assert mixed["manual"].review_status == "pending"


def test_another_projects_annotation_does_not_exist(
    team: dict[str, Any], client_for: Any, other_asset: Any
) -> None:
    theirs = annotate(other_asset, other_asset.project.labels.get())
    assert_error(decide(client_for(team["reviewer"]), theirs, "reject"), 404)
    theirs.refresh_from_db()
    assert theirs.review_status == "pending"


def test_accepting_records_who_when_and_why_and_makes_a_label(
    team: dict[str, Any], client_for: Any, mixed: dict[str, Any]
) -> None:
    generated = mixed["generated"]
    assert not label_annotations(team["project"]).filter(pk=generated.pk).exists()
    before = timezone.now()
    response = decide(client_for(team["reviewer"]), generated, "accept", "looks right")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == generated.pk
    assert (body["review_status"], body["review_comment"], body["reviewed_by"]) == (
        "accepted",
        "looks right",
        "reviewer",
    )
    reviewed_at = parse_datetime(body["reviewed_at"])
    assert reviewed_at is not None and before <= reviewed_at <= timezone.now()
    assert body["version"] == generated.version + 1 and body["source"] == "generated"
    assert label_annotations(team["project"]).filter(pk=generated.pk).exists()
    revision = AnnotationRevision.objects.get(annotation=generated)
    assert revision.version == generated.version
    assert ids(review_list(client_for(team["owner"]), team["project"], "?source=generated")) == [
        mixed["generated2"].pk
    ]


def test_a_comment_is_optional(
    team: dict[str, Any], client_for: Any, mixed: dict[str, Any]
) -> None:
    response = decide(client_for(team["owner"]), mixed["manual"], "reject")
    assert response.status_code == 200, response.content
    assert (response.json()["review_status"], response.json()["review_comment"]) == (
        "rejected",
        "",
    )


@pytest.mark.parametrize(
    ("decision", "comment", "code"),
    [
        ("maybe", "", "invalid_decision"),
        ("", "", "invalid_decision"),
        (None, "", "invalid_decision"),
        (["accept"], "", "invalid_decision"),
        ("accept", "x" * 2001, None),
        ("accept", 12, None),
    ],
)
def test_bad_decisions_and_comments_are_refused(
    team: dict[str, Any],
    client_for: Any,
    mixed: dict[str, Any],
    decision: Any,
    comment: Any,
    code: str | None,
) -> None:
    annotation = mixed["manual"]
    response = decide(client_for(team["reviewer"]), annotation, decision, comment)
    assert_error(response, 400, code)
    annotation.refresh_from_db()
    assert (annotation.review_status, annotation.version) == ("pending", 1)
    assert not QueueItem.objects.exists()


def test_a_missing_decision_is_refused(
    team: dict[str, Any], client_for: Any, mixed: dict[str, Any]
) -> None:
    response = client_for(team["owner"]).post(
        f"/api/annotations/{mixed['manual'].pk}/review/", {"comment": "hm"}, format="json"
    )
    assert_error(response, 400, "invalid_decision")


def test_a_long_comment_up_to_the_limit_is_kept(
    team: dict[str, Any], client_for: Any, mixed: dict[str, Any]
) -> None:
    comment = "ü" * 2000
    response = decide(client_for(team["reviewer"]), mixed["manual"], "reject", comment)
    assert response.status_code == 200 and response.json()["review_comment"] == comment


def test_a_rejection_goes_back_to_its_author_with_the_comment(
    team: dict[str, Any], client_for: Any, mixed: dict[str, Any]
) -> None:
    manual = mixed["manual"]
    response = decide(client_for(team["reviewer"]), manual, "reject", "missed the wing")
    assert response.status_code == 200, response.content
    assert response.json()["reviewed_by"] == "reviewer"
    item = QueueItem.objects.get(asset=manual.asset, frame=manual.frame)
    assert (item.reason, item.assigned_to, item.done) == ("rework", team["annotator"], False)
    body = next_of(client_for(team["annotator"]), team["project"]).json()
    assert (body["item"], body["asset"], body["frame"]) == (item.pk, manual.asset_id, 0)
    assert (body["reason"], body["comment"]) == ("rework", "missed the wing")
    # Nobody else is handed the author's rework.
    assert next_of(client_for(team["owner"]), team["project"]).json()["item"] != item.pk
    assert not label_annotations(team["project"]).filter(pk=manual.pk).exists()


def test_a_rejected_proposal_goes_back_to_anyone(
    team: dict[str, Any], client_for: Any, mixed: dict[str, Any]
) -> None:
    generated = mixed["generated"]
    assert decide(client_for(team["owner"]), generated, "reject", "wrong").status_code == 200
    item = QueueItem.objects.get(asset=generated.asset, frame=generated.frame)
    assert (item.reason, item.assigned_to) == ("rework", None)
    assert next_of(client_for(team["owner"]), team["project"]).json()["item"] == item.pk


def test_a_new_mask_on_a_rejected_annotation_makes_it_pending_again(
    team: dict[str, Any], client_for: Any, mixed: dict[str, Any]
) -> None:
    manual = mixed["manual"]
    rejected = decide(client_for(team["reviewer"]), manual, "reject", "too small").json()
    fixed = rle_of(box_mask(HEIGHT, WIDTH, 2, 2, 30, 30))
    response = client_for(team["annotator"]).patch(
        f"/api/annotations/{manual.pk}/",
        {"version": rejected["version"], "mask": fixed},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["review_status"], body["version"]) == ("pending", rejected["version"] + 1)
    revisions = AnnotationRevision.objects.filter(annotation=manual).order_by("version")
    assert [r.version for r in revisions] == [1, 2]
    assert revisions[1].review_status == "rejected"
    assert manual.pk in ids(review_list(client_for(team["reviewer"]), team["project"]))
