"""Uploading videos and zips of images through the API: the header is checked at upload
(201 ``processing`` with the header's size, frame count and fps; a 400 with a code and
nothing stored otherwise), and the ``ingest`` job, run here in-process as a worker runs
it, stores every frame, serves it, and cleans up after a failure, a cancel or a delete."""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from annotator.models import Asset, Frame, Job
from annotator.services import jobs as job_service
from annotator.services.assets import frames_folder
from annotator.services.jobs import cancel_job, start_job
from tests.annotator import sample_images as images
from tests.annotator import sample_videos as videos
from tests.api.helpers import assert_error, stored_files
from workers.runtime import videos as ingest_module
from workers.runtime.videos import ingest_video

pytestmark = pytest.mark.django_db

needs_x264 = pytest.mark.skipif(
    not videos.has_encoder("libx264"), reason="this PyAV wheel has no H.264 encoder"
)


def uploaded(upload: Callable[..., Any], team: dict[str, Any], data: bytes, name: str) -> Asset:
    response = upload(team["annotator"], team["project"].pk, data, name=name)
    assert response.status_code == 201, response.content
    return Asset.objects.get(pk=response.json()["id"])


def run_ingest(asset: Asset) -> Job:
    """Run the asset's queued ingest job in this process, as a worker would."""
    job = Job.objects.get(asset=asset, kind="ingest", status="queued")
    ingest_video(job.pk)
    job.refresh_from_db()
    asset.refresh_from_db()
    return job


def frame_files(media_root: Path, asset_id: int) -> list[str]:
    folder = media_root / frames_folder(asset_id)
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def served_frame(client: Any, asset_id: int, index: int) -> tuple[str, np.ndarray]:
    response = client.get(f"/api/assets/{asset_id}/frames/{index}/image")
    assert response.status_code == 200, response.content[:300]
    data = b"".join(response.streaming_content)
    return response["Content-Type"], np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


# --- upload: the header ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("clip.mp4", videos.mp4),
        ("clip.mov", videos.mov),
        ("clip.mkv", videos.mkv),
        ("clip.avi", videos.avi),
        pytest.param(
            "clip.webm",
            videos.webm,
            marks=pytest.mark.skipif(not videos.has_encoder("libvpx"), reason="no VP8 encoder"),
        ),
    ],
)
def test_it_accepts_a_video_and_answers_at_once(
    name: str,
    make: Callable[..., bytes],
    team: dict[str, Any],
    upload: Any,
    client_for: Any,
    media_root: Path,
) -> None:
    data = make(frames=8)
    response = upload(team["annotator"], team["project"].pk, data, name=name)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "video" and body["status"] == "processing"
    assert (body["width"], body["height"], body["num_frames"]) == (64, 48, 8)
    assert body["fps"] == pytest.approx(25.0)
    assert (body["error"], body["error_code"]) == ("", "")
    asset = Asset.objects.get(pk=body["id"])
    assert (media_root / str(asset.file.name)).read_bytes() == data
    # One ingest job; no embedding of the whole video, no separate thumbnail job.
    assert list(Job.objects.filter(asset=asset).values_list("kind", "status")) == [
        ("ingest", "queued")
    ]
    assert not Frame.objects.filter(asset=asset).exists()
    # Nothing decoded yet: a frame says so.
    client = client_for(team["viewer"])
    assert_error(client.get(f"/api/assets/{asset.pk}/frames/0/image"), 404, "frame_not_ready")
    assert_error(client.get(f"/api/assets/{asset.pk}/frames/8/image"), 404, "frame_out_of_range")


def test_it_accepts_a_zip_of_images(team: dict[str, Any], upload: Any) -> None:
    response = upload(team["owner"], team["project"].pk, videos.frames_zip(6), name="seq.zip")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["status"], body["num_frames"]) == ("video", "processing", 6)
    assert (body["width"], body["height"], body["fps"]) == (64, 48, None)


def test_it_reports_a_rotated_video_upright(team: dict[str, Any], upload: Any) -> None:
    response = upload(team["owner"], team["project"].pk, videos.rotated_mp4(-90), name="p.mp4")
    assert response.status_code == 201, response.content
    assert (response.json()["width"], response.json()["height"]) == (48, 64)


