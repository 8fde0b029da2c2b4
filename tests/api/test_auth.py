"""Tokens, sign-up and who-am-I."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.api.helpers import assert_error

pytestmark = pytest.mark.django_db


def test_it_gives_a_token_for_a_good_password(make_user: Any) -> None:
    alice = make_user("alice")
    response = APIClient().post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice"}, format="json"
    )
    assert response.status_code == 200, response.content
    token = response.json()["token"]
    assert Token.objects.get(user=alice).key == token
    # The same token again on the next login.
    again = APIClient().post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice"}, format="json"
    )
    assert again.json()["token"] == token


def test_the_token_authenticates(make_user: Any) -> None:
    alice = make_user("alice")
    token = (
        APIClient()
        .post("/api/auth/token/", {"username": "alice", "password": "pw-alice"}, format="json")
        .json()["token"]
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/auth/me/").json() == {"id": alice.pk, "username": "alice"}


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": "wrong"},
        {"username": "nobody", "password": "pw-alice"},
        {"username": "alice"},
        {},
    ],
)
def test_it_refuses_bad_credentials(body: dict[str, Any], make_user: Any) -> None:
    make_user("alice")
    assert_error(APIClient().post("/api/auth/token/", body, format="json"), 400)
    assert not Token.objects.exists()


def test_a_wrong_password_says_why(make_user: Any) -> None:
    make_user("alice")
    response = APIClient().post(
        "/api/auth/token/", {"username": "alice", "password": "x"}, format="json"
    )
    assert_error(response, 400, "authorization")


def test_an_inactive_user_gets_no_token(make_user: Any) -> None:
    alice = make_user("alice")
    alice.is_active = False
    alice.save()
    response = APIClient().post(
        "/api/auth/token/", {"username": "alice", "password": "pw-alice"}, format="json"
    )
    assert_error(response, 400)


def test_a_missing_token_is_401(team: dict[str, Any]) -> None:
    client = APIClient()
    for path in ("/api/auth/me/", "/api/projects/", f"/api/projects/{team['project'].pk}/"):
        response = client.get(path)
        assert_error(response, 401, "not_authenticated")
        assert response["WWW-Authenticate"].startswith("Token")


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Token nonsense", "authentication_failed"),
        ("Token ", "authentication_failed"),
        ("Token a b", "authentication_failed"),
        ("Bearer abc", "not_authenticated"),  # not our scheme: as if no credentials
    ],
)
def test_a_wrong_token_is_401(header: str, code: str, team: dict[str, Any]) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert_error(client.get("/api/projects/"), 401, code)
    assert_error(client.get(f"/api/projects/{team['project'].pk}/"), 401, code)


def test_a_deleted_token_stops_working(team: dict[str, Any], client_for: Any) -> None:
    client = client_for(team["owner"])
    assert client.get("/api/auth/me/").status_code == 200
    Token.objects.filter(user=team["owner"]).delete()
    assert_error(client.get("/api/auth/me/"), 401, "authentication_failed")


def test_me_says_who_i_am(team: dict[str, Any], client_for: Any) -> None:
    body = client_for(team["reviewer"]).get("/api/auth/me/").json()
    assert body == {"id": team["reviewer"].pk, "username": "reviewer"}


def test_it_registers_a_new_user() -> None:
    response = APIClient().post(
        "/api/auth/register/", {"username": "newbie", "password": "long enough pw"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    user = User.objects.get(username="newbie")
    assert body["id"] == user.pk and body["username"] == "newbie"
    assert user.check_password("long enough pw")
    assert Token.objects.get(user=user).key == body["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert client.get("/api/auth/me/").json()["username"] == "newbie"
    assert client.get("/api/projects/").json()["count"] == 0


def test_it_refuses_a_taken_username(make_user: Any) -> None:
    make_user("alice")
    response = APIClient().post(
        "/api/auth/register/", {"username": "alice", "password": "long enough pw"}, format="json"
    )
    assert_error(response, 400, "username_taken")
    assert User.objects.filter(username="alice").count() == 1


def test_it_refuses_a_weak_password() -> None:
    response = APIClient().post(
        "/api/auth/register/", {"username": "bob", "password": "short"}, format="json"
    )
    assert_error(response, 400, "weak_password")
    assert not User.objects.filter(username="bob").exists()


@pytest.mark.parametrize(
    "body",
    [
        {"username": "has space", "password": "long enough pw"},
        {"username": "", "password": "long enough pw"},
        {"username": "bob"},
    ],
)
def test_it_refuses_bad_registrations(body: dict[str, Any]) -> None:
    assert_error(APIClient().post("/api/auth/register/", body, format="json"), 400)
    assert not User.objects.exists()


def test_sign_up_can_be_disabled(settings: Any) -> None:
    settings.ALLOW_SIGNUP = False
    response = APIClient().post(
        "/api/auth/register/", {"username": "newbie", "password": "long enough pw"}, format="json"
    )
    assert_error(response, 403, "signup_disabled")
    assert not User.objects.exists()
