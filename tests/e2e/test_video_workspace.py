"""The video workspace end to end in real Chromium, with the live server and a real
Celery worker: upload a short mp4 (made here with PyAV: a disc moving over a textured
background), watch it process, open it, segment the disc on frame 0, propagate it forward
with the progress bar, scrub, play, jump to a flagged frame, correct it (a keyframe now),
propagate again from there, and export the project."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from tests.e2e.test_csp import WATCH_VIOLATIONS
from tests.e2e.test_workspace import (
    TIMEOUT_MS,
    _click_image,
    _login,
    _overlay_pixels,
    _shot,
    _state,
    _wait_state,
)

pytestmark = [pytest.mark.e2e, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT, FRAMES, FPS, RADIUS = 160, 120, 12, 12, 16


def disc_center(frame: int) -> tuple[float, float]:
    """Where the disc is on ``frame``: left to right, a little downwards."""
    return 36.0 + 5.0 * frame, 54.0 + 1.0 * frame


def _texture() -> np.ndarray:
    """A still, smooth, non-repeating background (random noise, upsampled)."""
    rng = np.random.default_rng(3)
    small = (rng.random((12, 16)) * 100 + 70).astype(np.uint8)
    grey = np.asarray(
        Image.fromarray(small).resize((WIDTH, HEIGHT), Image.Resampling.BICUBIC), np.float32
    )
    return np.stack([grey * 0.8, grey, grey * 0.9], axis=-1)  # a grey-green, far from red


def video_frame(frame: int) -> np.ndarray:
    """``(HEIGHT, WIDTH, 3)`` uint8: the background and a saturated red disc."""
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    image = _texture()
    cx, cy = disc_center(frame)
    image[(x - cx) ** 2 + (y - cy) ** 2 <= RADIUS**2] = (235, 40, 30)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_video(path: Path) -> None:
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.bit_rate = 2_000_000
        for index in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(video_frame(index), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _video_state(page: Any) -> dict[str, Any]:
    return _state(page)["video"]


def _wait_frame(page: Any, frame: int) -> dict[str, Any]:
    """Frame ``frame`` on screen with its annotations loaded."""
    return _wait_state(
        page, lambda s: s["frame"] == frame and s["video"]["loaded"], f"frame {frame}"
    )


def _scrub_to(page: Any, frame: int) -> None:
    """A click on the timeline strip where ``frame`` is."""
    box = page.locator("#tl-canvas").bounding_box()
    x = page.evaluate(f"window.__app.video.view.xOf({frame})")
    page.mouse.click(box["x"] + x, box["y"] + box["height"] / 2)


def _propagate(page: Any, direction: str) -> tuple[list[float], dict[str, Any]]:
    """Starts propagation with the P key; returns the progress values seen and the end state."""
    page.select_option("#tl-direction", direction)
    before = (_video_state(page)["job"] or {}).get("id")
    page.keyboard.press("p")
    page.locator("#tl-progress").wait_for(state="visible")
    seen: list[float] = []
    deadline = time.monotonic() + 90
    while True:
        video = _video_state(page)
        seen.append(float(page.eval_on_selector("#tl-progress", "bar => bar.value")))
        job = video["job"]
        if job is not None and job["id"] != before and not video["propagating"]:
            return seen, video
        if time.monotonic() > deadline:
            pytest.fail(f"propagation did not finish: {video}; {page.inner_text('#tl-job')!r}")
        page.wait_for_timeout(100)


def _center_x(mask: np.ndarray) -> float:
    return float(np.nonzero(mask)[1].mean())


def _decode(rle: Any) -> np.ndarray:
    from formats.rle import decode_mask

    return decode_mask(rle).astype(bool)


def test_video_in_the_browser(
    browser: Any,
    live_server: Any,
    celery_worker: Any,
    team: dict[str, Any],
    client_for: Any,
) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    from annotator.models import Annotation, Asset, Job

    started = time.monotonic()
    project = team["project"]
    base = live_server.url
    page = _login(browser, base, "owner")
    page.context.add_init_script(WATCH_VIOLATIONS)  # the timeline under the CSP too

    # Upload the video on the project page: a card that processes, then shows the frames.
    video = ROOT / "var" / "test" / "e2e-disc.mp4"
    video.parent.mkdir(parents=True, exist_ok=True)
    write_video(video)
    page.goto(f"{base}/projects/{project.pk}/")
    page.wait_for_selector("body[data-ready=true]")
    page.set_input_files("#file-input", str(video))
    page.wait_for_selector(".upload.done")
    card = page.locator(".asset-card").first
    card.locator(".badge", has_text=f"{FRAMES} frames").wait_for(timeout=60_000)
    asset = Asset.objects.get(project=project)
    assert asset.kind == "video" and asset.num_frames == FRAMES and asset.status == "ready"
    assert Job.objects.filter(asset=asset, kind="ingest", status="done").exists()
    _shot(page, "video-project")

    # Open it: the timeline is there, frame 0 on screen.
    card.click()
    page.wait_for_selector("body[data-ready=true]")
    page.locator("#timeline").wait_for(state="visible")
    page.select_option("#engine", "classical")
    state = _state(page)
    assert state["frame"] == 0 and state["video"]["count"] == FRAMES
    assert "frame 0 / 11" in page.inner_text("#tl-frame")
    # The next frames are decoded ahead, before anyone asks for them.
    _wait_state(page, lambda s: s["video"]["cachedFrames"] >= 9, "frames loaded ahead")
    page.keyboard.press("?")
    assert "Play / pause" in page.inner_text("#help")  # the video's keys are listed
    page.keyboard.press("Escape")

    # Segment the disc on frame 0 and save it: a new track.
    cx, cy = disc_center(0)
    _click_image(page, cx, cy)
    drafted = _wait_state(page, lambda s: s["draft"]["area"] > 0 and s["predict"] == "done", "mask")
    assert 0.6 * np.pi * RADIUS**2 < drafted["draft"]["area"] < 1.4 * np.pi * RADIUS**2, drafted
    page.keyboard.press("Enter")
    saved = _wait_state(page, lambda s: len(s["annotations"]) == 1 and s["save"] == "saved", "save")
    seed = Annotation.objects.get(asset=asset)
    assert seed.frame == 0 and saved["selected"] == seed.pk  # kept selected for propagation
    assert saved["video"]["activeTrack"] == seed.track

    # Propagate forward: the progress bar runs to the end, every frame gets the track.
    progress, after = _propagate(page, "forward")
    assert after["job"]["status"] == "done", page.inner_text("#tl-job")
    assert progress[-1] == 1.0, progress
    assert re.search(r"\d+ frames propagated", page.inner_text("#tl-job"))
    propagated = Annotation.objects.filter(asset=asset, track=seed.track, source="propagated")
    assert sorted(propagated.values_list("frame", flat=True)) == list(range(1, FRAMES))
    assert after["tracks"] == [{"track": seed.track, "frames": FRAMES}]
    _shot(page, "video-propagated")

    # Scrub to frame 8 on the timeline: its propagated mask is on screen, on the disc.
    _scrub_to(page, 8)
    on_eight = _wait_frame(page, 8)
    in_db = list(Annotation.objects.filter(asset=asset, frame=8).values("id", "source", "track"))
    assert [a["source"] for a in on_eight["annotations"]] == ["propagated"], (on_eight, in_db)
    assert on_eight["selected"] == on_eight["annotations"][0]["id"]  # the object stays selected
    page.wait_for_timeout(100)
    assert _overlay_pixels(page) > 200
    eight = Annotation.objects.get(asset=asset, track=seed.track, frame=8)
    # It followed the disc to the right. (How well is bench/propagation.py's business; the
    # test worker's SAM is a tiny random-weight model, which "auto" propagation uses.)
    assert _center_x(_decode(eight.mask)) > _center_x(_decode(seed.mask)) + 10

    # Esc lets go of the object (a new mask would be a new track); a click on the
    # track's name in the timeline picks it again.
    page.keyboard.press("Escape")
    assert _state(page)["selected"] is None and _video_state(page)["activeTrack"] is None
    box = page.locator("#tl-canvas").bounding_box()
    y = page.evaluate(f"window.__app.video.view.yOfTrack({seed.track})")
    page.mouse.click(box["x"] + 20, box["y"] + y)
    _wait_state(page, lambda s: s["selected"] == eight.pk, "track picked in the timeline")

    # Frame keys and playback: to the end at the video's rate, then it stops.
    page.keyboard.press("ArrowLeft")
    _wait_frame(page, 7)
    page.keyboard.press("Home")
    _wait_frame(page, 0)
    page.keyboard.press("k")
    _wait_state(page, lambda s: s["video"]["playing"], "playing")
    played = _wait_state(
        page, lambda s: not s["video"]["playing"] and s["frame"] == FRAMES - 1, "end of play"
    )
    assert played["video"]["played"]["shown"] >= 1

    # A flagged frame: one the job flagged, or one flagged here through the API.
    flagged = sorted(
        Annotation.objects.filter(
            asset=asset, source="propagated", review_status="needs_review"
        ).values_list("frame", flat=True)
    )
    if not flagged:
        target = Annotation.objects.get(asset=asset, track=seed.track, frame=5)
        response = client_for(team["owner"]).patch(
            f"/api/annotations/{target.pk}/",
            {"review_status": "needs_review", "version": target.version},
            format="json",
        )
        assert response.status_code == 200, response.content
        flagged = [5]
        page.reload()  # the page opens on the frame in its address (#frame=11)
        page.wait_for_selector("body[data-ready=true]")
        page.select_option("#engine", "classical")
        _wait_frame(page, FRAMES - 1)
    assert _video_state(page)["flagged"] == flagged
    page.click("#tl-flag")  # the "next flagged" button (J does the same)
    fix_frame = flagged[0]
    on_flag = _wait_frame(page, fix_frame)
    flagged_one = Annotation.objects.get(asset=asset, track=seed.track, frame=fix_frame)
    fixed_version = flagged_one.version + 1  # the correction's PUT
    assert on_flag["selected"] == flagged_one.pk, (on_flag, flagged)
    assert page.locator("#instances .instance.flagged").count() == 1

    # Correct it with a click on the disc: saved as a manual keyframe (PUT with version).
    fx, fy = disc_center(fix_frame)
    _click_image(page, fx, fy)
    _wait_state(
        page,
        lambda s: s["draft"]["target"] == flagged_one.pk and s["predict"] == "done",
        "correction",
    )
    page.keyboard.press("Enter")
    _wait_state(
        page, lambda s: s["save"] == "saved" and s["annotations"][0]["source"] == "manual", "fix"
    )
    flagged_one.refresh_from_db()
    assert flagged_one.source == "manual" and flagged_one.version == fixed_version
    _wait_state(page, lambda s: fix_frame not in s["video"]["flagged"], "flag answered")

    # Propagate again from the corrected frame: later frames are redone, the two
    # keyframes are left alone.
    seed_version = Annotation.objects.get(pk=seed.pk).version
    before = {
        a.frame: a.updated
        for a in Annotation.objects.filter(asset=asset, track=seed.track, frame__gt=fix_frame)
    }
    _, again = _propagate(page, "forward")
    assert again["job"]["status"] == "done", page.inner_text("#tl-job")
    later = Annotation.objects.filter(asset=asset, track=seed.track, frame__gt=fix_frame)
    assert sorted(a.frame for a in later) == list(range(fix_frame + 1, FRAMES))
    assert all(a.updated != before.get(a.frame) for a in later)  # rewritten
    flagged_one.refresh_from_db()
    assert flagged_one.source == "manual" and flagged_one.version == fixed_version
    assert Annotation.objects.get(pk=seed.pk).version == seed_version
    assert Annotation.objects.filter(asset=asset).count() == FRAMES
    _shot(page, "video-corrected")
    assert page.evaluate("window.__csp") == []

    # Export the project as COCO: one image per frame, the track on every annotation.
    page.goto(f"{base}/projects/{project.pk}/")
    page.wait_for_selector("body[data-ready=true]")
    page.select_option("#new-export select[name=format]", "coco")
    page.click("#new-export button[type=submit]")
    link = page.locator("#exports a", has_text="coco.zip").first
    try:
        link.wait_for(timeout=TIMEOUT_MS * 2)
    except PlaywrightTimeout:
        jobs = list(Job.objects.filter(kind="export").values("id", "status", "error"))
        raise AssertionError(f"no download link; export jobs: {jobs}") from None
    with page.expect_download() as download_info:
        link.click()
    with zipfile.ZipFile(download_info.value.path()) as archive:
        coco = json.loads(archive.read("annotations.json"))
    assert len(coco["annotations"]) == FRAMES
    assert len(coco["images"]) == FRAMES
    assert {a["track_id"] for a in coco["annotations"]} == {seed.track}
    assert page.errors == []
    assert time.monotonic() - started < 240


def test_a_video_that_cannot_be_decoded_says_why(
    browser: Any, live_server: Any, celery_worker: Any, team: dict[str, Any]
) -> None:
    """A zip of frames whose last image is cut short: accepted at upload (the header is
    fine), then the card ends "failed" with the reason, and the workspace says it too."""
    from annotator.models import Asset

    project = team["project"]
    base = live_server.url
    archive = ROOT / "var" / "test" / "e2e-broken-frames.zip"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as out:
        for index in range(6):
            buffer = io.BytesIO()
            Image.fromarray(video_frame(index)).save(buffer, format="PNG")
            data = buffer.getvalue()
            out.writestr(f"{index:03d}.png", data if index < 5 else data[: len(data) // 3])
    page = _login(browser, base, "annotator")
    page.goto(f"{base}/projects/{project.pk}/")
    page.wait_for_selector("body[data-ready=true]")
    page.set_input_files("#file-input", str(archive))
    page.wait_for_selector(".upload.done")
    card = page.locator(".asset-card").first
    card.locator(".badge", has_text="failed").wait_for(timeout=60_000)
    asset = Asset.objects.get(project=project)
    assert asset.status == "failed" and asset.error
    assert card.locator(".error-text").inner_text() == asset.error
    card.click()
    page.wait_for_selector("#stage-message.error")
    assert asset.error in page.inner_text("#stage-message")
    assert page.errors == []
