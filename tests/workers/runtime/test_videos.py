"""Video ingestion through a real Celery worker: upload a short video and a zip of
frames, wait for ``ready``, fetch the first and last frame; a damaged upload ends
``failed`` with a code and leaves no frame file behind."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from annotator.models import Asset, Frame, Job, JobStatus
from annotator.services.assets import frames_folder
from tests.annotator import sample_images as images
from tests.annotator import sample_videos as videos
from tests.conftest import wait_for_job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def upload(client: Any, project_id: int, data: bytes, name: str) -> int:
    file = SimpleUploadedFile(name, data, "application/octet-stream")
    response = client.post(
        f"/api/projects/{project_id}/assets/", {"file": file}, format="multipart"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["status"]) == ("video", "processing")
    return int(body["id"])


def ingested(asset_id: int) -> tuple[Job, dict[str, Any]]:
    job = wait_for_job(Job.objects.get(asset_id=asset_id, kind="ingest").pk, timeout=120)
    return job, dict(Asset.objects.values().get(pk=asset_id))


def frame_pixels(client: Any, asset_id: int, index: int) -> np.ndarray:
    response = client.get(f"/api/assets/{asset_id}/frames/{index}/image")
    assert response.status_code == 200, response.content[:300]
    data = b"".join(response.streaming_content)
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def frame_folder(asset_id: int) -> Path:
    return Path(settings.MEDIA_ROOT) / frames_folder(asset_id)


def delete(client: Any, asset_id: int) -> None:
    assert client.delete(f"/api/assets/{asset_id}/").status_code == 204
    assert not frame_folder(asset_id).exists()


@pytest.mark.parametrize(
    ("name", "data", "count", "size"),
    [
        ("clip.mp4", videos.mp4(frames=40, width=320, height=240), 40, (320, 240)),
        ("frames.zip", videos.frames_zip(15, fmt="JPEG", width=96, height=64), 15, (96, 64)),
    ],
    ids=["mp4", "zip"],
)
def test_a_worker_ingests_a_video_and_every_frame_is_served(
    celery_worker: Any,
    team: dict[str, Any],
    client_for: Any,
    name: str,
    data: bytes,
    count: int,
    size: tuple[int, int],
) -> None:
    client = client_for(team["annotator"])
    asset_id = upload(client, team["project"].pk, data, name)
    job, asset = ingested(asset_id)
    assert job.status == JobStatus.DONE, job.error
    assert job.result is not None and (job.progress, job.result["frames"]) == (1.0, count)
    assert (asset["status"], asset["num_frames"]) == ("ready", count)
    assert (asset["width"], asset["height"]) == size
    assert Frame.objects.filter(asset_id=asset_id).count() == count
    viewer = client_for(team["viewer"])
    for index in (0, count - 1):
        pixels = frame_pixels(viewer, asset_id, index)
        assert pixels.shape == (size[1], size[0], 3)
        assert videos.bar_length(pixels) == min(index, size[0] // 4)
    assert viewer.get(f"/api/assets/{asset_id}/thumbnail").status_code == 200
    delete(client, asset_id)


@pytest.mark.parametrize(
    ("name", "make", "code"),
    [
        pytest.param(
            "noise.mp4",
            videos.corrupt_mp4,
            "corrupt_video",
            marks=pytest.mark.skipif(not videos.has_encoder("libx264"), reason="no H.264"),
        ),
        (
            "broken.zip",
            lambda: videos.zip_of(
                [(f"{i}.png", images.png(96, 64, seed=i)) for i in range(30)]
                + [("30.png", images.png(96, 64, seed=30)[:-3000])]
            ),
            "corrupt_frame",
        ),
    ],
    ids=["mp4", "zip"],
)
def test_a_damaged_upload_ends_failed_and_leaves_no_frame(
    celery_worker: Any,
    team: dict[str, Any],
    client_for: Any,
    name: str,
    make: Any,
    code: str,
) -> None:
    client = client_for(team["annotator"])
    asset_id = upload(client, team["project"].pk, make(), name)
    job, asset = ingested(asset_id)
    assert job.status == JobStatus.FAILED and job.error.startswith(f"{code}: ")
    assert (asset["status"], asset["error_code"], asset["num_frames"]) == ("failed", code, 0)
    body = client.get(f"/api/assets/{asset_id}/").json()
    assert (body["status"], body["error_code"]) == ("failed", code) and body["error"]
    assert not frame_folder(asset_id).exists() or not any(frame_folder(asset_id).iterdir())
    assert not Frame.objects.filter(asset_id=asset_id).exists()
    delete(client, asset_id)