# --- upload: refusals -------------------------------------------------------------------


@pytest.fixture
def nothing_stored(media_root: Path) -> Iterator[None]:
    before = (Asset.objects.count(), Job.objects.count(), stored_files(media_root))
    yield
    assert (Asset.objects.count(), Job.objects.count(), stored_files(media_root)) == before


def _zip(*members: tuple[str, bytes]) -> bytes:
    return videos.zip_of(members)


def _png(width: int = 64, height: int = 48) -> bytes:
    return videos.image_bytes(videos.frame_array(0, width, height))


@pytest.mark.usefixtures("nothing_stored")
class TestRefusedUploads:
    @pytest.mark.parametrize(
        ("make", "fields", "code"),
        [
            (videos.headless_mp4, {}, "invalid_video"),
            (lambda: b"plain text, not a video\n" * 20, {"kind": "video"}, "invalid_video"),
            (images.png, {"kind": "video"}, "invalid_video"),
            (lambda: _zip(("../evil.png", _png())), {}, "unsafe_zip_member"),
            (lambda: _zip(("/tmp/evil.png", _png())), {}, "unsafe_zip_member"),
            (videos.zip_with_symlink, {}, "unsafe_zip_member"),
            (lambda: _zip(("0.png", _png()), ("notes.txt", b"hi")), {}, "zip_member_not_image"),
            (lambda: _zip(("0.png", _png()), ("1.png", _png(32, 32))), {}, "mixed_frame_sizes"),
            (lambda: _zip(("__MACOSX/._0.png", b"x")), {}, "no_frames"),
        ],
        ids=[
            "headless-mp4",
            "text",
            "still-image",
            "traversal",
            "absolute",
            "symlink",
            "text-member",
            "mixed-sizes",
            "no-images",
        ],
    )
    def test_it_refuses_what_the_header_shows(
        self,
        make: Callable[[], bytes],
        fields: dict[str, str],
        code: str,
        team: dict[str, Any],
        upload: Any,
    ) -> None:
        response = upload(team["owner"], team["project"].pk, make(), name="upload.bin", **fields)
        assert_error(response, 400, code)

    def test_it_refuses_more_frames_than_the_limit(
        self, team: dict[str, Any], upload: Any, settings: Any
    ) -> None:
        settings.VIDEO_MAX_FRAMES = 7
        response = upload(team["owner"], team["project"].pk, videos.mp4(frames=8), name="a.mp4")
        assert_error(response, 400, "too_many_frames")
        response = upload(team["owner"], team["project"].pk, videos.frames_zip(8), name="a.zip")
        assert_error(response, 400, "too_many_frames")

    def test_it_refuses_frames_over_the_pixel_limit(
        self, team: dict[str, Any], upload: Any, settings: Any
    ) -> None:
        settings.VIDEO_MAX_PIXELS = 64 * 48 - 1
        response = upload(team["owner"], team["project"].pk, videos.mp4(frames=2), name="a.mp4")
        assert_error(response, 400, "video_too_large")

    def test_it_refuses_a_zip_bomb_and_too_many_entries(
        self, team: dict[str, Any], upload: Any, settings: Any
    ) -> None:
        settings.VIDEO_ZIP_MAX_MB = 10
        bomb = _zip(("0.png", bytes(50 << 20)))
        response = upload(team["owner"], team["project"].pk, bomb, name="bomb.zip")
        assert_error(response, 400, "zip_too_large")
        settings.VIDEO_ZIP_MAX_MEMBERS = 3
        response = upload(team["owner"], team["project"].pk, videos.frames_zip(4), name="a.zip")
        assert_error(response, 400, "zip_too_many_members")


# --- the ingest job ---------------------------------------------------------------------


