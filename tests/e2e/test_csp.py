"""The Content-Security-Policy in a real browser: every page of the UI, the Swagger page,
the browsable API and the admin load with no violation reported and no script error.
(The annotation flow itself, blob: images and all, runs under the same policy in
test_workspace.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
# Collected in the page before any of its own scripts run.
WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


def _visit(page: Any, url: str, ready: str) -> list[str]:
    page.goto(url)
    page.wait_for_selector(ready)
    page.wait_for_timeout(300)  # late violations (styles set by scripts, images)
    problems: list[str] = page.evaluate("window.__csp")
    return problems


def test_every_page_loads_under_the_policy(
    browser: Any, live_server: Any, team: dict[str, Any]
) -> None:
    from django.contrib.auth.models import User

    User.objects.filter(pk=team["owner"].pk).update(is_staff=True, is_superuser=True)
    base = live_server.url
    context = browser.new_context()
    context.set_default_timeout(20_000)
    context.add_init_script(WATCH_VIOLATIONS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )

    assert _visit(page, f"{base}/login/", "input[name=password]") == []
    page.fill("input[name=username]", "owner")
    page.fill("input[name=password]", "pw-owner")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    project = team["project"].pk
    visits = {
        f"{base}/": "#new-project",
        f"{base}/projects/{project}/": "#labels .label-row",
        f"{base}/signup/": "body",
        # Swagger UI renders the schema: its scripts and styles ran.
        f"{base}/api/docs/": ".swagger-ui .info .title",
        f"{base}/api/projects/": ".response-info",  # the browsable API
        f"{base}/admin/": "#content",
    }
    for url, ready in visits.items():
        assert _visit(page, url, ready) == [], url
    assert errors == []
    context.close()
