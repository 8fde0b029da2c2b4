"""Tokens, sign-up and who-am-I; sign-in throttling and the sign-up rules."""

from __future__ import annotations

import logging
import time
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


# --- sign-in throttling (annotator/services/login_guard.py) ------------------------------


@pytest.fixture(params=["redis", "memory"])
def guard(request: pytest.FixtureRequest, settings: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """Small limits, counters cleared; each test runs on Redis (an embedded server when
    none is configured) and on the in-memory fallback of a Redis that is down."""
    import redis

    from annotator.services import login_guard

    settings.LOGIN_MAX_FAILURES_PER_USER = 3
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 5
    settings.LOGIN_FAILURE_WINDOW_S = 900
    if request.param == "redis":
        request.getfixturevalue("redis_server")
    else:

        def down() -> Any:
            raise redis.ConnectionError("Redis is down (test)")

        monkeypatch.setattr(login_guard, "get_redis", down)
    login_guard.clear_all()
    request.addfinalizer(login_guard.clear_all)
    return str(request.param)


@pytest.fixture
def password_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The usernames whose password Django's backend checked (each costs a hash)."""
    from django.contrib.auth.backends import ModelBackend

    checked: list[str] = []
    original = ModelBackend.authenticate

    def counting(self: Any, request: Any, username: Any = None, password: Any = None, **kw: Any):
        checked.append(username)
        return original(self, request, username, password, **kw)

    monkeypatch.setattr(ModelBackend, "authenticate", counting)
    return checked


def token(username: str, password: str, address: str = "127.0.0.1") -> Any:
    return APIClient(REMOTE_ADDR=address).post(
        "/api/auth/token/", {"username": username, "password": password}, format="json"
    )


def test_wrong_passwords_lock_the_username_even_for_the_right_one(
    guard: str, make_user: Any, password_checks: list[str]
) -> None:
    make_user("alice")
    for _ in range(3):
        assert_error(token("alice", "wrong"), 400, "authorization")
    assert len(password_checks) == 3
    refused = token("alice", "pw-alice")
    assert_error(refused, 429, "too_many_attempts")
    assert 0 < int(refused["Retry-After"]) <= 900
    assert len(password_checks) == 3  # refused without hashing anything
    assert not Token.objects.exists()
    if guard == "redis":  # counted where every web process sees it
        from annotator.redis_client import get_redis
        from annotator.services import login_guard

        assert int(get_redis().get(login_guard.user_key("alice")) or 0) == 3
    # Another account from the same address is not affected.
    make_user("bob")
    assert token("bob", "pw-bob").status_code == 200


def test_the_username_is_counted_whatever_its_case(guard: str, make_user: Any) -> None:
    make_user("alice")
    for name in ("Alice", "ALICE", "alice"):
        assert_error(token(name, "wrong"), 400)
    assert_error(token("alice", "pw-alice"), 429, "too_many_attempts")


def test_unknown_usernames_are_counted_too(guard: str, password_checks: list[str]) -> None:
    for _ in range(3):
        assert_error(token("nobody", "guess"), 400)
    assert_error(token("nobody", "guess"), 429, "too_many_attempts")
    assert password_checks == ["nobody"] * 3


def test_an_address_is_locked_after_failures_on_many_usernames(
    guard: str, make_user: Any, password_checks: list[str]
) -> None:
    make_user("carol")
    for n in range(5):
        assert_error(token(f"user{n}", "guess", "203.0.113.7"), 400)
    assert_error(token("carol", "pw-carol", "203.0.113.7"), 429, "too_many_attempts")
    assert "carol" not in password_checks
    assert token("carol", "pw-carol", "198.51.100.1").status_code == 200


def test_a_successful_sign_in_resets_the_username_count(guard: str, make_user: Any) -> None:
    make_user("alice")
    for _ in range(2):
        for _ in range(2):
            assert_error(token("alice", "wrong", "198.51.100.1"), 400)
        assert token("alice", "pw-alice", "198.51.100.2").status_code == 200


def test_the_lock_ends_with_its_window(guard: str, settings: Any, make_user: Any) -> None:
    settings.LOGIN_FAILURE_WINDOW_S = 1
    make_user("alice")
    for _ in range(3):
        assert_error(token("alice", "wrong"), 400)
    assert_error(token("alice", "pw-alice"), 429, "too_many_attempts")
    time.sleep(1.1)
    assert token("alice", "pw-alice").status_code == 200


def test_a_redis_outage_falls_back_to_memory_with_a_log_line(
    settings: Any, monkeypatch: pytest.MonkeyPatch, make_user: Any, caplog: Any
) -> None:
    import redis

    from annotator.services import login_guard

    settings.LOGIN_MAX_FAILURES_PER_USER = 2
    login_guard.clear_all()
    tries: list[int] = []

    def down() -> Any:
        tries.append(1)
        raise redis.ConnectionError("connection refused")

    monkeypatch.setattr(login_guard, "get_redis", down)
    make_user("alice")
    with caplog.at_level(logging.WARNING, logger="annotator.services.login_guard"):
        for _ in range(2):
            assert_error(token("alice", "wrong"), 400)
        assert_error(token("alice", "pw-alice"), 429, "too_many_attempts")
    # One warning and one try per outage, not one per request (no timeout per sign-in).
    assert len(tries) == 1
    assert [r.message for r in caplog.records if "Redis unreachable" in r.message]
    assert sum("Redis unreachable" in r.message for r in caplog.records) == 1
    login_guard.clear_all()
    assert token("alice", "pw-alice").status_code == 200


def test_the_browser_login_is_guarded_too(
    guard: str, team: dict[str, Any], password_checks: list[str]
) -> None:
    from django.test import Client

    client = Client()
    for _ in range(3):
        wrong = client.post("/login/", {"username": "owner", "password": "nope"})
        assert wrong.status_code == 200 and b"Wrong username or password" in wrong.content
    locked = client.post("/login/", {"username": "owner", "password": "pw-owner"})
    assert locked.status_code == 429
    assert 0 < int(locked["Retry-After"]) <= 900
    html = locked.content.decode()
    assert "Too many failed sign-in attempts" in html and "try again in 15 minutes" in html
    assert 'value="owner"' in html  # the form is shown again, filled in
    assert len(password_checks) == 3
    assert client.get("/api/auth/me/").status_code in (401, 403)  # not signed in
    # The token endpoint shares the count.
    assert_error(token("owner", "pw-owner"), 429, "too_many_attempts")


def test_the_browser_login_resets_the_count(guard: str, team: dict[str, Any]) -> None:
    from django.test import Client

    for _ in range(2):
        assert_error(token("owner", "wrong"), 400)
    assert (
        Client().post("/login/", {"username": "owner", "password": "pw-owner"}).status_code == 302
    )
    for _ in range(2):
        assert_error(token("owner", "wrong"), 400)
    assert token("owner", "pw-owner").status_code == 200


def test_the_admin_login_is_guarded_too(
    guard: str, make_user: Any, password_checks: list[str]
) -> None:
    from django.test import Client

    User.objects.create_superuser("root", password="pw-root")
    for _ in range(3):
        assert_error(token("root", "wrong"), 400)
    client = Client()
    response = client.post("/admin/login/", {"username": "root", "password": "pw-root"})
    assert response.status_code == 200  # the form again, not a redirect into the admin
    assert len(password_checks) == 3
    assert "_auth_user_id" not in client.session


def test_the_client_address_behind_a_proxy(settings: Any) -> None:
    from django.test import RequestFactory

    from annotator.services.login_guard import address_key, client_address

    request = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.10"
    )
    settings.CLIENT_ADDRESS_HEADER = None
    assert client_address(request) == "10.0.0.1"  # the header is ignored unless trusted
    settings.CLIENT_ADDRESS_HEADER = "X-Forwarded-For"
    assert client_address(request) == "192.0.2.10"  # what the proxy appended, not forgeries
    # IPv6 clients count per /64; an IPv4-mapped address as its IPv4.
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1")


