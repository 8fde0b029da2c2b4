"""Project members: owners add, change and remove them; a project keeps an owner."""

from __future__ import annotations

from typing import Any

import pytest

from annotator.models import Membership
from tests.api.helpers import assert_error

pytestmark = pytest.mark.django_db


def members_url(team: dict[str, Any]) -> str:
    return f"/api/projects/{team['project'].pk}/members/"


def membership(team: dict[str, Any], name: str) -> Membership:
    return Membership.objects.get(project=team["project"], user=team[name])


def roles(team: dict[str, Any]) -> dict[str, str]:
    return dict(team["project"].memberships.values_list("user__username", "role"))


def test_members_list_the_members(team: dict[str, Any], client_for: Any) -> None:
    body = client_for(team["viewer"]).get(members_url(team)).json()
    assert {(m["username"], m["role"]) for m in body} == {
        ("owner", "owner"),
        ("annotator", "annotator"),
        ("reviewer", "reviewer"),
        ("viewer", "viewer"),
    }
    assert all(isinstance(m["id"], int) for m in body)


def test_an_owner_adds_a_member(team: dict[str, Any], client_for: Any) -> None:
    response = client_for(team["owner"]).post(
        members_url(team), {"username": "outsider", "role": "annotator"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["username"] == "outsider" and response.json()["role"] == "annotator"
    assert membership(team, "outsider").role == "annotator"
    # ... who now sees the project.
    assert (
        client_for(team["outsider"]).get(f"/api/projects/{team['project'].pk}/").status_code == 200
    )


def test_adding_an_existing_member_changes_the_role(team: dict[str, Any], client_for: Any) -> None:
    response = client_for(team["owner"]).post(
        members_url(team), {"username": "viewer", "role": "reviewer"}, format="json"
    )
    assert response.status_code in (200, 201)
    assert membership(team, "viewer").role == "reviewer"
    assert Membership.objects.filter(project=team["project"], user=team["viewer"]).count() == 1


def test_it_refuses_an_unknown_user(team: dict[str, Any], client_for: Any) -> None:
    response = client_for(team["owner"]).post(
        members_url(team), {"username": "nobody", "role": "viewer"}, format="json"
    )
    assert_error(response, 400, "unknown_user")
    assert team["project"].memberships.count() == 4


@pytest.mark.parametrize(
    "body",
    [{"username": "outsider", "role": "admin"}, {"username": "outsider"}, {"role": "viewer"}],
)
def test_it_refuses_a_bad_member(
    body: dict[str, Any], team: dict[str, Any], client_for: Any
) -> None:
    assert_error(client_for(team["owner"]).post(members_url(team), body, format="json"), 400)
    assert team["project"].memberships.count() == 4


def test_an_owner_changes_a_role(team: dict[str, Any], client_for: Any) -> None:
    target = membership(team, "annotator")
    response = client_for(team["owner"]).patch(
        f"/api/members/{target.pk}/", {"role": "viewer"}, format="json"
    )
    assert response.status_code == 200, response.content
    target.refresh_from_db()
    assert target.role == "viewer"


def test_a_change_to_an_unknown_role_is_refused(team: dict[str, Any], client_for: Any) -> None:
    target = membership(team, "annotator")
    client = client_for(team["owner"])
    assert_error(
        client.patch(f"/api/members/{target.pk}/", {"role": "boss"}, format="json"),
        400,
        "invalid_role",
    )
    assert_error(client.patch(f"/api/members/{target.pk}/", {}, format="json"), 400, "invalid_role")
    target.refresh_from_db()
    assert target.role == "annotator"


def test_an_owner_removes_a_member(team: dict[str, Any], client_for: Any) -> None:
    target = membership(team, "viewer")
    assert client_for(team["owner"]).delete(f"/api/members/{target.pk}/").status_code == 204
    assert not Membership.objects.filter(pk=target.pk).exists()
    assert_error(client_for(team["viewer"]).get(f"/api/projects/{team['project'].pk}/"), 404)


def test_the_last_owner_cannot_be_demoted(team: dict[str, Any], client_for: Any) -> None:
    owner = membership(team, "owner")
    client = client_for(team["owner"])
    assert_error(
        client.patch(f"/api/members/{owner.pk}/", {"role": "viewer"}, format="json"),
        409,
        "last_owner",
    )
    response = client.post(
        members_url(team), {"username": "owner", "role": "annotator"}, format="json"
    )
    assert_error(response, 409, "last_owner")
    owner.refresh_from_db()
    assert owner.role == "owner"


def test_the_last_owner_cannot_be_removed(team: dict[str, Any], client_for: Any) -> None:
    owner = membership(team, "owner")
    assert_error(client_for(team["owner"]).delete(f"/api/members/{owner.pk}/"), 409, "last_owner")
    assert Membership.objects.filter(pk=owner.pk, role="owner").exists()


def test_an_owner_can_step_down_once_there_is_another(
    team: dict[str, Any], client_for: Any
) -> None:
    client = client_for(team["owner"])
    client.post(members_url(team), {"username": "reviewer", "role": "owner"}, format="json")
    owner = membership(team, "owner")
    assert (
        client.patch(f"/api/members/{owner.pk}/", {"role": "viewer"}, format="json").status_code
        == 200
    )
    assert roles(team)["owner"] == "viewer" and roles(team)["reviewer"] == "owner"
    # The new owner may now remove the old one.
    assert client_for(team["reviewer"]).delete(f"/api/members/{owner.pk}/").status_code == 204
    assert "owner" not in roles(team)


@pytest.mark.parametrize("role", ["annotator", "reviewer", "viewer"])
def test_non_owners_cannot_manage_members(role: str, team: dict[str, Any], client_for: Any) -> None:
    client = client_for(team[role])
    target = membership(team, "viewer")
    before = roles(team)
    assert_error(
        client.post(members_url(team), {"username": "outsider", "role": "owner"}, format="json"),
        403,
    )
    assert_error(
        client.post(members_url(team), {"username": role, "role": "owner"}, format="json"), 403
    )
    assert_error(client.patch(f"/api/members/{target.pk}/", {"role": "owner"}, format="json"), 403)
    assert_error(client.delete(f"/api/members/{target.pk}/"), 403)
    assert roles(team) == before


def test_outsiders_cannot_see_members(team: dict[str, Any], client_for: Any) -> None:
    client = client_for(team["outsider"])
    target = membership(team, "viewer")
    before = roles(team)
    assert_error(client.get(members_url(team)), 404)
    assert_error(
        client.post(members_url(team), {"username": "outsider", "role": "owner"}, format="json"),
        404,
    )
    assert_error(client.get(f"/api/members/{target.pk}/"), 404)
    assert_error(client.patch(f"/api/members/{target.pk}/", {"role": "owner"}, format="json"), 404)
    assert_error(client.delete(f"/api/members/{target.pk}/"), 404)
    assert roles(team) == before


@pytest.mark.parametrize(
    "body", [{"role": "boss"}, {}, {"role": None}, {"role": 3}, {"role": ["viewer"]}, [1]]
)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_bad_role_is_an_invalid_role_400(
    method: str, body: Any, team: dict[str, Any], client_for: Any
) -> None:
    target = membership(team, "annotator")
    response = getattr(client_for(team["owner"]), method)(
        f"/api/members/{target.pk}/", body, format="json"
    )
    assert_error(response, 400, "invalid_role")
    target.refresh_from_db()
    assert target.role == "annotator"


def test_a_role_change_touches_only_the_role(team: dict[str, Any], client_for: Any) -> None:
    target = membership(team, "annotator")
    response = client_for(team["owner"]).put(
        f"/api/members/{target.pk}/", {"username": "outsider", "role": "reviewer"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"id": target.pk, "username": "annotator", "role": "reviewer"}
    target.refresh_from_db()
    assert (target.user, target.role) == (team["annotator"], "reviewer")


def test_a_role_change_may_come_as_a_form(team: dict[str, Any], client_for: Any) -> None:
    target = membership(team, "annotator")
    response = client_for(team["owner"]).patch(
        f"/api/members/{target.pk}/", {"role": "viewer"}, format="multipart"
    )
    assert response.status_code == 200, response.content
    target.refresh_from_db()
    assert target.role == "viewer"
