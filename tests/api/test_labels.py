"""Label classes of a project: only owners change them."""

from __future__ import annotations

from typing import Any

import pytest

from annotator.models import Annotation, LabelClass
from tests.api.helpers import assert_error

pytestmark = pytest.mark.django_db


def labels_url(team: dict[str, Any]) -> str:
    return f"/api/projects/{team['project'].pk}/labels/"


def test_members_list_the_labels(team: dict[str, Any], client_for: Any) -> None:
    for role in ("owner", "annotator", "reviewer", "viewer"):
        body = client_for(team[role]).get(labels_url(team)).json()
        assert body == [{"id": team["label"].pk, "name": "bird", "color": "#00ff00"}]


def test_an_owner_adds_a_label(team: dict[str, Any], client_for: Any) -> None:
    response = client_for(team["owner"]).post(
        labels_url(team), {"name": " gull ", "color": "#AABBCC"}, format="json"
    )
    assert response.status_code == 201, response.content
    label = LabelClass.objects.get(pk=response.json()["id"])
    assert (label.project_id, label.name, label.color) == (team["project"].pk, "gull", "#aabbcc")
    assert response.json() == {"id": label.pk, "name": "gull", "color": "#aabbcc"}


def test_a_label_without_a_colour_gets_one(team: dict[str, Any], client_for: Any) -> None:
    response = client_for(team["owner"]).post(labels_url(team), {"name": "tern"}, format="json")
    assert response.status_code == 201
    color = LabelClass.objects.get(name="tern").color
    assert len(color) == 7 and color.startswith("#")


def test_it_refuses_a_duplicate_label(team: dict[str, Any], client_for: Any) -> None:
    response = client_for(team["owner"]).post(labels_url(team), {"name": "bird"}, format="json")
    assert_error(response, 409, "duplicate_label")
    assert team["project"].labels.count() == 1


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": "   "}, {}, {"name": "x", "color": "#12345"}]
)
def test_it_refuses_bad_labels(body: dict[str, Any], team: dict[str, Any], client_for: Any) -> None:
    assert_error(client_for(team["owner"]).post(labels_url(team), body, format="json"), 400)
    assert team["project"].labels.count() == 1


def test_the_same_name_is_fine_in_another_project(
    team: dict[str, Any], client_for: Any, other_project: Any
) -> None:
    response = client_for(team["owner"]).post(labels_url(team), {"name": "cat"}, format="json")
    assert response.status_code == 201
    assert LabelClass.objects.filter(name="cat").count() == 2


@pytest.mark.parametrize("role", ["annotator", "reviewer", "viewer"])
def test_other_roles_cannot_change_labels(role: str, team: dict[str, Any], client_for: Any) -> None:
    client = client_for(team[role])
    label_url = f"/api/labels/{team['label'].pk}/"
    assert_error(client.post(labels_url(team), {"name": "gull"}, format="json"), 403)
    assert_error(client.patch(label_url, {"name": "gull"}, format="json"), 403)
    assert_error(client.delete(label_url), 403)
    assert client.get(label_url).json()["name"] == "bird"
    assert list(team["project"].labels.values_list("name", flat=True)) == ["bird"]


def test_outsiders_cannot_see_labels(team: dict[str, Any], client_for: Any) -> None:
    client = client_for(team["outsider"])
    label_url = f"/api/labels/{team['label'].pk}/"
    assert_error(client.get(labels_url(team)), 404)
    assert_error(client.post(labels_url(team), {"name": "gull"}, format="json"), 404)
    assert_error(client.get(label_url), 404)
    assert_error(client.patch(label_url, {"name": "gull"}, format="json"), 404)
    assert_error(client.delete(label_url), 404)
    assert list(team["project"].labels.values_list("name", flat=True)) == ["bird"]


def test_an_owner_renames_and_recolours_a_label(team: dict[str, Any], client_for: Any) -> None:
    response = client_for(team["owner"]).patch(
        f"/api/labels/{team['label'].pk}/", {"name": "seabird", "color": "#123456"}, format="json"
    )
    assert response.status_code == 200, response.content
    team["label"].refresh_from_db()
    assert (team["label"].name, team["label"].color) == ("seabird", "#123456")


def test_renaming_a_label_onto_another_name_is_refused(
    team: dict[str, Any], client_for: Any
) -> None:
    from annotator.services.projects import add_label

    gull = add_label(team["project"], "gull")
    response = client_for(team["owner"]).patch(
        f"/api/labels/{gull.pk}/", {"name": "bird"}, format="json"
    )
    assert_error(response, 409)
    gull.refresh_from_db()
    assert gull.name == "gull"


def test_an_owner_deletes_an_unused_label(team: dict[str, Any], client_for: Any) -> None:
    assert client_for(team["owner"]).delete(f"/api/labels/{team['label'].pk}/").status_code == 204
    assert not LabelClass.objects.filter(pk=team["label"].pk).exists()


def test_a_label_in_use_cannot_be_deleted(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    response = client_for(team["owner"]).delete(f"/api/labels/{team['label'].pk}/")
    assert_error(response, 409, "label_in_use")
    assert LabelClass.objects.filter(pk=team["label"].pk).exists()
    assert Annotation.objects.filter(pk=annotation.pk).exists()


@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_changed_label_is_stripped_and_lowercased(
    method: str, team: dict[str, Any], client_for: Any
) -> None:
    response = getattr(client_for(team["owner"]), method)(
        f"/api/labels/{team['label'].pk}/",
        {"name": "  seabird ", "color": "#ABCDEF"},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"id": team["label"].pk, "name": "seabird", "color": "#abcdef"}
    team["label"].refresh_from_db()
    assert (team["label"].name, team["label"].color) == ("seabird", "#abcdef")


def test_a_recolour_keeps_the_name(team: dict[str, Any], client_for: Any) -> None:
    response = client_for(team["owner"]).patch(
        f"/api/labels/{team['label'].pk}/", {"color": "#0000FF"}, format="json"
    )
    assert response.json() == {"id": team["label"].pk, "name": "bird", "color": "#0000ff"}


@pytest.mark.parametrize("body", [{"name": "   "}, {"color": "blue"}, {"name": ""}])
def test_a_bad_change_is_refused(
    body: dict[str, Any], team: dict[str, Any], client_for: Any
) -> None:
    response = client_for(team["owner"]).patch(
        f"/api/labels/{team['label'].pk}/", body, format="json"
    )
    assert_error(response, 400)
    team["label"].refresh_from_db()
    assert (team["label"].name, team["label"].color) == ("bird", "#00ff00")


def test_renaming_onto_another_name_is_a_duplicate_label_409(
    team: dict[str, Any], client_for: Any
) -> None:
    from annotator.services.projects import add_label

    gull = add_label(team["project"], "gull")
    response = client_for(team["owner"]).patch(
        f"/api/labels/{gull.pk}/", {"name": " bird "}, format="json"
    )
    body = assert_error(response, 409, "duplicate_label")
    assert "'bird'" in body["detail"]
    gull.refresh_from_db()
    assert gull.name == "gull"
