"""The active-learning queue: ``GET /api/projects/{id}/queue/next/`` leases a frame to
one member at a time, ``POST /api/queue/{item}/complete|skip/`` close or return it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from annotator.models import Asset, Job, QueueItem
from annotator.services.projects import set_member
from tests.api.helpers import assert_error
from tests.api.learning_helpers import annotate, image_assets, next_of, queue_action

pytestmark = pytest.mark.django_db

FIELDS = {"item", "asset", "frame", "score", "strategy", "lease_expires", "reason"}
STRATEGY_COLUMNS = {
    "combined": "score",
    "random": "random",
    "entropy": "entropy",
    "margin": "margin",
    "sensitivity": "sensitivity",
    "diversity": "diversity",
}


@pytest.fixture
def assets(team: dict[str, Any]) -> list[Any]:
    return image_assets(team["project"], 3)


def scored(assets: list[Any], scores: list[float]) -> list[QueueItem]:
    """One item per asset, ``score`` (the combined strategy's) as given."""
    return [
        QueueItem.objects.create(project=a.project, asset=a, frame=0, score=s)
        for a, s in zip(assets, scores, strict=True)
    ]


def test_next_leases_the_best_item_with_the_documented_fields(
    team: dict[str, Any], client_for: Any, assets: list[Any], settings: Any
) -> None:
    items = scored(assets, [0.2, 0.9, 0.5])
    before = timezone.now()
    response = next_of(client_for(team["annotator"]), team["project"])
    assert response.status_code == 200, response.content
    body = response.json()
    assert FIELDS | {"model_version"} <= set(body)
    assert (body["item"], body["asset"], body["frame"]) == (items[1].pk, assets[1].pk, 0)
    assert (body["score"], body["strategy"], body["reason"]) == (0.9, "combined", "model")
    expires = parse_datetime(body["lease_expires"])
    assert expires is not None
    lease = timedelta(seconds=settings.QUEUE_LEASE_S)
    assert before + lease <= expires <= timezone.now() + lease
    row = QueueItem.objects.get(pk=items[1].pk)
    assert (row.leased_by, row.strategy) == (team["annotator"], "combined")


def test_asking_again_returns_the_same_item_with_the_lease_renewed(
    team: dict[str, Any], client_for: Any, assets: list[Any]
) -> None:
    scored(assets, [0.2, 0.9, 0.5])
    client = client_for(team["annotator"])
    first = next_of(client, team["project"]).json()
    soon = timezone.now() + timedelta(seconds=5)
    QueueItem.objects.filter(pk=first["item"]).update(lease_expires=soon)
    again = next_of(client, team["project"], "entropy").json()
    assert again["item"] == first["item"]
    renewed = parse_datetime(again["lease_expires"])
    assert renewed is not None and renewed > soon + timedelta(seconds=5)
    assert QueueItem.objects.filter(leased_by=team["annotator"]).count() == 1


def test_members_get_different_items_and_204_when_none_is_left(
    team: dict[str, Any], client_for: Any, assets: list[Any], make_user: Any
) -> None:
    scored(assets, [0.2, 0.9, 0.5])
    third, fourth = make_user("third"), make_user("fourth")
    set_member(team["project"], "third", "annotator")
    set_member(team["project"], "fourth", "annotator")
    got = [
        next_of(client_for(user), team["project"]).json()["item"]
        for user in (team["owner"], team["annotator"], third)
    ]
    assert len(set(got)) == 3
    assert next_of(client_for(fourth), team["project"]).status_code == 204


def test_an_empty_project_has_nothing_to_offer(team: dict[str, Any], client_for: Any) -> None:
    response = next_of(client_for(team["owner"]), team["project"])
    assert response.status_code == 204 and response.content == b""


@pytest.mark.parametrize("strategy", ["best", "", "COMBINED", "entropy;"])
def test_an_unknown_strategy_is_refused(
    team: dict[str, Any], client_for: Any, assets: list[Any], strategy: str
) -> None:
    response = next_of(client_for(team["annotator"]), team["project"], strategy)
    if strategy == "":
        assert response.status_code == 200  # no strategy: the default
        assert response.json()["strategy"] == "combined"
    else:
        assert_error(response, 400, "invalid_strategy")
        assert not QueueItem.objects.filter(leased_by__isnull=False).exists()


def test_each_strategy_orders_by_its_own_column(
    team: dict[str, Any], client_for: Any, assets: list[Any], make_user: Any
) -> None:
    more = assets + image_assets(team["project"], 2, start=3)
    # Every column a different permutation of the five items.
    orders = {
        "score": [4, 1, 0, 3, 2],
        "random": [0, 1, 2, 3, 4],
        "entropy": [2, 4, 1, 0, 3],
        "margin": [3, 2, 4, 1, 0],
        "sensitivity": [1, 3, 0, 4, 2],
        "diversity": [4, 0, 3, 2, 1],
    }
    items = [QueueItem.objects.create(project=team["project"], asset=a, frame=0) for a in more]
    for column, order in orders.items():
        for rank, index in enumerate(order):
            QueueItem.objects.filter(pk=items[index].pk).update(**{column: 1.0 - rank / 10})
    for n, (strategy, column) in enumerate(STRATEGY_COLUMNS.items()):
        member = make_user(f"member{n}")
        set_member(team["project"], member.username, "annotator")
        client = client_for(member)
        served = []
        while (response := next_of(client, team["project"], strategy)).status_code == 200:
            body = response.json()
            assert body["strategy"] == strategy
            served.append(body["item"])
            assert queue_action(client, body["item"], "skip").status_code == 200
        assert response.status_code == 204
        assert served == [items[i].pk for i in orders[column]], strategy


def test_labelled_frames_are_not_offered(
    team: dict[str, Any], client_for: Any, assets: list[Any]
) -> None:
    items = scored(assets, [0.9, 0.5, 0.2])
    annotate(assets[0], team["label"], team["owner"])  # labelled outside the queue
    # A machine's pending proposal is no label: that frame still wants a person.
    annotate(assets[1], team["label"], source="generated", score=0.4)
    client = client_for(team["annotator"])
    first = next_of(client, team["project"]).json()
    assert first["item"] == items[1].pk
    assert QueueItem.objects.get(pk=items[0].pk).done  # closed when passed over
    queue_action(client, first["item"], "complete")
    assert next_of(client, team["project"]).json()["item"] == items[2].pk


def test_complete_closes_the_item_and_is_idempotent(
    team: dict[str, Any], client_for: Any, assets: list[Any]
) -> None:
    items = scored(assets, [0.9, 0.5, 0.2])
    client = client_for(team["annotator"])
    item = next_of(client, team["project"]).json()["item"]
    response = queue_action(client, item, "complete")
    assert response.status_code == 200, response.content
    assert response.json()["item"] == item and response.json()["done"] is True
    row = QueueItem.objects.get(pk=item)
    assert (row.done, row.completed_by, row.leased_by) == (True, team["annotator"], None)
    again = queue_action(client, item, "complete")
    assert again.status_code == 200 and again.json()["done"] is True
    assert next_of(client, team["project"]).json()["item"] == items[1].pk
    assert_error(queue_action(client, item, "skip"), 409, "item_closed")


def test_only_the_lease_holder_may_complete_or_skip(
    team: dict[str, Any], client_for: Any, assets: list[Any]
) -> None:
    scored(assets, [0.9, 0.5, 0.2])
    item = next_of(client_for(team["annotator"]), team["project"]).json()["item"]
    owner = client_for(team["owner"])
    assert_error(queue_action(owner, item, "complete"), 409, "not_leased")
    assert_error(queue_action(owner, item, "skip"), 409, "not_leased")
    row = QueueItem.objects.get(pk=item)
    assert (row.done, row.leased_by, row.skips) == (False, team["annotator"], 0)


def test_a_skipped_item_goes_to_others_but_not_back_to_the_skipper(
    team: dict[str, Any], client_for: Any, assets: list[Any]
) -> None:
    items = scored(assets, [0.9, 0.5, 0.2])
    annotator = client_for(team["annotator"])
    assert next_of(annotator, team["project"]).json()["item"] == items[0].pk
    response = queue_action(annotator, items[0].pk, "skip")
    assert response.status_code == 200, response.content
    row = QueueItem.objects.get(pk=items[0].pk)
    assert (row.leased_by, row.lease_expires, row.skips, row.done) == (None, None, 1, False)
    assert next_of(annotator, team["project"]).json()["item"] == items[1].pk
    assert next_of(client_for(team["owner"]), team["project"]).json()["item"] == items[0].pk


def test_an_expired_lease_makes_the_item_available_again(
    team: dict[str, Any], client_for: Any, assets: list[Any]
) -> None:
    items = scored(assets, [0.9, 0.5, 0.2])
    annotator, owner = client_for(team["annotator"]), client_for(team["owner"])
    assert next_of(annotator, team["project"]).json()["item"] == items[0].pk
    assert next_of(owner, team["project"]).json()["item"] == items[1].pk
    QueueItem.objects.filter(pk=items[0].pk).update(
        lease_expires=timezone.now() - timedelta(seconds=1)
    )
    # The owner gives theirs back and asks again: the expired one is the best open item.
    queue_action(owner, items[1].pk, "skip")
    assert next_of(owner, team["project"]).json()["item"] == items[0].pk
    assert_error(queue_action(annotator, items[0].pk, "complete"), 409, "not_leased")
    # The annotator, whose lease ran out, is served the next one instead.
    assert next_of(annotator, team["project"]).json()["item"] == items[1].pk


@pytest.mark.parametrize("role", ["viewer", "reviewer"])
def test_viewers_and_reviewers_do_not_label_from_the_queue(
    team: dict[str, Any], client_for: Any, assets: list[Any], role: str
) -> None:
    items = scored(assets, [0.9, 0.5, 0.2])
    client = client_for(team[role])
    assert_error(next_of(client, team["project"]), 403)
    for action in ("complete", "skip"):
        assert_error(queue_action(client, items[0].pk, action), 403)
    assert not QueueItem.objects.filter(done=True).exists()
    assert not QueueItem.objects.filter(leased_by__isnull=False).exists()


def test_another_projects_item_does_not_exist(
    team: dict[str, Any], client_for: Any, other_asset: Any
) -> None:
    theirs = QueueItem.objects.create(project=other_asset.project, asset=other_asset, frame=0)
    client = client_for(team["owner"])
    for action in ("complete", "skip"):
        assert_error(queue_action(client, theirs.pk, action), 404)
    assert_error(next_of(client, other_asset.project), 404)
    assert not QueueItem.objects.get(pk=theirs.pk).done


def test_assets_uploaded_later_are_queued(
    team: dict[str, Any], client_for: Any, assets: list[Any], upload: Any
) -> None:
    client = client_for(team["annotator"])
    next_of(client, team["project"])
    assert QueueItem.objects.filter(project=team["project"]).count() == 3
    assert Job.objects.filter(project=team["project"], kind="queue").count() == 1
    response = upload(team["owner"], team["project"].pk)
    assert response.status_code == 201
    new = response.json()["id"]
    next_of(client, team["project"])
    assert not QueueItem.objects.filter(asset_id=new).exists()  # still processing
    Asset.objects.filter(pk=new).update(status="ready")  # as its ingest job leaves it
    served = set()
    while (reply := next_of(client, team["project"])).status_code == 200:
        served.add(reply.json()["asset"])
        queue_action(client, reply.json()["item"], "complete")
    assert served == {a.pk for a in assets} | {new}
    assert QueueItem.objects.filter(asset_id=new, frame=0).count() == 1


def test_video_frames_are_queued_at_the_configured_stride(
    team: dict[str, Any], client_for: Any, settings: Any
) -> None:
    from tests.api.world import clip_asset

    settings.QUEUE_VIDEO_STRIDE = 3
    clip = clip_asset(team["project"], frames=8)
    next_of(client_for(team["annotator"]), team["project"])
    frames = QueueItem.objects.filter(asset=clip).values_list("frame", flat=True)
    assert sorted(frames) == [0, 3, 6]


def test_rework_comes_first_for_its_author_and_to_nobody_else(
    team: dict[str, Any], client_for: Any, assets: list[Any]
) -> None:
    items = scored(assets, [0.9, 0.5, 0.2])
    rejected = annotate(assets[2], team["label"], team["annotator"])
    response = client_for(team["reviewer"]).post(
        f"/api/annotations/{rejected.pk}/review/",
        {"decision": "reject", "comment": "the tail is missing"},
        format="json",
    )
    assert response.status_code == 200, response.content
    rework = QueueItem.objects.get(asset=assets[2], frame=0)
    assert rework.pk == items[2].pk  # the same frame's item, reopened
    assert (rework.reason, rework.assigned_to, rework.done) == ("rework", team["annotator"], False)
    owner_sees = []
    owner = client_for(team["owner"])
    while (reply := next_of(owner, team["project"])).status_code == 200:
        owner_sees.append(reply.json()["item"])
        queue_action(owner, reply.json()["item"], "skip")
    assert owner_sees == [items[0].pk, items[1].pk]
    body = next_of(client_for(team["annotator"]), team["project"]).json()
    assert (body["item"], body["reason"]) == (items[2].pk, "rework")
    assert body["comment"] == "the tail is missing"


def test_a_rejection_before_the_queue_was_used_keeps_the_other_frames_queued(
    team: dict[str, Any], client_for: Any, settings: Any
) -> None:
    from tests.api.world import clip_asset

    settings.QUEUE_VIDEO_STRIDE = 1
    clip = clip_asset(team["project"], frames=4)
    rejected = annotate(clip, team["label"], team["annotator"], frame=2)
    reject = {"decision": "reject", "comment": "redo"}
    client_for(team["reviewer"]).post(
        f"/api/annotations/{rejected.pk}/review/", reject, format="json"
    )
    next_of(client_for(team["owner"]), team["project"])
    items = QueueItem.objects.filter(asset=clip).order_by("frame")
    assert [(i.frame, i.reason) for i in items] == [
        (0, "model"),
        (1, "model"),
        (2, "rework"),
        (3, "model"),
    ]


@pytest.mark.parametrize("how", ["accepted after all", "fixed outside the queue"])
def test_rework_that_is_no_longer_needed_is_not_offered(
    team: dict[str, Any], client_for: Any, assets: list[Any], how: str
) -> None:
    items = scored(assets, [0.9, 0.5, 0.2])
    rejected = annotate(assets[2], team["label"], team["annotator"])
    reviewer, annotator = client_for(team["reviewer"]), client_for(team["annotator"])
    url = f"/api/annotations/{rejected.pk}/review/"
    reviewer.post(url, {"decision": "reject", "comment": "redo"}, format="json")
    if how == "accepted after all":
        reviewer.post(url, {"decision": "accept"}, format="json")
    else:
        fixed = {"version": 2, "mask": square_of(10)}
        response = annotator.patch(f"/api/annotations/{rejected.pk}/", fixed, format="json")
        assert response.json()["review_status"] == "pending"
    body = next_of(annotator, team["project"]).json()
    assert (body["item"], body["reason"]) == (items[0].pk, "model")
    assert QueueItem.objects.get(pk=items[2].pk).done


def square_of(size: int) -> dict[str, Any]:
    from tests.annotator.sample_images import box_mask, rle_of
    from tests.api.helpers import HEIGHT, WIDTH

    return rle_of(box_mask(HEIGHT, WIDTH, 1, 1, 1 + size, 1 + size))


def test_the_first_ranking_is_waited_for_once_not_on_every_call(
    team: dict[str, Any], client_for: Any, assets: list[Any], settings: Any
) -> None:
    """No worker runs the first ``queue`` job here: the first call waits for it up to
    ``QUEUE_RANK_WAIT_S``, later ones do not wait again (a stopped worker must not make
    every request slow)."""
    import time

    settings.QUEUE_RANK_WAIT_S = 1
    started = time.monotonic()
    assert next_of(client_for(team["annotator"]), team["project"]).status_code == 200
    assert time.monotonic() - started >= 0.9
    assert Job.objects.filter(kind="queue", status="queued").count() == 1
    started = time.monotonic()
    assert next_of(client_for(team["owner"]), team["project"]).status_code == 200
    assert time.monotonic() - started < 0.5


def _reject(client: Any, annotation: Any) -> None:
    response = client.post(
        f"/api/annotations/{annotation.pk}/review/",
        {"decision": "reject", "comment": "redo"},
        format="json",
    )
    assert response.status_code == 200, response.content


def test_rework_is_only_closed_by_its_author_and_goes_to_anyone_once_they_left(
    team: dict[str, Any], client_for: Any, assets: list[Any]
) -> None:
    rejected = annotate(assets[0], team["label"], team["annotator"])
    _reject(client_for(team["reviewer"]), rejected)
    rework = QueueItem.objects.get(asset=assets[0], reason="rework")
    response = queue_action(client_for(team["owner"]), rework.pk, "complete")
    assert_error(response, 409, "not_leased")
    assert not QueueItem.objects.get(pk=rework.pk).done
    team["project"].memberships.filter(user=team["annotator"]).delete()
    reply = next_of(client_for(team["owner"]), team["project"])
    assert (reply.json()["item"], reply.json()["reason"]) == (rework.pk, "rework")
    assert queue_action(client_for(team["owner"]), rework.pk, "complete").status_code == 200


def test_release_gives_the_lease_back_without_skipping(
    team: dict[str, Any], client_for: Any, assets: list[Any], make_user: Any
) -> None:
    items = scored(assets, [0.9, 0.5, 0.2])
    annotator = client_for(team["annotator"])
    first = next_of(annotator, team["project"]).json()
    assert first["item"] == items[0].pk and first["asset_name"] == assets[0].name
    other = make_user("second")
    set_member(team["project"], "second", "annotator")
    # Held: the other member can neither release nor get it.
    assert_error(queue_action(client_for(other), first["item"], "release"), 409, "not_leased")
    released = queue_action(annotator, first["item"], "release")
    assert released.status_code == 200, released.content
    row = QueueItem.objects.get(pk=first["item"])
    assert (row.leased_by, row.skips, row.done) == (None, 0, False)
    # Not a skip: the same member gets it again first.
    assert next_of(annotator, team["project"]).json()["item"] == items[0].pk
