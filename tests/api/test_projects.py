"""Projects: creation with labels, who sees what, who may change what."""

from __future__ import annotations

from typing import Any

import pytest

from annotator.models import Annotation, Asset, LabelClass, Membership, Project
from tests.api.helpers import assert_error

pytestmark = pytest.mark.django_db


def project_url(project: Project) -> str:
    return f"/api/projects/{project.pk}/"


def test_it_creates_a_project_with_labels(make_user: Any, client_for: Any) -> None:
    alice = make_user("alice")
    response = client_for(alice).post(
        "/api/projects/",
        {
            "name": "Streets",
            "description": "cars and people",
            "labels": [{"name": "car", "color": "#FF0000"}, {"name": "person"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Streets" and body["description"] == "cars and people"
    assert body["role"] == "owner"
    project = Project.objects.get(pk=body["id"])
    assert project.created_by == alice
    assert Membership.objects.get(project=project).user == alice
    assert Membership.objects.get(project=project).role == "owner"
    labels = list(project.labels.values_list("name", "color"))
    assert labels[0] == ("car", "#ff0000")
    assert labels[1][0] == "person" and labels[1][1].startswith("#") and len(labels[1][1]) == 7
    assert [(label["name"], label["color"]) for label in body["labels"]] == labels
    assert all(isinstance(label["id"], int) for label in body["labels"])


def test_it_creates_a_project_without_labels(make_user: Any, client_for: Any) -> None:
    response = client_for(make_user("bob")).post("/api/projects/", {"name": "Empty"}, format="json")
    assert response.status_code == 201
    assert response.json()["labels"] == [] and response.json()["description"] == ""


@pytest.mark.parametrize(
    "labels",
    [
        [{"name": "car"}, {"name": "car"}],
        [{"name": "car"}, {"name": " car "}],
    ],
)
def test_it_rejects_duplicate_label_names(labels: Any, make_user: Any, client_for: Any) -> None:
    response = client_for(make_user("carol")).post(
        "/api/projects/", {"name": "Dupes", "labels": labels}, format="json"
    )
    assert_error(response, 400, "duplicate_label")
    assert not Project.objects.exists() and not LabelClass.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"description": "no name"},
        {"name": "x", "labels": [{"name": "car", "color": "red"}]},
        {"name": "x", "labels": [{"color": "#00ff00"}]},
        {"name": "x", "labels": "car"},
    ],
)
def test_it_rejects_bad_projects(body: dict[str, Any], make_user: Any, client_for: Any) -> None:
    response = client_for(make_user("dave")).post("/api/projects/", body, format="json")
    assert_error(response, 400)
    assert not Project.objects.exists()


def test_it_lists_only_my_projects(
    team: dict[str, Any], other_project: Project, client_for: Any
) -> None:
    body = client_for(team["reviewer"]).get("/api/projects/").json()
    assert body["count"] == 1
    (project,) = body["results"]
    assert project["id"] == team["project"].pk
    assert project["role"] == "reviewer"
    assert project["labels"] == [{"id": team["label"].pk, "name": "bird", "color": "#00ff00"}]
    assert client_for(team["outsider"]).get("/api/projects/").json()["count"] == 0


def test_it_shows_a_project_with_my_role(team: dict[str, Any], client_for: Any) -> None:
    for role in ("owner", "annotator", "reviewer", "viewer"):
        body = client_for(team[role]).get(project_url(team["project"])).json()
        assert body["role"] == role and body["name"] == "Birds"


def test_an_owner_edits_the_project(team: dict[str, Any], client_for: Any) -> None:
    response = client_for(team["owner"]).patch(
        project_url(team["project"]), {"name": "Seabirds", "description": "gulls"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Seabirds" and response.json()["role"] == "owner"
    team["project"].refresh_from_db()
    assert (team["project"].name, team["project"].description) == ("Seabirds", "gulls")


def test_an_owner_replaces_the_project(team: dict[str, Any], client_for: Any) -> None:
    response = client_for(team["owner"]).put(
        project_url(team["project"]), {"name": "Waders", "description": ""}, format="json"
    )
    assert response.status_code == 200, response.content
    team["project"].refresh_from_db()
    assert team["project"].name == "Waders"


def test_an_edit_cannot_blank_the_name(team: dict[str, Any], client_for: Any) -> None:
    response = client_for(team["owner"]).patch(
        project_url(team["project"]), {"name": ""}, format="json"
    )
    assert_error(response, 400)
    team["project"].refresh_from_db()
    assert team["project"].name == "Birds"


def test_an_owner_deletes_the_project(team: dict[str, Any], asset: Asset, client_for: Any) -> None:
    response = client_for(team["owner"]).delete(project_url(team["project"]))
    assert response.status_code == 204
    assert not Project.objects.filter(pk=team["project"].pk).exists()
    assert not Asset.objects.exists() and not LabelClass.objects.exists()
    assert not Membership.objects.filter(project_id=team["project"].pk).exists()


def test_an_owner_deletes_a_project_with_annotations(
    team: dict[str, Any], annotation: Annotation, client_for: Any
) -> None:
    response = client_for(team["owner"]).delete(project_url(team["project"]))
    assert response.status_code == 204
    assert not Project.objects.filter(pk=team["project"].pk).exists()
    assert not Annotation.objects.exists()


@pytest.mark.parametrize("role", ["annotator", "reviewer", "viewer"])
def test_other_roles_cannot_edit_or_delete(
    role: str, team: dict[str, Any], client_for: Any
) -> None:
    client = client_for(team[role])
    assert_error(client.patch(project_url(team["project"]), {"name": "Mine"}, format="json"), 403)
    assert_error(client.put(project_url(team["project"]), {"name": "Mine"}, format="json"), 403)
    assert_error(client.delete(project_url(team["project"])), 403)
    team["project"].refresh_from_db()
    assert team["project"].name == "Birds"


def test_outsiders_cannot_see_the_project(team: dict[str, Any], client_for: Any) -> None:
    client = client_for(team["outsider"])
    assert_error(client.get(project_url(team["project"])), 404)
    assert_error(client.patch(project_url(team["project"]), {"name": "Mine"}, format="json"), 404)
    assert_error(client.delete(project_url(team["project"])), 404)
    assert_error(client.get("/api/projects/999999/"), 404)
    assert Project.objects.filter(pk=team["project"].pk, name="Birds").exists()


def test_anonymous_users_see_nothing(team: dict[str, Any], client_for: Any) -> None:
    assert_error(client_for(None).get("/api/projects/"), 401)
    assert_error(client_for(None).post("/api/projects/", {"name": "x"}, format="json"), 401)
