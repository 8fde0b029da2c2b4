"""Annotation versions: optimistic concurrency on update and delete, the revision
history, and races between a delete and an update holding the same version."""

from __future__ import annotations

from typing import Any

import pytest

from annotator.models import Annotation, AnnotationRevision
from tests.annotator.sample_images import box_mask, rle_of
from tests.api.helpers import HEIGHT, WIDTH, assert_error
from tests.api.test_annotations import BAD_MASKS, WIDER, url

pytestmark = pytest.mark.django_db


# --- updates: versions and history -----------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_update_raises_the_version_and_keeps_a_revision(
    method: str, team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    old_mask = annotation.mask
    new_mask = rle_of(box_mask(HEIGHT, WIDTH, 20, 10, 40, 30))
    client = client_for(team["owner"])
    response = getattr(client, method)(
        url(annotation), {"version": 1, "mask": new_mask, "score": 0.5}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == 2 and body["mask"] == new_mask
    assert body["area"] == 400 and body["bbox"] == [20.0, 10.0, 20.0, 20.0]
    annotation.refresh_from_db()
    assert (annotation.version, annotation.mask, annotation.score, annotation.area) == (
        2,
        new_mask,
        0.5,
        400,
    )

    revision = AnnotationRevision.objects.get(annotation=annotation)
    assert revision.version == 1
    assert revision.mask == old_mask
    assert revision.score is None
    assert revision.label_id == team["label"].pk
    assert revision.author == team["annotator"]

    response = client.patch(url(annotation), {"version": 2, "score": 0.9}, format="json")
    assert response.json()["version"] == 3
    assert list(annotation.revisions.values_list("version", flat=True)) == [1, 2]


def test_it_changes_the_label(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    from annotator.services.projects import add_label

    fish = add_label(team["project"], "fish")
    response = client_for(team["annotator"]).patch(
        url(annotation), {"version": 1, "label": fish.pk}, format="json"
    )
    assert response.status_code == 200, response.content
    annotation.refresh_from_db()
    assert annotation.label == fish


def test_it_refuses_a_stale_version(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    client = client_for(team["annotator"])
    assert (
        client.patch(url(annotation), {"version": 1, "score": 0.2}, format="json").status_code
        == 200
    )
    stale = client.put(url(annotation), {"version": 1, "score": 0.9}, format="json")
    body = assert_error(stale, 409, "stale_version")
    assert body["current_version"] == 2
    assert body["current"]["id"] == annotation.pk
    assert body["current"]["version"] == 2 and body["current"]["score"] == 0.2
    annotation.refresh_from_db()
    assert (annotation.version, annotation.score) == (2, 0.2)
    assert annotation.revisions.count() == 1


def test_a_put_needs_the_version(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    response = client_for(team["owner"]).put(url(annotation), {"score": 0.3}, format="json")
    assert_error(response, 400, "version_required")
    annotation.refresh_from_db()
    assert (annotation.version, annotation.score) == (1, None)
    assert not annotation.revisions.exists()


def test_a_patch_without_version_applies_to_the_current_one(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    response = client_for(team["owner"]).patch(url(annotation), {"score": 0.3}, format="json")
    assert response.status_code == 200
    annotation.refresh_from_db()
    assert (annotation.version, annotation.score) == (2, 0.3)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"mask": BAD_MASKS["garbage counts"][0]}, "invalid_rle"),
        ({"mask": WIDER}, "mask_size_mismatch"),
        ({"label": 999_999}, "unknown_label"),
        ({"version": 0}, "min_value"),
        ({"review_status": "maybe"}, "invalid_choice"),
    ],
)
def test_an_invalid_update_changes_nothing(
    change: dict[str, Any], code: str, team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    response = client_for(team["owner"]).patch(
        url(annotation), {"version": 1, **change}, format="json"
    )
    assert_error(response, 400, code)
    annotation.refresh_from_db()
    assert annotation.version == 1 and not annotation.revisions.exists()


def test_an_update_rejects_a_label_of_another_project(
    team: dict[str, Any], annotation: Annotation, client_for: Any, other_project: Any
) -> None:
    response = client_for(team["owner"]).patch(
        url(annotation), {"version": 1, "label": other_project.labels.get().pk}, format="json"
    )
    assert_error(response, 400, "unknown_label")
    annotation.refresh_from_db()
    assert annotation.label == team["label"]


def test_it_deletes_with_the_current_version(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    response = client_for(team["annotator"]).delete(url(annotation) + "?version=1")
    assert response.status_code == 204
    assert not Annotation.objects.filter(pk=annotation.pk).exists()


def test_it_deletes_without_a_version(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    assert client_for(team["owner"]).delete(url(annotation)).status_code == 204
    assert not Annotation.objects.filter(pk=annotation.pk).exists()


@pytest.mark.parametrize("method", ["put", "patch"])
def test_it_refuses_to_delete_a_stale_version(
    method: str, team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    client = client_for(team["annotator"])
    changed = getattr(client, method)(url(annotation), {"version": 1, "score": 0.4}, format="json")
    assert changed.status_code == 200
    body = assert_error(client.delete(url(annotation) + "?version=1"), 409, "stale_version")
    assert body["current_version"] == 2
    annotation.refresh_from_db()
    assert (annotation.version, annotation.score) == (2, 0.4)


def test_it_rejects_a_version_that_is_not_a_number_on_delete(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    client = client_for(team["annotator"])
    for bad in ("one", "²", "1.0", "9" * 30):
        assert_error(client.delete(url(annotation) + f"?version={bad}"), 400, "invalid_version")
    assert Annotation.objects.filter(pk=annotation.pk).exists()


# --- a delete and an update holding the same version: exactly one wins ----------------------


def test_after_a_delete_a_put_with_the_same_version_finds_nothing(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    client = client_for(team["annotator"])
    assert client.delete(url(annotation) + "?version=1").status_code == 204
    assert_error(client.put(url(annotation), {"version": 1, "score": 0.4}, format="json"), 404)
    assert not Annotation.objects.filter(pk=annotation.pk).exists()


def test_a_delete_holding_a_copy_from_before_an_update_does_not_win(
    team: dict[str, Any], annotation: Annotation
) -> None:
    """The race itself, in the services: both sides loaded version 1; the update lands
    between the delete's load and its write, so the delete must find version 1 gone
    (the check is one conditional write, not the copy's version)."""
    from annotator.errors import Conflict
    from annotator.services.annotations import delete_annotation, update_annotation

    deleter_copy = Annotation.objects.get(pk=annotation.pk)
    updater_copy = Annotation.objects.get(pk=annotation.pk)
    update_annotation(updater_copy, expected_version=1, user=team["owner"], changes={"score": 0.7})
    with pytest.raises(Conflict) as raised:
        delete_annotation(deleter_copy, expected_version=1)
    assert raised.value.code == "stale_version"
    assert raised.value.extra["current_version"] == 2
    annotation.refresh_from_db()
    assert (annotation.version, annotation.score) == (2, 0.7)
    assert annotation.revisions.count() == 1


def test_an_update_holding_a_copy_from_before_a_delete_does_not_win(
    team: dict[str, Any], annotation: Annotation
) -> None:
    from annotator.errors import Conflict
    from annotator.services.annotations import delete_annotation, update_annotation

    updater_copy = Annotation.objects.get(pk=annotation.pk)
    delete_annotation(Annotation.objects.get(pk=annotation.pk), expected_version=1)
    with pytest.raises(Conflict):
        update_annotation(
            updater_copy, expected_version=1, user=team["owner"], changes={"score": 0.7}
        )
    assert not Annotation.objects.filter(pk=annotation.pk).exists()
    assert not AnnotationRevision.objects.filter(annotation_id=annotation.pk).exists()


def test_deleting_with_the_current_version_takes_the_history_with_it(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    client = client_for(team["annotator"])
    client.patch(url(annotation), {"version": 1, "score": 0.4}, format="json")
    assert client.delete(url(annotation) + "?version=2").status_code == 204
    assert not Annotation.objects.filter(pk=annotation.pk).exists()
    assert not AnnotationRevision.objects.filter(annotation_id=annotation.pk).exists()