def test_it_ingests_a_video_and_serves_every_frame(
    team: dict[str, Any], upload: Any, client_for: Any, media_root: Path
) -> None:
    asset = uploaded(upload, team, videos.mp4(frames=12), "clip.mp4")
    job = run_ingest(asset)
    assert job.status == "done", job.error
    assert job.result is not None and job.result["frames"] == 12
    assert (asset.status, asset.num_frames, asset.width, asset.height) == ("ready", 12, 64, 48)
    assert asset.fps == pytest.approx(25.0)
    assert asset.metadata["codec"] == "mpeg4" and asset.metadata["rotation"] == 0
    frames = list(Frame.objects.filter(asset=asset).order_by("index"))
    assert [f.index for f in frames] == list(range(12))
    assert [f.timestamp for f in frames] == pytest.approx([i / 25 for i in range(12)])
    assert {(f.width, f.height) for f in frames} == {(64, 48)}
    assert frame_files(media_root, asset.pk) == [f"{i:06d}.jpg" for i in range(12)]

    client = client_for(team["viewer"])
    for index in (0, 5, 11):
        content_type, pixels = served_frame(client, asset.pk, index)
        assert content_type == "image/jpeg"
        assert pixels.shape == (48, 64, 3)
        assert videos.bar_length(pixels) == index
    assert_error(client.get(f"/api/assets/{asset.pk}/frames/12/image"), 404, "frame_out_of_range")
    body = client.get(f"/api/assets/{asset.pk}/").json()
    assert body["status"] == "ready" and body["num_frames"] == 12
    assert body["thumbnail"] == f"/api/assets/{asset.pk}/thumbnail"
    assert client.get(body["thumbnail"]).status_code == 200


def test_it_stores_a_rotated_video_upright(
    team: dict[str, Any], upload: Any, client_for: Any
) -> None:
    asset = uploaded(upload, team, videos.rotated_mp4(-90), "phone.mp4")
    assert run_ingest(asset).status == "done"
    assert (asset.width, asset.height, asset.metadata["rotation"]) == (48, 64, 270)
    _, pixels = served_frame(client_for(team["owner"]), asset.pk, 0)
    upright = np.rot90(videos.frame_array(0), k=-1)
    assert pixels.shape == upright.shape
    assert videos.corner_colors(pixels) == videos.corner_colors(upright)


def test_it_ingests_a_zip_in_file_name_order(
    team: dict[str, Any], upload: Any, client_for: Any, media_root: Path
) -> None:
    data = videos.frames_zip(11, pattern="shot/frame{index}.png")
    asset = uploaded(upload, team, data, "shot.zip")
    assert run_ingest(asset).status == "done"
    assert (asset.status, asset.num_frames, asset.fps) == ("ready", 11, None)
    client = client_for(team["viewer"])
    for index in (0, 2, 10):
        content_type, pixels = served_frame(client, asset.pk, index)
        assert content_type == "image/png"  # PNG frames are stored as uploaded
        assert videos.bar_length(pixels) == index
    assert frame_files(media_root, asset.pk)[-1] == "000010.png"


def test_a_truncated_video_keeps_what_decodes(team: dict[str, Any], upload: Any) -> None:
    asset = uploaded(upload, team, videos.truncated_mp4(frames=20, keep=0.5), "cut.mp4")
    assert asset.num_frames == 20  # the header's count
    assert run_ingest(asset).status == "done"
    assert 1 <= asset.num_frames < 20
    assert Frame.objects.filter(asset=asset).count() == asset.num_frames
    assert "decode_stopped" in asset.metadata


@needs_x264
def test_a_video_without_a_decodable_frame_fails_and_leaves_nothing(
    team: dict[str, Any], upload: Any, client_for: Any, media_root: Path
) -> None:
    asset = uploaded(upload, team, videos.corrupt_mp4(), "noise.mp4")
    before = stored_files(media_root)
    job = run_ingest(asset)
    assert job.status == "failed" and job.error.startswith("corrupt_video: ")
    assert (asset.status, asset.error_code, asset.num_frames) == ("failed", "corrupt_video", 0)
    assert asset.error
    assert stored_files(media_root) == before  # the original only
    assert not Frame.objects.filter(asset=asset).exists()
    body = client_for(team["owner"]).get(f"/api/assets/{asset.pk}/").json()
    assert (body["status"], body["error_code"]) == ("failed", "corrupt_video")
    response = client_for(team["owner"]).get(f"/api/assets/{asset.pk}/frames/0/image")
    assert_error(response, 404, "asset_failed")


