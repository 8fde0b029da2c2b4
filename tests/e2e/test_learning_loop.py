"""The learning loop in real Chromium, with the live server and a real Celery worker:
upload four small images (a red disc on a noisy blue background, at a different place in
each), annotate one in the workspace, label the next one in queue mode ("Save and next",
then Skip), train the project model from the project page and see it ready, let it
propose masks (drawn as proposals), review two of them (A accepts, R rejects with a
comment), filter the asset grid, and read the dashboard with its label-efficiency plot.
Screenshots of review mode and the dashboard go to docs/screenshots/ with
UPDATE_SCREENSHOTS=1 (to var/test/ otherwise)."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.e2e.test_csp import WATCH_VIOLATIONS
from tests.e2e.test_workspace import TIMEOUT_MS, _click_image, _login, _shot, _state, _wait_state

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = (
    ROOT / "docs" / "screenshots" if os.environ.get("UPDATE_SCREENSHOTS") else ROOT / "var" / "test"
)
WIDTH, HEIGHT, RADIUS = 160, 120, 26
CENTERS = {
    "disc-a.png": (60, 50),
    "disc-b.png": (100, 70),
    "disc-c.png": (75, 65),
    "disc-d.png": (110, 45),
}


def disc_image(center: tuple[int, int], seed: int) -> bytes:
    """A red disc on a noisy blue background (easy for the engine and the pixel model)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = np.empty((HEIGHT, WIDTH, 3), np.float64)
    image[...] = (40, 60, 160)
    image[(xx - center[0]) ** 2 + (yy - center[1]) ** 2 <= RADIUS**2] = (220, 50, 40)
    image += rng.normal(0, 8, image.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _ready(page: Any) -> None:
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT_MS * 2)


def _queue(page: Any) -> dict[str, Any]:
    return _state(page)["queue"]


def _wait_across(page: Any, predicate: Any, what: str) -> dict[str, Any]:
    """Like ``_wait_state``, across page changes (the modes open another asset's page)."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + TIMEOUT_MS / 1000
    state = None
    while True:
        try:
            _ready(page)
            state = _state(page)
        except PlaywrightError:  # navigating: ask the next page
            state = None
        if state is not None and predicate(state):
            return state
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}; state: {state}")
        page.wait_for_timeout(50)


def _wait_queue_item(page: Any, not_item: int | None = None) -> dict[str, Any]:
    """The queue once it holds an item other than ``not_item``, or is empty."""

    def ready(state: dict[str, Any]) -> bool:
        queue = state["queue"]
        held = (queue["item"] or {}).get("item")
        return bool(queue["kind"] in ("item", "empty") and held != not_item)

    return _wait_across(page, ready, "a queue item")["queue"]


def _wait_db(check: Any, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _wait_count(page: Any, selector: str, count: int) -> None:
    """Polls from here: the page's CSP forbids the eval behind wait_for_function."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while page.locator(selector).count() != count:
        if time.monotonic() > deadline:
            pytest.fail(f"{page.locator(selector).count()} x {selector}, not {count}")
        page.wait_for_timeout(50)


def _asset_of(page: Any) -> int:
    match = re.search(r"/assets/(\d+)/", page.url)
    assert match, page.url
    return int(match.group(1))


def _segment_disc(page: Any, asset_id: int) -> None:
    """Clicks the disc of the asset on screen and waits for the engine's mask."""
    from annotator.models import Asset

    cx, cy = CENTERS[Asset.objects.get(pk=asset_id).name]
    _click_image(page, cx, cy)
    _wait_state(page, lambda s: s["draft"]["area"] > 0 and s["predict"] == "done", "mask")


def _follow_job(page: Any, button: str) -> str:
    """Clicks a learning-panel button and waits for its job's end; returns the text."""
    page.click(button)
    page.wait_for_selector("#learning-job:not([hidden])")
    page.wait_for_selector(
        "#learning-job[data-status=done], #learning-job[data-status=failed]", timeout=120_000
    )
    text = page.inner_text("#learning-job-text")
    assert page.get_attribute("#learning-job", "data-status") == "done", text
    assert text.startswith("Training" if button == "#train-model" else "Proposing"), text
    return text


