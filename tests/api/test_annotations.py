"""Annotations: COCO RLE in and out, optimistic concurrency, history, review, roles."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from annotator.models import Annotation, AnnotationRevision, Interaction
from tests.annotator.sample_images import box_mask, rle_of
from tests.api.helpers import HEIGHT, WIDTH, assert_error

pytestmark = pytest.mark.django_db


def url(annotation: Annotation) -> str:
    return f"/api/annotations/{annotation.pk}/"


def create(client: Any, asset_id: int, **body: Any) -> Any:
    return client.post(f"/api/assets/{asset_id}/annotations/", body, format="json")


@pytest.fixture
def nothing_stored() -> Any:
    before = (
        Annotation.objects.count(),
        AnnotationRevision.objects.count(),
        Interaction.objects.count(),
    )
    yield
    after = (
        Annotation.objects.count(),
        AnnotationRevision.objects.count(),
        Interaction.objects.count(),
    )
    assert after == before


# --- create, read --------------------------------------------------------------------------


def test_it_stores_the_mask_exactly_as_given(
    team: dict[str, Any], asset: Any, client_for: Any
) -> None:
    mask = np.zeros((HEIGHT, WIDTH), dtype=bool)
    mask[10:20, 30:45] = True
    mask[40, 0] = True
    rle = rle_of(mask)
    response = create(
        client_for(team["annotator"]),
        asset.pk,
        frame=0,
        label=team["label"].pk,
        mask=rle,
        source="interactive",
        score=0.75,
    )
    assert response.status_code == 201, response.content
    body = response.json()
    stored = Annotation.objects.get(pk=body["id"])
    assert stored.mask == rle == body["mask"]
    assert stored.area == int(mask.sum()) == body["area"] == 151
    assert stored.bbox == [0.0, 10.0, 45.0, 31.0] == body["bbox"]
    assert (stored.source, stored.score, stored.version) == ("interactive", 0.75, 1)
    assert stored.author == team["annotator"] and body["author"] == "annotator"
    assert stored.review_status == "pending"
    assert (stored.asset_id, stored.frame, stored.label_id) == (asset.pk, 0, team["label"].pk)
    decoded = mask_utils.decode(
        {"size": body["mask"]["size"], "counts": body["mask"]["counts"].encode()}
    )
    assert np.array_equal(decoded.astype(bool), mask)


def test_it_defaults_frame_and_source(
    team: dict[str, Any], asset: Any, client_for: Any, square_rle: Any
) -> None:
    response = create(client_for(team["owner"]), asset.pk, label=team["label"].pk, mask=square_rle)
    assert response.status_code == 201, response.content
    stored = Annotation.objects.get(pk=response.json()["id"])
    assert (stored.frame, stored.source, stored.score) == (0, "manual", None)
    assert response.json()["interaction"] is None


def test_it_accepts_an_empty_mask(team: dict[str, Any], asset: Any, client_for: Any) -> None:
    rle = rle_of(np.zeros((HEIGHT, WIDTH), dtype=bool))
    response = create(client_for(team["owner"]), asset.pk, label=team["label"].pk, mask=rle)
    assert response.status_code == 201, response.content
    assert Annotation.objects.get(pk=response.json()["id"]).area == 0


def test_it_compresses_an_uncompressed_rle(
    team: dict[str, Any], asset: Any, client_for: Any
) -> None:
    mask = box_mask(HEIGHT, WIDTH, 2, 3, 9, 7)
    flat = mask.flatten(order="F").astype(np.uint8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    if flat[0]:
        runs = [0, *runs]
    response = create(
        client_for(team["owner"]),
        asset.pk,
        label=team["label"].pk,
        mask={"size": [HEIGHT, WIDTH], "counts": runs},
    )
    assert response.status_code == 201, response.content
    assert Annotation.objects.get(pk=response.json()["id"]).mask == rle_of(mask)


def test_it_stores_the_interaction_with_the_annotation(
    team: dict[str, Any], asset: Any, client_for: Any, square_rle: Any
) -> None:
    interaction = {
        "prompts": {
            "clicks": [{"x": 10.5, "y": 9, "positive": True, "t": 1700000000.0}],
            "box": [5, 5, 15, 15],
        },
        "engine": "classical",
        "elapsed_ms": 41.0,
    }
    response = create(
        client_for(team["annotator"]),
        asset.pk,
        label=team["label"].pk,
        mask=square_rle,
        source="interactive",
        interaction=interaction,
    )
    assert response.status_code == 201, response.content
    stored = Interaction.objects.get(annotation_id=response.json()["id"])
    assert stored.prompts == interaction["prompts"]
    assert (stored.engine, stored.elapsed_ms, stored.frame) == ("classical", 41.0, 0)
    assert stored.asset_id == asset.pk and stored.author == team["annotator"]
    assert response.json()["interaction"] == interaction
    again = client_for(team["viewer"]).get(f"/api/annotations/{response.json()['id']}/").json()
    assert again["interaction"] == interaction


@pytest.mark.usefixtures("nothing_stored")
def test_it_rejects_an_interaction_with_a_bad_elapsed_time(
    team: dict[str, Any], asset: Any, client_for: Any, square_rle: Any
) -> None:
    response = create(
        client_for(team["annotator"]),
        asset.pk,
        label=team["label"].pk,
        mask=square_rle,
        interaction={"prompts": {}, "elapsed_ms": "fast"},
    )
    assert_error(response, 400)


def test_it_lists_the_annotations_of_an_asset(
    team: dict[str, Any], annotation: Annotation, client_for: Any, square_rle: Any
) -> None:
    from annotator.services.annotations import create_annotation

    second = create_annotation(
        asset=annotation.asset, frame=0, label=team["label"], mask=square_rle, author=team["owner"]
    )
    client = client_for(team["viewer"])
    body = client.get(f"/api/assets/{annotation.asset_id}/annotations/").json()
    assert body["count"] == 2
    assert [a["id"] for a in body["results"]] == [annotation.pk, second.pk]
    assert body["results"][0]["mask"] == square_rle
    assert (
        client.get(f"/api/assets/{annotation.asset_id}/annotations/?frame=0").json()["count"] == 2
    )
    assert (
        client.get(f"/api/assets/{annotation.asset_id}/annotations/?frame=3").json()["count"] == 0
    )
    for bad in ("x", "-1", "²", "9" * 30):
        response = client.get(f"/api/assets/{annotation.asset_id}/annotations/?frame={bad}")
        assert_error(response, 400, "invalid_frame")


def test_it_shows_one_annotation(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    body = client_for(team["reviewer"]).get(url(annotation)).json()
    assert body["id"] == annotation.pk
    assert body["version"] == 1
    assert body["mask"] == annotation.mask
    assert body["area"] == 100 and body["bbox"] == [5.0, 5.0, 10.0, 10.0]


# --- bad input ------------------------------------------------------------------------------

GOOD = rle_of(box_mask(HEIGHT, WIDTH, 5, 5, 15, 15))
WIDER = rle_of(box_mask(HEIGHT, WIDTH + 1, 5, 5, 15, 15))
NARROWER = rle_of(box_mask(HEIGHT, WIDTH - 1, 5, 5, 15, 15))

BAD_MASKS = {
    "garbage counts": ({"size": [HEIGHT, WIDTH], "counts": "!!not rle!!"}, "invalid_rle"),
    "non-ascii counts": ({"size": [HEIGHT, WIDTH], "counts": "ÿÿÿ"}, "invalid_rle"),
    "empty counts": ({"size": [HEIGHT, WIDTH], "counts": ""}, "invalid_rle"),
    "counts ending mid-run": (
        {"size": [HEIGHT, WIDTH], "counts": GOOD["counts"] + "P"},
        "invalid_rle",
    ),
    "counts cover too many pixels": (
        {"size": [HEIGHT, WIDTH], "counts": WIDER["counts"]},
        "invalid_rle",
    ),
    "counts cover too few pixels": (
        {"size": [HEIGHT, WIDTH], "counts": NARROWER["counts"]},
        "invalid_rle",
    ),
    "numeric counts": ({"size": [HEIGHT, WIDTH], "counts": 3072}, "invalid_rle"),
    "uncompressed counts with the wrong total": (
        {"size": [HEIGHT, WIDTH], "counts": [10, 20]},
        "invalid_rle",
    ),
    "uncompressed negative counts": (
        {"size": [HEIGHT, WIDTH], "counts": [-1, HEIGHT * WIDTH + 1]},
        "invalid_rle",
    ),
    "uncompressed non-integer counts": (
        {"size": [HEIGHT, WIDTH], "counts": [1.5, HEIGHT * WIDTH - 1.5]},
        "invalid_rle",
    ),
    "uncompressed boolean counts": (
        {"size": [HEIGHT, WIDTH], "counts": [True, HEIGHT * WIDTH - 1]},
        "invalid_rle",
    ),
    "size of another frame": (WIDER, "mask_size_mismatch"),
    "swapped size": ({"size": [WIDTH, HEIGHT], "counts": GOOD["counts"]}, "mask_size_mismatch"),
    "size with floats": ({"size": [48.0, 64.0], "counts": GOOD["counts"]}, "invalid_mask"),
    "size of three numbers": (
        {"size": [HEIGHT, WIDTH, 3], "counts": GOOD["counts"]},
        "invalid_mask",
    ),
    "no counts": ({"size": [HEIGHT, WIDTH]}, "invalid_mask"),
    "a list": ([1, 2, 3], "invalid_mask"),
    "a string": ("mask", "invalid_mask"),
}


@pytest.mark.usefixtures("nothing_stored")
@pytest.mark.parametrize("case", BAD_MASKS)
def test_it_rejects_a_bad_mask(
    case: str, team: dict[str, Any], asset: Any, client_for: Any
) -> None:
    mask, code = BAD_MASKS[case]
    response = create(client_for(team["owner"]), asset.pk, label=team["label"].pk, mask=mask)
    assert_error(response, 400, code)


@pytest.mark.usefixtures("nothing_stored")
def test_it_rejects_a_missing_or_null_mask(
    team: dict[str, Any], asset: Any, client_for: Any
) -> None:
    client = client_for(team["owner"])
    assert_error(create(client, asset.pk, label=team["label"].pk), 400, "required")
    assert_error(create(client, asset.pk, label=team["label"].pk, mask=None), 400, "null")


@pytest.mark.usefixtures("nothing_stored")
def test_it_rejects_an_unknown_label(team: dict[str, Any], asset: Any, client_for: Any) -> None:
    response = create(client_for(team["owner"]), asset.pk, label=999_999, mask=GOOD)
    assert_error(response, 400, "unknown_label")


@pytest.mark.usefixtures("nothing_stored")
def test_a_label_of_another_project_is_as_unknown_as_no_label(
    team: dict[str, Any], asset: Any, client_for: Any, other_project: Any
) -> None:
    # The answer must not tell whether a label id exists in a project one cannot see.
    label = other_project.labels.get()
    client = client_for(team["owner"])
    foreign = assert_error(create(client, asset.pk, label=label.pk, mask=GOOD), 400)
    missing = assert_error(create(client, asset.pk, label=999_999, mask=GOOD), 400)
    assert foreign["code"] == missing["code"] == "unknown_label"
    assert foreign["detail"] == missing["detail"].replace("999999", str(label.pk))


@pytest.mark.usefixtures("nothing_stored")
def test_it_rejects_a_frame_out_of_range(team: dict[str, Any], asset: Any, client_for: Any) -> None:
    client = client_for(team["owner"])
    response = create(client, asset.pk, frame=1, label=team["label"].pk, mask=GOOD)
    assert_error(response, 400, "frame_out_of_range")
    response = create(client, asset.pk, frame=-1, label=team["label"].pk, mask=GOOD)
    assert_error(response, 400)


@pytest.mark.usefixtures("nothing_stored")
@pytest.mark.parametrize("score", [1.5, -0.1, "high"])
def test_it_rejects_a_score_outside_zero_one(
    score: Any, team: dict[str, Any], asset: Any, client_for: Any
) -> None:
    response = create(
        client_for(team["owner"]), asset.pk, label=team["label"].pk, mask=GOOD, score=score
    )
    assert_error(response, 400)


@pytest.mark.usefixtures("nothing_stored")
def test_it_rejects_an_unknown_source(team: dict[str, Any], asset: Any, client_for: Any) -> None:
    response = create(
        client_for(team["owner"]), asset.pk, label=team["label"].pk, mask=GOOD, source="magic"
    )
    assert_error(response, 400, "invalid_choice")


@pytest.mark.usefixtures("nothing_stored")
def test_it_rejects_an_interaction_that_is_not_an_object(
    team: dict[str, Any], asset: Any, client_for: Any
) -> None:
    response = create(
        client_for(team["owner"]), asset.pk, label=team["label"].pk, mask=GOOD, interaction=[1, 2]
    )
    assert_error(response, 400)


# --- review and roles -------------------------------------------------------------------------


def test_a_reviewer_sets_the_review_status(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    response = client_for(team["reviewer"]).patch(
        url(annotation), {"version": 1, "review_status": "accepted"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["review_status"] == "accepted"
    annotation.refresh_from_db()
    assert annotation.review_status == "accepted"
    assert annotation.reviewed_by == team["reviewer"]
    assert annotation.version == 2
    assert annotation.revisions.get().review_status == "pending"


def test_an_owner_sets_the_review_status_and_the_mask_together(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    new_mask = rle_of(box_mask(HEIGHT, WIDTH, 0, 0, 3, 3))
    response = client_for(team["owner"]).patch(
        url(annotation),
        {"version": 1, "review_status": "rejected", "mask": new_mask},
        format="json",
    )
    assert response.status_code == 200
    annotation.refresh_from_db()
    assert (annotation.review_status, annotation.mask) == ("rejected", new_mask)


@pytest.mark.parametrize(
    "change", [{"mask": GOOD}, {"score": 0.1}, {"review_status": "accepted", "score": 0.1}]
)
def test_a_reviewer_cannot_change_the_annotation_itself(
    change: dict[str, Any], team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    response = client_for(team["reviewer"]).patch(
        url(annotation), {"version": 1, **change}, format="json"
    )
    assert_error(response, 403)
    annotation.refresh_from_db()
    assert annotation.version == 1 and annotation.review_status == "pending"


@pytest.mark.parametrize(
    "change", [{"review_status": "accepted"}, {"review_status": "accepted", "score": 0.1}]
)
def test_an_annotator_cannot_review(
    change: dict[str, Any], team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    response = client_for(team["annotator"]).patch(
        url(annotation), {"version": 1, **change}, format="json"
    )
    assert_error(response, 403)
    annotation.refresh_from_db()
    assert annotation.version == 1 and annotation.review_status == "pending"


def test_a_reviewer_cannot_create_or_delete(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    client = client_for(team["reviewer"])
    assert_error(create(client, annotation.asset_id, label=team["label"].pk, mask=GOOD), 403)
    assert_error(client.delete(url(annotation)), 403)
    assert Annotation.objects.count() == 1


def test_a_viewer_cannot_write(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    client = client_for(team["viewer"])
    assert_error(create(client, annotation.asset_id, label=team["label"].pk, mask=GOOD), 403)
    assert_error(client.patch(url(annotation), {"version": 1, "score": 0.1}, format="json"), 403)
    assert_error(client.put(url(annotation), {"version": 1, "score": 0.1}, format="json"), 403)
    assert_error(
        client.patch(url(annotation), {"version": 1, "review_status": "accepted"}, format="json"),
        403,
    )
    assert_error(client.delete(url(annotation)), 403)
    annotation.refresh_from_db()
    assert annotation.version == 1 and Annotation.objects.count() == 1


def test_outsiders_see_no_annotations(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    client = client_for(team["outsider"])
    assert_error(client.get(f"/api/assets/{annotation.asset_id}/annotations/"), 404)
    assert_error(create(client, annotation.asset_id, label=team["label"].pk, mask=GOOD), 404)
    assert_error(client.get(url(annotation)), 404)
    assert_error(client.patch(url(annotation), {"version": 1, "score": 0.1}, format="json"), 404)
    assert_error(client.put(url(annotation), {"version": 1, "score": 0.1}, format="json"), 404)
    assert_error(client.delete(url(annotation)), 404)
    annotation.refresh_from_db()
    assert annotation.version == 1 and Annotation.objects.count() == 1


def test_a_refinement_stores_its_prompts_as_a_new_interaction(
    team: dict[str, Any], client_for: Any, annotation: Annotation, square_rle: dict[str, Any]
) -> None:
    body = {
        "version": annotation.version,
        "mask": square_rle,
        "interaction": {
            "prompts": {"clicks": [{"x": 6, "y": 6, "positive": True, "t": 2.0}]},
            "engine": "classical",
            "elapsed_ms": 31.5,
        },
    }
    response = client_for(team["annotator"]).put(url(annotation), body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["interaction"]["prompts"]["clicks"][0]["x"] == 6
    assert annotation.interactions.count() == 1
    assert annotation.interactions.get().elapsed_ms == 31.5


# --- who may change what: decided on the validated body -----------------------------------------


def test_a_malformed_update_is_a_400_for_who_may_change_something(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    """The body decides which capability a change needs, so it is validated first; a
    member who may change nothing is refused before the body is read."""
    for role in ("owner", "annotator", "reviewer"):
        response = client_for(team[role]).patch(url(annotation), {"version": 0}, format="json")
        assert_error(response, 400, "min_value")
    response = client_for(team["viewer"]).patch(url(annotation), {"version": 0}, format="json")
    assert_error(response, 403)


def test_unknown_fields_do_not_make_a_review_an_edit(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    response = client_for(team["reviewer"]).patch(
        url(annotation), {"version": 1, "review_status": "accepted", "colour": "red"}, format="json"
    )
    assert response.status_code == 200, response.content
    annotation.refresh_from_db()
    assert annotation.review_status == "accepted"


def test_annotations_of_another_project_do_not_exist(
    team: dict[str, Any], client_for: Any, other_project: Any, other_asset: Any, square_rle: Any
) -> None:
    from annotator.services.annotations import create_annotation

    theirs = other_asset
    foreign = create_annotation(
        asset=theirs,
        frame=0,
        label=other_project.labels.get(),
        mask=square_rle,
        author=other_project.memberships.get().user,
    )
    client = client_for(team["owner"])
    assert_error(client.get(url(foreign)), 404)
    assert_error(client.patch(url(foreign), {"review_status": "accepted"}, format="json"), 404)
    assert_error(client.delete(url(foreign) + "?version=1"), 404)
    assert_error(client.get(f"/api/assets/{theirs.pk}/annotations/"), 404)
    assert_error(create(client, theirs.pk, label=team["label"].pk, mask=square_rle), 404)
    foreign.refresh_from_db()
    assert foreign.version == 1 and foreign.review_status == "pending"
