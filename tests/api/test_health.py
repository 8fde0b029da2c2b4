"""``GET /api/health/``: no auth; the database, Redis and which queues have a live worker.

The answer is ``{"status": "ok" | "degraded", "database": "ok" | "error: ...",
"redis": "ok" | "error: ...", "workers": {queue: bool}}``, 200 when the database and Redis
are reachable and 503 otherwise. Whether a worker runs does not change the status, so
these tests hold with or without one (a session-wide test worker may be up)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

URL = "/api/health/"
QUEUES = {"interactive", "embed", "jobs"}


def check_shape(body: dict[str, Any]) -> None:
    assert set(body) == {"status", "database", "redis", "workers"}
    assert body["status"] in ("ok", "degraded")
    for service in ("database", "redis"):
        assert body[service] == "ok" or body[service].startswith("error: "), body
    assert set(body["workers"]) == QUEUES
    assert all(isinstance(alive, bool) for alive in body["workers"].values()), body


def degraded(client: Any) -> dict[str, Any]:
    """The health answer when something is down: a 503 of the usual shape."""
    response = client.get(URL)
    assert response.status_code == 503, response.content
    body: dict[str, Any] = response.json()
    check_shape(body)
    assert body["status"] == "degraded"
    return body


@pytest.fixture
def unreachable_redis(settings: Any, tmp_path: Path) -> None:
    """Point the server at a Redis socket that nothing listens on."""
    settings.REDIS_URL = f"redis+socket://{tmp_path / 'nobody-listens.sock'}"


@pytest.mark.django_db
def test_healthy_without_credentials(redis_server: str, client_for: Callable[[Any], Any]) -> None:
    response = client_for(None).get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    check_shape(body)
    assert (body["status"], body["database"], body["redis"]) == ("ok", "ok", "ok")


@pytest.mark.django_db
def test_a_bad_token_does_not_matter(redis_server: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get(URL)
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
def test_a_logged_in_user_gets_the_same(
    redis_server: str, client_for: Callable[[Any], Any], make_user: Callable[[str], Any]
) -> None:
    response = client_for(make_user("someone")).get(URL)
    assert response.status_code == 200, response.content
    check_shape(response.json())


@pytest.mark.django_db
@pytest.mark.usefixtures("unreachable_redis")
def test_redis_down_is_degraded(client_for: Callable[[Any], Any]) -> None:
    body = degraded(client_for(None))
    assert body["database"] == "ok"
    assert body["redis"].startswith("error: ")
    # Without Redis no worker can be seen alive.
    assert body["workers"] == {queue: False for queue in QUEUES}


def test_database_down_is_degraded(redis_server: str, client_for: Callable[[Any], Any]) -> None:
    """No ``django_db`` mark: pytest-django refuses every database connection in this
    test, which the health check meets exactly like a database that is down."""
    body = degraded(client_for(None))
    assert body["redis"] == "ok"
    assert body["database"].startswith("error: ")


@pytest.mark.usefixtures("unreachable_redis")
def test_both_down(client_for: Callable[[Any], Any]) -> None:
    body = degraded(client_for(None))
    assert body["database"].startswith("error: ") and body["redis"].startswith("error: ")


@pytest.mark.django_db
def test_only_get_is_allowed(redis_server: str, client_for: Callable[[Any], Any]) -> None:
    response = client_for(None).post(URL, {}, format="json")
    assert response.status_code == 405, response.content
    assert response.json()["code"] == "method_not_allowed"
