"""The real Chromium of the browser tests (Debian's, driven by Playwright)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.render import CHROMIUM_ARGS  # the same browser flags as the canvas benchmark

ROOT = Path(__file__).resolve().parents[2]
BUILT = ("pages/projects.js", "workspace/main.js")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    scripts = ROOT / "frontend" / "static" / "frontend" / "js"
    if not all((scripts / name).exists() for name in BUILT):
        pytest.fail("the frontend is not built: run scripts/build-frontend")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls made here
    # between browser steps (and pytest-django's flush) are still plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
