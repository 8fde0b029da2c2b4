"""Web hardening: error pages that leak nothing, pagination links that do not echo the
Host header, the security headers (CSP, framing, sniffing) and ``check --deploy``."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.api.helpers import assert_error

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


# --- errors -------------------------------------------------------------------------------


def _explode(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("secret-detail: database password is hunter2")


def test_an_api_500_is_json_and_the_traceback_goes_to_the_log(
    team: dict[str, Any], client_for: Any, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    from api.views.auth import MeView

    monkeypatch.setattr(MeView, "get", _explode)
    client = client_for(team["owner"])
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/api/auth/me/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "internal error", "code": "server_error"}
    assert b"hunter2" not in response.content
    logged = [r for r in caplog.records if r.exc_info]
    assert logged and "hunter2" in str(logged[0].exc_info[1])


def test_a_page_500_is_plain(team: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from frontend.views import LoginView

    monkeypatch.setattr(LoginView, "get", _explode)
    client = Client(raise_request_exception=False)
    response = client.get("/login/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "Server Error" in body
    for leak in ("hunter2", "Traceback", "RuntimeError", "SECRET_KEY", "settings"):
        assert leak not in body


def test_a_page_404_is_plain() -> None:
    response = Client().get("/no/such/page/")
    assert response.status_code == 404
    body = response.content.decode()
    # With DEBUG on, Django lists every URL pattern here; off, nothing of the kind.
    assert "api/" not in body and "admin/" not in body and "urlpatterns" not in body.lower()


# --- pagination links -------------------------------------------------------------------


@pytest.fixture
def three_projects(team: dict[str, Any]) -> APIClient:
    from annotator.services.projects import create_project

    for name in ("Cats", "Dogs"):
        create_project(team["owner"], name, "", [])
    client = APIClient()
    client.force_authenticate(team["owner"])
    return client


def test_pagination_links_do_not_echo_the_host_header(three_projects: APIClient) -> None:
    first = three_projects.get(
        "/api/projects/?page_size=1", HTTP_HOST="evil.example", HTTP_X_FORWARDED_HOST="evil.example"
    ).json()
    assert first["count"] == 3 and first["previous"] is None
    assert first["next"].startswith("/api/projects/?")
    assert "page=2" in first["next"] and "page_size=1" in first["next"]
    second = three_projects.get(first["next"], HTTP_HOST="evil.example").json()
    assert second["previous"].startswith("/api/projects/?") and "page=" not in second["previous"]
    third = three_projects.get(second["next"]).json()
    assert third["next"] is None and "page=2" in third["previous"]
    names = {p["name"] for page in (first, second, third) for p in page["results"]}
    assert names == {"Birds", "Cats", "Dogs"}


def test_pagination_links_are_absolute_on_public_url(
    three_projects: APIClient, settings: Any
) -> None:
    settings.PUBLIC_URL = "https://annotator.example.org"
    body = three_projects.get("/api/projects/?page_size=2", HTTP_HOST="evil.example").json()
    assert body["next"].startswith("https://annotator.example.org/api/projects/?")


def test_pagination_links_are_absolute_on_a_host_the_server_names(
    three_projects: APIClient, settings: Any
) -> None:
    # What `manage.py serve` on a loopback address sets: absolute links, on a name the
    # server answers; any other Host is refused before a link is built.
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
    body = three_projects.get("/api/projects/?page_size=2", HTTP_HOST="localhost:8000").json()
    assert body["next"].startswith("http://localhost:8000/api/projects/?")
    response = three_projects.get("/api/projects/?page_size=2", HTTP_HOST="evil.example")
    assert response.status_code == 400 and b"evil.example" not in response.content


def test_the_schema_says_the_links_are_uri_references(
    team: dict[str, Any], client_for: Any
) -> None:
    schema = client_for(team["owner"]).get("/api/schema/?format=json").json()
    paginated = [
        c for name, c in schema["components"]["schemas"].items() if name.startswith("Paginated")
    ]
    assert paginated
    for component in paginated:
        assert component["properties"]["next"]["format"] == "uri-reference"


# --- headers ------------------------------------------------------------------------------


def _csp(response: Any) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def test_pages_get_a_strict_content_security_policy(team: dict[str, Any]) -> None:
    client = Client()
    client.force_login(team["owner"])
    for url in ("/login/", "/", f"/projects/{team['project'].pk}/", "/api/auth/me/"):
        response = client.get(url, follow=False)
        policy = _csp(response)
        assert policy["default-src"] == ["'self'"], url
        assert policy["script-src"] == ["'self'"], url
        if not url.startswith("/api/"):  # the browsable API has inline <style>s
            assert policy["style-src"] == ["'self'"], url
        assert "style-src-attr" not in policy  # no inline style attributes either
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"


def test_the_swagger_page_alone_may_run_inline_scripts(team: dict[str, Any]) -> None:
    client = Client()
    client.force_login(team["owner"])
    response = client.get("/api/docs/")
    assert response.status_code == 200
    policy = _csp(response)
    assert "'unsafe-inline'" in policy["script-src"] and "'unsafe-inline'" in policy["style-src"]
    assert policy["object-src"] == ["'none'"]


def test_session_and_csrf_cookies_are_secure_when_configured(
    team: dict[str, Any], settings: Any
) -> None:
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    client = Client()
    page = client.get("/login/")
    assert page.cookies["csrftoken"]["secure"]
    token = page.cookies["csrftoken"].value
    response = client.post(
        "/login/", {"username": "owner", "password": "pw-owner", "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert response.cookies["sessionid"]["secure"] and response.cookies["sessionid"]["httponly"]


def test_sign_in_errors_keep_the_error_shape() -> None:
    assert_error(APIClient().post("/api/auth/token/", {}, format="json"), 400)


# --- manage.py check --deploy -------------------------------------------------------------


def _check_deploy(tmp_path: Path, **extra: str) -> set[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SECURE_", "SESSION_", "CSRF_", "DEBUG", "ALLOWED_HOSTS"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "annotator.settings",
            "ANNOTATOR_ENV": "production",
            "ANNOTATOR_VAR_DIR": str(tmp_path),
            "SECRET_KEY": secrets.token_urlsafe(50),
            **extra,
        }
    )
    env.pop("DATABASE_URL", None)  # the check needs no database
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    return {word.strip("():") for word in output.split() if word.startswith("(security.")}


def test_check_deploy_in_production(tmp_path: Path) -> None:
    # The defaults leave three deployment choices, documented in docs/deployment.md:
    # redirecting to HTTPS (usually the proxy's job) and the HSTS scope (subdomains,
    # preload list), which only the operator can decide.
    assert _check_deploy(tmp_path) == {"security.W005", "security.W008", "security.W021"}
    assert (
        _check_deploy(
            tmp_path,
            SECURE_SSL_REDIRECT="1",
            SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
            SECURE_HSTS_PRELOAD="1",
        )
        == set()
    )


def test_static_files_are_served_with_debug_off(settings: Any, tmp_path: Path) -> None:
    """What `manage.py serve` does: collectstatic, then whitenoise serves the files (no
    Django debug static view)."""
    from django.core.management import call_command

    settings.STATIC_ROOT = tmp_path / "static"
    # Copies only (the configured storage also compresses every file: slow, and not
    # what is tested here).
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    client = Client()
    for path in (
        "/static/frontend/css/app.css",
        "/static/frontend/js/pages/projects.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert b"".join(response.streaming_content)


def test_https_redirect_spares_the_health_check(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 301 and page["Location"] == "https://testserver/login/"
    assert client.get("/api/health/").status_code != 301
