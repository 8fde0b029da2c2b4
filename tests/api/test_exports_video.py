"""Exports of a video through the API and a real worker: a 3-frame video (rows made here,
frame images in media storage), two tracks on frames 0..2, every format's archive read
back; a native round trip into another project's copy of the video; DAVIS's object
limit failing the job with its code."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image
from pycocotools.coco import COCO

from annotator.models import Annotation, Asset, Frame, Project
from annotator.services.annotations import create_annotation
from formats.rle import encode_mask
from tests.conftest import wait_for_job
from tests.workers.runtime.import_helpers import export_zip

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

H, W = 36, 48


#: The frame images this module stored (removed after each test).
_STORED: list[str] = []


@pytest.fixture(autouse=True)
def media_root() -> Iterator[Path]:
    """The worker process reads the configured media root: the test stores there too
    (instead of the per-test folder of ``tests/api/conftest.py``), and removes its
    frame images afterwards."""
    root = Path(settings.MEDIA_ROOT)
    yield root
    while _STORED:
        path = _STORED.pop()
        default_storage.delete(path)
        with contextlib.suppress(OSError):  # the folder, once empty
            (root / path).parent.rmdir()


def jpeg(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (H, W, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def make_video(project: Project, name: str = "walk.mp4", frames: int = 3) -> Asset:
    """A ready video asset as ingestion leaves it: the rows, and one stored JPEG a frame."""
    folder = f"assets/frames/test-{uuid.uuid4().hex[:12]}"
    asset = Asset.objects.create(
        project=project,
        kind="video",
        name=name,
        file=f"{folder}/{name}",
        checksum=uuid.uuid4().hex * 2,
        width=W,
        height=H,
        num_frames=frames,
        fps=25.0,
        status="ready",
    )
    for index in range(frames):
        path = default_storage.save(f"{folder}/{index:05d}.jpg", ContentFile(jpeg(index)))
        _STORED.append(path)
        Frame.objects.create(
            asset=asset, index=index, image=path, width=W, height=H, timestamp=index / 25
        )
    return asset


def disk(cx: int, cy: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def track_masks(frame: int) -> dict[int, np.ndarray]:
    """Track 4 moves right and appears first; track 9 joins on frame 1 and overlaps it."""
    masks = {4: disk(10 + 4 * frame, 15, 7)}
    if frame >= 1:
        masks[9] = disk(20 + 2 * frame, 18, 6)
    return masks


@pytest.fixture
def video(team: dict[str, Any]) -> Asset:
    asset = make_video(team["project"])
    for frame in range(3):
        for track, mask in track_masks(frame).items():
            create_annotation(
                asset=asset,
                frame=frame,
                label=team["label"],
                mask=encode_mask(mask),
                author=team["annotator"],
                source="manual" if frame == 0 else "propagated",
                score=None if frame == 0 else 0.8,
                track=track,
            )
    return asset


def folder_of(asset: Asset) -> str:
    return f"{asset.pk}_walk"


def test_coco_lists_each_frame_with_its_image_and_tracks(
    celery_worker: Any, team: dict[str, Any], video: Asset, client_for: Any, tmp_path: Path
) -> None:
    archive = export_zip(
        client_for(team["viewer"]), team["project"].pk, {"format": "coco", "include_images": True}
    )
    archive.extract("annotations.json", tmp_path)
    coco = COCO(str(tmp_path / "annotations.json"))
    images = sorted(coco.dataset["images"], key=lambda image: image["frame_index"])
    assert [(i["frame_index"], i["file_name"]) for i in images] == [
        (n, f"images/{folder_of(video)}/{n:05d}.jpg") for n in range(3)
    ]
    for image in images:
        assert (image["video_id"], image["video_name"]) == (video.pk, "walk.mp4")
        assert (image["width"], image["height"]) == (W, H)
        # The frame's own stored image, not the asset's display file.
        assert archive.read(image["file_name"]) == jpeg(image["frame_index"])
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]]))
        want = track_masks(image["frame_index"])
        assert sorted(a["track_id"] for a in anns) == sorted(want)
        for ann in anns:
            assert np.array_equal(coco.annToMask(ann).astype(bool), want[ann["track_id"]])
    assert coco.dataset["videos"][0]["num_frames"] == 3
    assert coco.dataset["videos"][0]["fps"] == 25.0


def test_davis_writes_one_indexed_png_per_frame(
    celery_worker: Any, team: dict[str, Any], video: Asset, client_for: Any
) -> None:
    archive = export_zip(
        client_for(team["owner"]), team["project"].pk, {"format": "davis", "include_images": True}
    )
    folder = folder_of(video)
    objects = json.loads(archive.read(f"objects/{folder}.json"))
    assert {k: (v["track"], v["label"]) for k, v in objects["objects"].items()} == {
        "1": (4, "bird"),
        "2": (9, "bird"),
    }
    for frame in range(3):
        png = Image.open(io.BytesIO(archive.read(f"Annotations/{folder}/{frame:05d}.png")))
        assert png.mode == "P" and png.size == (W, H)
        expected = np.zeros((H, W), np.uint8)
        for track, mask in sorted(track_masks(frame).items()):  # 4 (object 1), then 9 (2)
            expected[mask] = {4: 1, 9: 2}[track]
        assert np.array_equal(np.array(png), expected), frame
        assert archive.read(f"JPEGImages/{folder}/{frame:05d}.jpg") == jpeg(frame)
    assert archive.read("ImageSets/all.txt").decode().split() == [folder]


def test_masks_yolo_and_native_name_every_frame(
    celery_worker: Any, team: dict[str, Any], video: Asset, client_for: Any
) -> None:
    client = client_for(team["owner"])
    folder = folder_of(video)
    masks = export_zip(client, team["project"].pk, {"format": "masks"})
    for frame in range(3):
        mapping = json.loads(masks.read(f"masks/instances/{folder}/{frame:05d}.json"))
        assert sorted(i["track"] for i in mapping["instances"].values()) == sorted(
            track_masks(frame)
        )
    yolo = export_zip(client, team["project"].pk, {"format": "yolo-seg"})
    assert sorted(n for n in yolo.namelist() if n.startswith("labels/")) == [
        f"labels/{folder}/{frame:05d}.txt" for frame in range(3)
    ]
    native = export_zip(client, team["project"].pk, {"format": "native"})
    lines = [json.loads(line) for line in native.read("annotations.jsonl").splitlines()]
    assert sorted((r["frame_index"], r["track"]) for r in lines) == [
        (0, 4),
        (1, 4),
        (1, 9),
        (2, 4),
        (2, 9),
    ]


def _import(client: Any, project_id: int, archive: zipfile.ZipFile) -> Any:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as copy:
        for name in archive.namelist():
            copy.writestr(name, archive.read(name))
    buffer.seek(0)
    buffer.name = "native.zip"
    response = client.post(
        f"/api/projects/{project_id}/imports/", {"file": buffer}, format="multipart"
    )
    assert response.status_code == 202, response.content
    return wait_for_job(response.json()["job"])


def test_native_round_trip_keeps_frames_and_tracks(
    celery_worker: Any, team: dict[str, Any], video: Asset, client_for: Any
) -> None:
    client = client_for(team["owner"])
    archive = export_zip(client, team["project"].pk, {"format": "native"})
    target = client.post("/api/projects/", {"name": "Copy"}, format="json").json()
    copy = make_video(Project.objects.get(pk=target["id"]))
    job = _import(client, target["id"], archive)
    assert job.status == "done", job.error
    assert job.result["annotations"] == 5 and job.result["new_assets"] == 0
    stored = Annotation.objects.filter(asset=copy)
    assert sorted((a.frame, a.track, a.source) for a in stored) == [
        (0, 4, "manual"),
        (1, 4, "propagated"),
        (1, 9, "propagated"),
        (2, 4, "propagated"),
        (2, 9, "propagated"),
    ]
    for annotation in stored:
        assert annotation.mask == encode_mask(track_masks(annotation.frame)[annotation.track])
    assert Asset.objects.get(pk=copy.pk).next_track == 10

    # Imported again, the same objects arrive as new tracks: nothing merges with track 4.
    job = _import(client, target["id"], archive)
    assert job.status == "done", job.error
    tracks = sorted(set(Annotation.objects.filter(asset=copy).values_list("track", flat=True)))
    assert tracks == [4, 9, 10, 11]


def test_importing_frames_of_a_video_the_project_lacks_fails(
    celery_worker: Any, team: dict[str, Any], video: Asset, client_for: Any
) -> None:
    client = client_for(team["owner"])
    archive = export_zip(client, team["project"].pk, {"format": "native", "include_images": True})
    target = client.post("/api/projects/", {"name": "Empty"}, format="json").json()
    job = _import(client, target["id"], archive)
    assert job.status == "failed" and job.error.startswith("missing_video:"), job.error
    assert not Asset.objects.filter(project_id=target["id"]).exists()


def test_davis_fails_the_job_past_255_objects(
    celery_worker: Any, team: dict[str, Any], client_for: Any
) -> None:
    crowd = make_video(team["project"], "crowd.mp4", frames=2)
    for track in range(1, 257):
        mask = np.zeros((H, W), bool)
        mask.flat[track] = True
        create_annotation(
            asset=crowd,
            frame=track % 2,
            label=team["label"],
            mask=encode_mask(mask),
            author=team["owner"],
            track=track,
        )
    client = client_for(team["owner"])
    response = client.post(
        f"/api/projects/{team['project'].pk}/exports/", {"format": "davis"}, format="json"
    )
    assert response.status_code == 202, response.content
    job = wait_for_job(response.json()["job"])
    assert job.status == "failed"
    assert job.error.startswith("too_many_objects:") and "crowd.mp4" in job.error, job.error
    assert export_zip(client, team["project"].pk, {"format": "coco"}).read("annotations.json")
