"""The Django side of the browser UI: page shells, login/logout, sign-up, static build."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "frontend" / "static" / "frontend" / "js"

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/", "/projects/1/", "/projects/1/assets/2/"])
def test_pages_need_a_login(url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/login/?next={url}")


def test_login_page_and_session_login(team: dict[str, Any]) -> None:
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200 and b'name="password"' in page.content
    wrong = client.post("/login/", {"username": "owner", "password": "nope"})
    assert wrong.status_code == 200 and b"Wrong username or password" in wrong.content
    response = client.post("/login/", {"username": "owner", "password": "pw-owner"})
    assert response.status_code == 302 and response["Location"] == "/"
    # The session works for the API too (what the pages use).
    assert client.get("/api/auth/me/").json()["username"] == "owner"
    assert client.get("/login/").status_code == 302  # already logged in


@pytest.mark.parametrize(
    ("url", "module"),
    [
        ("/", "frontend/js/pages/projects.js"),
        ("/projects/{p}/", "frontend/js/pages/project.js"),
        ("/projects/{p}/assets/7/", "frontend/js/workspace/main.js"),
    ],
)
def test_page_shells_load_their_module(team: dict[str, Any], url: str, module: str) -> None:
    client = Client()
    client.force_login(team["owner"])
    response = client.get(url.format(p=team["project"].pk))
    assert response.status_code == 200
    assert f'src="/static/{module}"'.encode() in response.content
    assert (JS.parent.parent / module).is_file(), "run scripts/build-frontend"


def test_workspace_shell_carries_the_ids(team: dict[str, Any]) -> None:
    client = Client()
    client.force_login(team["annotator"])
    html = client.get(f"/projects/{team['project'].pk}/assets/42/").content.decode()
    assert f'data-project-id="{team["project"].pk}"' in html and 'data-asset-id="42"' in html


def test_logout_is_a_post(team: dict[str, Any]) -> None:
    client = Client()
    client.force_login(team["owner"])
    assert client.get("/logout/").status_code == 405
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert client.get("/").status_code == 302


def test_signup_page_follows_the_setting(settings: Any) -> None:
    settings.ALLOW_SIGNUP = True
    assert b'id="signup"' in Client().get("/signup/").content
    settings.ALLOW_SIGNUP = False
    assert b"Sign-up is disabled" in Client().get("/signup/").content


@pytest.mark.parametrize(
    ("url", "forms"),
    [("/", ["new-project"]), ("/projects/{p}/", ["new-export", "new-label", "new-member"])],
)
def test_script_driven_forms_start_disabled(
    team: dict[str, Any], url: str, forms: list[str]
) -> None:
    """A click before the page's script has attached the handler would submit the form
    natively (a reload that drops the action); ui.onSubmit enables the buttons."""
    client = Client()
    client.force_login(team["owner"])
    html = client.get(url.format(p=team["project"].pk)).content.decode()
    for form in forms:
        body = html.split(f'id="{form}"', 1)[1].split("</form>", 1)[0]
        button = body.split('type="submit"', 1)[1].split(">", 1)[0]
        assert "disabled" in button, form


def test_the_workspace_shell_has_every_element_its_modules_look_up(
    team: dict[str, Any],
) -> None:
    """``$("#id")`` throws for a missing element: each id the workspace modules (the
    video timeline's included) look up is in the page the server renders."""
    import re

    client = Client()
    client.force_login(team["annotator"])
    html = client.get(f"/projects/{team['project'].pk}/assets/42/").content.decode()
    sources = ROOT / "frontend" / "src" / "workspace"
    wanted = {
        match
        for path in sources.glob("*.ts")
        for match in re.findall(r'\$\("#([\w-]+)"\)', path.read_text())
    }
    assert {"timeline", "tl-canvas", "tl-progress", "tl-cancel", "canvas"} <= wanted
    missing = sorted(name for name in wanted if f'id="{name}"' not in html)
    assert missing == []