# --- sign-up rules -------------------------------------------------------------------------


def register(username: str, password: str) -> Any:
    return APIClient().post(
        "/api/auth/register/", {"username": username, "password": password}, format="json"
    )


def test_usernames_are_unique_whatever_their_case(make_user: Any) -> None:
    make_user("alice")
    for name in ("Alice", "ALICE"):
        assert_error(register(name, "long enough pw"), 400, "username_taken")
    assert User.objects.count() == 1
    # Signing in by username is exact, as before.
    assert_error(token("Alice", "pw-alice"), 400)
    assert token("alice", "pw-alice").status_code == 200


def test_the_database_holds_case_insensitive_uniqueness(
    make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sign-ups racing past the check: the unique index on LOWER(username) answers."""
    from django.db import IntegrityError, transaction

    from api.views.auth import RegisterSerializer

    make_user("alice")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create_user("ALICE", password="x")
    monkeypatch.setattr(RegisterSerializer, "validate_username", lambda self, value: value)
    assert_error(register("Alice", "long enough pw"), 400, "username_taken")
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]
    assert not Token.objects.exists()


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("bob", "short"),  # MinimumLength
        ("bob", "password123"),  # CommonPassword
        ("bob", "8675309123456"),  # NumericPassword
        ("wonderland", "wonderland1"),  # UserAttributeSimilarity, against the new name
    ],
)
def test_sign_up_applies_every_password_validator(username: str, password: str) -> None:
    body = assert_error(register(username, password), 400, "weak_password")
    assert body["detail"].startswith("password: ")
    assert not User.objects.exists()


def test_the_migration_names_accounts_that_differ_only_in_case() -> None:
    """Migration 0005 stops on existing case duplicates (before making the index)."""
    import importlib

    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("annotator.migrations.0005_username_ci_unique")
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute(f"DROP INDEX {migration.INDEX}")
    for name in ("Alice", "alice", "bob"):
        User.objects.create_user(name, password="x")
    with pytest.raises(RuntimeError, match="resolved before this migration: alice$"):
        migration.refuse_case_duplicates(apps, None)