def test_a_sequence_that_breaks_midway_removes_the_frames_it_wrote(
    team: dict[str, Any], upload: Any, media_root: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(ingest_module, "BATCH_SIZE", 2)
    members = [(f"{i}.png", images.png(96, 64, seed=i)) for i in range(5)]
    members.append(("5.png", images.png(96, 64, seed=5)[:-3000]))  # the pixels cut short
    asset = uploaded(upload, team, videos.zip_of(members), "broken.zip")
    written: list[str] = []
    real_put = ingest_module._put

    def spy(storage: Any, name: str, data: bytes) -> str:
        written.append(name)
        return real_put(storage, name, data)

    monkeypatch.setattr(ingest_module, "_put", spy)
    job = run_ingest(asset)
    assert sum(name.startswith(frames_folder(asset.pk)) for name in written) == 5
    assert (job.status, asset.status, asset.error_code) == ("failed", "failed", "corrupt_frame")
    assert frame_files(media_root, asset.pk) == []
    assert not Frame.objects.filter(asset=asset).exists()
    assert stored_files(media_root) == {asset.file.name}


def test_too_many_decoded_frames_fail_the_asset(
    team: dict[str, Any], upload: Any, settings: Any, media_root: Path
) -> None:
    asset = uploaded(upload, team, videos.mp4(frames=12), "long.mp4")
    settings.VIDEO_MAX_FRAMES = 5  # lowered after the upload: the decoder finds out
    job = run_ingest(asset)
    assert (job.status, asset.error_code) == ("failed", "too_many_frames")
    assert stored_files(media_root) == {asset.file.name}


def test_running_it_again_replaces_the_frames(
    team: dict[str, Any], upload: Any, media_root: Path
) -> None:
    asset = uploaded(upload, team, videos.mp4(frames=6), "clip.mp4")
    assert run_ingest(asset).status == "done"
    first = stored_files(media_root)
    # A rerun (a lost worker's job sent again) starts over: same files, same rows.
    start_job(project=asset.project, kind="ingest", asset=asset)
    assert run_ingest(asset).status == "done"
    assert stored_files(media_root) == first
    assert list(Frame.objects.filter(asset=asset).values_list("index", flat=True)) == list(range(6))


def test_a_cancelled_ingest_removes_its_frames(
    team: dict[str, Any], upload: Any, media_root: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr(ingest_module, "BATCH_SIZE", 2)
    revoked: list[str] = []
    monkeypatch.setattr(
        job_service.app.control, "revoke", lambda task_id, **_: revoked.append(task_id)
    )
    asset = uploaded(upload, team, videos.mp4(frames=12), "clip.mp4")
    job = Job.objects.get(asset=asset, kind="ingest")
    real_put = ingest_module._put

    def cancel_midway(storage: Any, name: str, data: bytes) -> str:
        if name.endswith("000003.jpg"):
            cancel_job(Job.objects.get(pk=job.pk))
        return real_put(storage, name, data)

    monkeypatch.setattr(ingest_module, "_put", cancel_midway)
    ingest_video(job.pk)
    job.refresh_from_db()
    asset.refresh_from_db()
    assert (job.status, asset.status, asset.error_code) == ("cancelled", "failed", "cancelled")
    assert revoked == [job.celery_id]
    assert stored_files(media_root) == {asset.file.name}


def test_deleting_the_asset_while_it_ingests_leaves_no_file(
    team: dict[str, Any],
    upload: Any,
    client_for: Any,
    media_root: Path,
    monkeypatch: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    monkeypatch.setattr(ingest_module, "BATCH_SIZE", 2)
    asset = uploaded(upload, team, videos.mp4(frames=12), "clip.mp4")
    job = Job.objects.get(asset=asset, kind="ingest")
    real_put = ingest_module._put
    client = client_for(team["owner"])

    def delete_midway(storage: Any, name: str, data: bytes) -> str:
        if name.endswith("000005.jpg"):
            with django_capture_on_commit_callbacks(execute=True):
                assert client.delete(f"/api/assets/{asset.pk}/").status_code == 204
        return real_put(storage, name, data)

    monkeypatch.setattr(ingest_module, "_put", delete_midway)
    ingest_video(job.pk)
    assert not Asset.objects.filter(pk=asset.pk).exists()
    assert stored_files(media_root) == set()


def test_deleting_a_ready_video_removes_its_frames(
    team: dict[str, Any],
    upload: Any,
    client_for: Any,
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    asset = uploaded(upload, team, videos.mp4(frames=5), "clip.mp4")
    assert run_ingest(asset).status == "done"
    assert len(frame_files(media_root, asset.pk)) == 5
    with django_capture_on_commit_callbacks(execute=True):
        assert client_for(team["owner"]).delete(f"/api/assets/{asset.pk}/").status_code == 204
    assert stored_files(media_root) == set()
    assert not (media_root / frames_folder(asset.pk)).exists()


def test_a_frame_is_served_in_well_under_50_ms(
    team: dict[str, Any], upload: Any, client_for: Any
) -> None:
    asset = uploaded(upload, team, videos.mp4(frames=30, width=854, height=480), "hd.mp4")
    assert run_ingest(asset).status == "done"
    client = client_for(team["viewer"])
    timings = []
    for index in range(30):
        start = time.perf_counter()
        response = client.get(f"/api/assets/{asset.pk}/frames/{index}/image")
        data = b"".join(response.streaming_content)
        timings.append(time.perf_counter() - start)
        assert response.status_code == 200 and data.startswith(b"\xff\xd8")
    assert statistics.median(timings) < 0.05, timings


def test_decoded_frames_are_served_while_the_rest_decode(
    team: dict[str, Any], upload: Any, client_for: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(ingest_module, "BATCH_SIZE", 2)
    asset = uploaded(upload, team, videos.mp4(frames=12), "clip.mp4")
    client = client_for(team["viewer"])
    seen: dict[int, Any] = {}
    real_put = ingest_module._put

    def look_midway(storage: Any, name: str, data: bytes) -> str:
        if name.endswith("000006.jpg"):  # frames 0-5 have rows by now
            assert Asset.objects.get(pk=asset.pk).status == "processing"
            seen[0] = served_frame(client, asset.pk, 0)[1]
            seen[11] = client.get(f"/api/assets/{asset.pk}/frames/11/image")
            seen[12] = client.get(f"/api/assets/{asset.pk}/frames/12/image")
        return real_put(storage, name, data)

    monkeypatch.setattr(ingest_module, "_put", look_midway)
    assert run_ingest(asset).status == "done"
    assert videos.bar_length(seen[0]) == 0
    assert_error(seen[11], 404, "frame_not_ready")
    assert_error(seen[12], 404, "frame_out_of_range")


def test_an_upload_spooled_to_disk_is_probed_and_stored_whole(
    team: dict[str, Any], upload: Any, settings: Any, media_root: Path
) -> None:
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024  # the upload goes to a temporary file
    data = videos.mp4(frames=20)
    assert len(data) > 1024
    asset = uploaded(upload, team, data, "big.mp4")
    assert asset.num_frames == 20
    assert (media_root / str(asset.file.name)).read_bytes() == data
    assert run_ingest(asset).status == "done" and asset.num_frames == 20


def test_deleting_the_project_removes_its_videos_frames(
    team: dict[str, Any],
    upload: Any,
    client_for: Any,
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    clip = uploaded(upload, team, videos.mp4(frames=4), "clip.mp4")
    shot = uploaded(upload, team, videos.frames_zip(3), "shot.zip")
    assert run_ingest(clip).status == run_ingest(shot).status == "done"
    assert len(frame_files(media_root, clip.pk)) == 4 and len(frame_files(media_root, shot.pk)) == 3
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(team["owner"]).delete(f"/api/projects/{team['project'].pk}/")
        assert response.status_code == 204
    assert stored_files(media_root) == set()