def test_learning_loop_in_the_browser(
    browser: Any, live_server: Any, celery_worker: Any, team: dict[str, Any]
) -> None:
    from annotator.models import Annotation, Asset, Job, ProjectModel, QueueItem

    started = time.monotonic()
    project = team["project"]
    base = live_server.url
    page = _login(browser, base, "owner")
    page.context.add_init_script(WATCH_VIOLATIONS)

    # Upload four images at once; every card gets its progress line.
    folder = ROOT / "var" / "test" / "learning"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for seed, (name, center) in enumerate(CENTERS.items()):
        (folder / name).write_bytes(disc_image(center, seed))
        files.append(str(folder / name))
    page.goto(f"{base}/projects/{project.pk}/")
    _ready(page)
    assert page.inner_text("#model-status").startswith("Model: no model yet")
    page.set_input_files("#file-input", files)
    page.locator(".asset-card .badge", has_text="embedding ready").nth(3).wait_for(timeout=90_000)
    assert page.locator(".asset-card .asset-progress", has_text="0 annotations").count() == 4

    # Annotate the first image in the workspace (Enter saves, as ever).
    first = Asset.objects.get(project=project, name="disc-a.png")
    page.goto(f"{base}/projects/{project.pk}/assets/{first.pk}/")
    _ready(page)
    page.select_option("#engine", "classical")  # remembered for the queue pages too
    _segment_disc(page, first.pk)
    page.keyboard.press("Enter")
    _wait_state(page, lambda s: len(s["annotations"]) == 1 and s["save"] == "saved", "save")

    # Queue mode from the project page: it opens a frame the model asks for, says why.
    page.goto(f"{base}/projects/{project.pk}/")
    _ready(page)
    page.click("#label-next")
    page.wait_for_url(re.compile(r"mode=queue"))
    _ready(page)
    queue = _wait_queue_item(page)
    assert queue["kind"] == "item", queue
    item = queue["item"]
    asset_id = _asset_of(page)
    assert item["asset"] == asset_id != first.pk
    assert item["strategy"] == "combined"
    info = page.inner_text("#queue-info")
    assert "score" in info and "combined" in info, info
    assert re.match(r"lease: \d+ (min|s) left", page.inner_text("#queue-lease"))
    _segment_disc(page, asset_id)
    page.keyboard.press("Control+Enter")  # save and next
    page.wait_for_url(lambda url: f"/assets/{asset_id}/" not in url)
    _ready(page)
    second = _wait_queue_item(page, not_item=item["item"])
    assert second["kind"] == "item", second
    assert QueueItem.objects.get(pk=item["item"]).done
    assert Annotation.objects.filter(asset_id=asset_id).count() == 1
    # Skip hands the item back and opens another (or says the queue is empty).
    skipped = second["item"]["item"]
    page.click("#queue-skip")
    after_skip = _wait_queue_item(page, not_item=skipped)
    assert after_skip["kind"] in ("item", "empty"), after_skip
    _shot(page, "learning-queue")
    if after_skip["kind"] == "item":  # leaving queue mode gives the lease back
        held = after_skip["item"]["item"]
        page.click("#queue-exit")
        deadline = time.monotonic() + 10
        while QueueItem.objects.get(pk=held).leased_by_id is not None:
            assert time.monotonic() < deadline, "the lease was not released"
            time.sleep(0.1)

    # Train the model from the project page: the job's progress, then "ready".
    page.goto(f"{base}/projects/{project.pk}/")
    _ready(page)
    _follow_job(page, "#train-model")
    page.locator("#model-status", has_text="ready").wait_for()
    model = ProjectModel.objects.filter(project=project).order_by("-version").first()
    assert model is not None and model.status == "ready"
    assert f"v{model.version}" in page.inner_text("#model-status")

    # Propose masks: generated, pending annotations with a score on the unlabelled images.
    _follow_job(page, "#propose-masks")
    proposals = Annotation.objects.filter(asset__project=project, source="generated")
    assert proposals.exists()
    assert all(p.review_status == "pending" and p.score is not None for p in proposals)
    page.locator(".asset-card .asset-progress", has_text="proposed").first.wait_for()
    # The grid's filter: only assets with nothing on them.
    page.select_option("#asset-state", "unlabelled")
    unlabelled = Asset.objects.filter(project=project, annotations__isnull=True).count()
    _wait_count(page, ".asset-card", unlabelled)
    page.select_option("#asset-state", "")
    _wait_count(page, ".asset-card", 4)
    _shot(page, "learning-project")

    # Review mode as the reviewer: proposals first, drawn and listed as proposals.
    reviewer = _login(browser, base, "reviewer")
    reviewer.context.add_init_script(WATCH_VIOLATIONS)
    reviewer.goto(f"{base}/projects/{project.pk}/")
    _ready(reviewer)
    assert reviewer.locator("#label-next").is_hidden()  # a reviewer does not label
    reviewer.click("#review-next")
    reviewer.wait_for_url(re.compile(r"mode=review"))
    _ready(reviewer)
    state = _wait_state(reviewer, lambda s: s["review"]["current"] is not None, "review item")
    current = Annotation.objects.get(pk=state["review"]["current"])
    assert current.source == "generated" and state["selected"] == current.pk
    badge = reviewer.locator(f"#instances .instance[data-id='{current.pk}'] .review-badge")
    assert badge.inner_text().startswith("proposal "), badge.inner_text()
    assert "generated" in reviewer.inner_text("#review-info")
    reviewer.keyboard.press("a")  # accept
    _wait_db(lambda: Annotation.objects.get(pk=current.pk).review_status == "accepted", "accept")
    current.refresh_from_db()
    assert current.reviewed_by is not None and current.reviewed_by.username == "reviewer"
    state = _wait_across(
        reviewer,
        lambda s: (
            s["review"]["current"] not in (None, current.pk)
            and s["selected"] == s["review"]["current"]
        ),
        "the next annotation to review",
    )
    rejected = Annotation.objects.get(pk=state["review"]["current"])
    reviewer.keyboard.press("r")  # reject: the comment box takes the keyboard
    reviewer.locator("#review-comment").wait_for(state="visible")
    reviewer.keyboard.type("misses the lower edge")
    SHOTS.mkdir(parents=True, exist_ok=True)
    reviewer.screenshot(path=str(SHOTS / "review-mode.png"))
    reviewer.keyboard.press("Enter")
    _wait_db(lambda: Annotation.objects.get(pk=rejected.pk).review_status == "rejected", "reject")
    rejected.refresh_from_db()
    assert rejected.review_status == "rejected"
    assert rejected.review_comment == "misses the lower edge"
    _wait_across(
        reviewer,
        lambda s: s["review"]["current"] != rejected.pk and not s["review"]["busy"],
        "review to move on",
    )
    assert reviewer.errors == [] and reviewer.evaluate("window.__csp") == []

    # A second version, now that three frames are labelled (one held back: a metric).
    page.goto(f"{base}/projects/{project.pk}/")
    _ready(page)
    _follow_job(page, "#train-model")

    # The rejected frame is back in the queue as rework, the reviewer's comment shown.
    rework = QueueItem.objects.get(
        project=project, asset_id=rejected.asset_id, frame=rejected.frame, done=False
    )
    assert rework.reason == "rework"
    page.click("#label-next")
    queue = _wait_queue_item(page)
    for _ in range(4):  # the owner's own lease comes first: skip until the rework
        if queue["kind"] != "item" or queue["item"]["item"] == rework.pk:
            break
        page.click("#queue-skip")
        queue = _wait_queue_item(page, not_item=queue["item"]["item"])
    assert queue["kind"] == "item" and queue["item"]["reason"] == "rework", queue
    assert "misses the lower edge" in page.inner_text("#queue-rework")
    assert page.locator("#instances .review-badge.rejected").count() == 1
    _segment_disc(page, rejected.asset_id)
    page.click("#queue-save-next")
    _wait_db(lambda: QueueItem.objects.get(pk=rework.pk).done, "rework completed")
    last = _wait_queue_item(page, not_item=rework.pk)
    if last["kind"] == "empty":
        assert "queue is empty" in page.inner_text("#queue-info")
    page.goto(f"{base}/projects/{project.pk}/")
    _ready(page)
    _follow_job(page, "#train-model")

    # The dashboard: counts, label bars, queue, model and the efficiency plot.
    page.click("#dashboard-link")
    page.wait_for_url(re.compile(r"/dashboard/$"))
    _ready(page)
    tiles = page.inner_text("#tiles")
    total = Annotation.objects.filter(asset__project=project).count()
    assert re.search(rf"(?m)^{total}\s*\nannotations", tiles), tiles
    assert re.search(r"(?m)^4\s*\nassets", tiles), tiles
    assert "bird" in page.inner_text("#label-bars")
    assert page.locator("#efficiency svg").count() == 1
    with_metric = sum(
        1
        for m in ProjectModel.objects.filter(project=project)
        if (m.metrics or {}).get("miou") is not None
    )
    assert with_metric >= 1
    assert page.locator("#efficiency svg circle").count() == with_metric
    assert f"v{model.version}" in page.inner_text("#dash-model")
    page.screenshot(path=str(SHOTS / "dashboard.png"), full_page=True)
    assert page.errors == [] and page.evaluate("window.__csp") == []
    assert time.monotonic() - started < 300
    # The queue rankings the trainings started end here, not in a later test's time.
    from tests.conftest import wait_for_job

    for job_id in Job.objects.filter(project=project).values_list("pk", flat=True):
        assert wait_for_job(job_id, timeout=120).status in ("done", "cancelled")
