"""Exports and imports through the API, a real worker and real readers."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from annotator.models import Annotation, Asset, Export, Job, JobStatus
from formats.rle import encode_mask
from tests.conftest import png_bytes, wait_for_job
from tests.workers.runtime.import_helpers import (
    export_zip,
    files_of_content,
    media,
    post_import,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1


@pytest.fixture
def annotated(team: dict[str, Any], upload_image: Any, client_for: Any) -> dict[str, Any]:
    """Two images with three overlapping masks, one with an interaction, one accepted."""
    client = client_for(team["owner"])
    project = team["project"]
    second = client.post(
        f"/api/projects/{project.pk}/labels/", {"name": "cat"}, format="json"
    ).json()
    assets = [
        upload_image(team["owner"], project.pk, png_bytes(80, 60, seed=1), "a.png").json(),
        upload_image(team["owner"], project.pk, png_bytes(70, 50, seed=2), "b.png").json(),
    ]
    masks = {
        "m1": (assets[0], team["label"].pk, _ellipse(60, 80, 30, 30, 15, 20)),
        "m2": (assets[0], second["id"], _ellipse(60, 80, 35, 45, 20, 25)),
        "m3": (assets[1], team["label"].pk, _ellipse(50, 70, 0, 0, 20, 30)),  # touches the border
    }
    created = {}
    for key, (asset, label, mask) in masks.items():
        body: dict[str, Any] = {"label": label, "mask": encode_mask(mask), "source": "interactive"}
        if key == "m1":
            body["interaction"] = {
                "prompts": {
                    "clicks": [{"x": 30, "y": 30, "positive": True, "t": 1.5}],
                    "box": None,
                    "scribbles": [],
                },
                "engine": "classical",
                "elapsed_ms": 12.0,
            }
        response = client.post(f"/api/assets/{asset['id']}/annotations/", body, format="json")
        assert response.status_code == 201, response.content
        created[key] = response.json()
    reviewer = client_for(team["reviewer"])
    assert (
        reviewer.patch(
            f"/api/annotations/{created['m3']['id']}/", {"review_status": "accepted"}, format="json"
        ).status_code
        == 200
    )
    return {"assets": assets, "masks": masks, "annotations": created, "cat": second}


def test_coco_export_reads_back_pixel_for_pixel_with_pycocotools(
    celery_worker: Any,
    team: dict[str, Any],
    annotated: dict[str, Any],
    client_for: Any,
    tmp_path: Path,
) -> None:
    archive = export_zip(client_for(team["viewer"]), team["project"].pk, {"format": "coco"})
    archive.extract("annotations.json", tmp_path)
    coco = COCO(str(tmp_path / "annotations.json"))
    assert len(coco.getImgIds()) == 2 and len(coco.getAnnIds()) == 3
    for key, (asset, label, mask) in annotated["masks"].items():
        ann = coco.loadAnns([annotated["annotations"][key]["id"]])[0]
        assert ann["category_id"] == label
        assert np.array_equal(coco.annToMask(ann).astype(bool), mask)
        assert coco.loadImgs([ann["image_id"]])[0]["width"] == asset["width"]


def test_each_format_exports_and_filters_apply(
    celery_worker: Any, team: dict[str, Any], annotated: dict[str, Any], client_for: Any
) -> None:
    client = client_for(team["owner"])
    masks = export_zip(client, team["project"].pk, {"format": "masks"})
    assert any(n.startswith("masks/semantic/") for n in masks.namelist())
    yolo = export_zip(client, team["project"].pk, {"format": "yolo-seg", "include_images": True})
    assert "data.yaml" in yolo.namelist() and any(n.startswith("images/") for n in yolo.namelist())
    native = export_zip(
        client, team["project"].pk, {"format": "native", "review_status": ["accepted"]}
    )
    records = [json.loads(line) for line in native.read("annotations.jsonl").splitlines()]
    assert [r["id"] for r in records] == [annotated["annotations"]["m3"]["id"]]
    only_cat = export_zip(
        client, team["project"].pk, {"format": "native", "labels": [annotated["cat"]["id"]]}
    )
    records = [json.loads(line) for line in only_cat.read("annotations.jsonl").splitlines()]
    assert [r["id"] for r in records] == [annotated["annotations"]["m2"]["id"]]


def test_native_round_trip_into_a_new_project(
    celery_worker: Any, team: dict[str, Any], annotated: dict[str, Any], client_for: Any
) -> None:
    client = client_for(team["owner"])
    first = export_zip(client, team["project"].pk, {"format": "native", "include_images": True})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as copy:
        for name in first.namelist():
            copy.writestr(name, first.read(name))
    target = client.post("/api/projects/", {"name": "Copy"}, format="json").json()
    upload = io.BytesIO(buffer.getvalue())
    upload.name = "native.zip"
    response = client.post(
        f"/api/projects/{target['id']}/imports/", {"file": upload}, format="multipart"
    )
    assert response.status_code == 202, response.content
    job = wait_for_job(response.json()["job"])
    assert job.status == "done", job.error
    assert job.result["annotations"] == 3 and job.result["new_assets"] == 2
    second = export_zip(client, target["id"], {"format": "native"})

    def comparable(archive: zipfile.ZipFile) -> list[tuple[Any, ...]]:
        rows = [json.loads(line) for line in archive.read("annotations.jsonl").splitlines()]
        return sorted(
            (
                r["label"],
                r["rle"]["counts"],
                r["source"],
                r["review_status"],
                json.dumps(r.get("interaction"), sort_keys=True),
            )
            for r in rows
        )

    rows = comparable(first)
    assert len(rows) == 3 and sum(row[4] != "null" for row in rows) == 1  # m1's prompts
    assert rows == comparable(second)


def test_coco_json_import_matches_assets_by_file_name(
    celery_worker: Any, team: dict[str, Any], upload_image: Any, client_for: Any
) -> None:
    asset = upload_image(team["owner"], team["project"].pk, png_bytes(40, 30), "street.png").json()
    rle = mask_utils.encode(np.asfortranarray(_ellipse(30, 40, 15, 20, 8, 10).astype(np.uint8)))
    coco = {
        "images": [{"id": 7, "file_name": "street.png", "width": 40, "height": 30}],
        "categories": [{"id": 3, "name": "car"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 7,
                "category_id": 3,
                "iscrowd": 0,
                "segmentation": {"size": [30, 40], "counts": rle["counts"].decode()},
            },
            {
                "id": 2,
                "image_id": 7,
                "category_id": 3,
                "iscrowd": 0,
                "segmentation": [[5, 5, 15, 5, 15, 15, 5, 15]],
            },
        ],
    }
    upload = io.BytesIO(json.dumps(coco).encode())
    upload.name = "instances.json"
    client = client_for(team["annotator"])
    response = client.post(
        f"/api/projects/{team['project'].pk}/imports/",
        {"file": upload, "format": "coco"},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    job = wait_for_job(response.json()["job"])
    assert job.status == "done", job.error
    stored = Annotation.objects.filter(asset_id=asset["id"]).order_by("id")
    assert [a.source for a in stored] == ["imported", "imported"]
    assert stored[0].label.name == "car" and stored[0].mask["counts"] == rle["counts"].decode()


@pytest.mark.parametrize(
    ("member", "expected"),
    [("../evil.json", "zip_slip"), ("annotations.json", "invalid_json")],
)
def test_a_bad_archive_fails_the_job_and_stores_nothing(
    celery_worker: Any,
    team: dict[str, Any],
    annotated: dict[str, Any],
    client_for: Any,
    member: str,
    expected: str,
) -> None:
    before = (Annotation.objects.count(), Asset.objects.count(), team["project"].labels.count())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, "{not json")
    buffer.seek(0)
    buffer.name = "bad.zip"
    response = client_for(team["owner"]).post(
        f"/api/projects/{team['project'].pk}/imports/",
        {"file": buffer, "format": "coco"},
        format="multipart",
    )
    job = wait_for_job(response.json()["job"])
    assert job.status == "failed" and expected in job.error
    after = (Annotation.objects.count(), Asset.objects.count(), team["project"].labels.count())
    assert after == before


def test_an_import_that_fails_late_leaves_nothing_half_imported(
    celery_worker: Any, team: dict[str, Any], client_for: Any
) -> None:
    """The first image is new (uploaded from the archive), the second is missing: the
    whole import is undone, including the first image's asset and files, and the
    uploaded archive is removed."""
    image = png_bytes(64, 48, seed=4242)  # its own content: its own stored file names
    coco = {
        "images": [
            {"id": 1, "file_name": "new.png", "width": 64, "height": 48},
            {"id": 2, "file_name": "nowhere.png", "width": 64, "height": 48},
        ],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("annotations.json", json.dumps(coco))
        archive.writestr("images/new.png", image)
    buffer.seek(0)
    buffer.name = "partial.zip"
    response = client_for(team["owner"]).post(
        f"/api/projects/{team['project'].pk}/imports/", {"file": buffer}, format="multipart"
    )
    job = wait_for_job(response.json()["job"])
    assert job.status == "failed" and "missing_image" in job.error
    assert not Asset.objects.filter(project=team["project"]).exists()
    assert team["project"].labels.filter(name="thing").count() == 0
    assert files_of_content(image) == []
    assert not default_storage.exists(job.params["archive"])
    assert not (media() / f"imports/{job.project_id}/ingested-{job.pk}").exists()


def test_exports_are_for_members_only_and_expire(
    celery_worker: Any, team: dict[str, Any], annotated: dict[str, Any], client_for: Any
) -> None:
    from annotator.services.exports import delete_expired_exports

    client = client_for(team["owner"])
    export_zip(client, team["project"].pk, {"format": "coco"})
    export = Export.objects.get()
    url = f"/api/exports/{export.pk}/download"
    assert client_for(team["outsider"]).get(url).status_code == 404
    Export.objects.filter(pk=export.pk).update(expires=timezone.now() - timedelta(hours=1))
    expired = client.get(url)
    assert expired.status_code == 404 and expired.json()["code"] == "export_expired"
    storage_path = export.file.name
    assert delete_expired_exports() == 1
    assert not export.file.storage.exists(storage_path)


def test_a_bad_export_request_is_a_400(team: dict[str, Any], client_for: Any) -> None:
    client = client_for(team["owner"])
    for body in ({"format": "pascal"}, {"labels": [999999]}, {"review_status": ["maybe"]}):
        response = client.post(f"/api/projects/{team['project'].pk}/exports/", body, format="json")
        assert response.status_code == 400, body
    assert not Job.objects.filter(kind="export").exists()


# --- imports follow the API's role rules (more in test_import_hardening.py) -------------


def _native_export(client: Any, project_id: int) -> bytes:
    archive = export_zip(client, project_id, {"format": "native", "include_images": True})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as copy:
        for name in archive.namelist():
            copy.writestr(name, archive.read(name))
    return buffer.getvalue()


def test_only_members_who_may_review_import_review_states(
    celery_worker: Any, team: dict[str, Any], annotated: dict[str, Any], client_for: Any
) -> None:
    """As ``PATCH`` refuses an annotator's ``review_status``, an import by an annotator
    of accepted or rejected annotations fails, naming how many, and stores nothing; the
    owner's import of the same archive keeps the review states."""
    project = team["project"]
    owner = client_for(team["owner"])
    m1 = annotated["annotations"]["m1"]["id"]
    reviewer = client_for(team["reviewer"])
    patched = reviewer.patch(
        f"/api/annotations/{m1}/", {"review_status": "rejected"}, format="json"
    )
    assert patched.status_code == 200, patched.content
    archive = _native_export(owner, project.pk)  # m3 accepted, m1 rejected, m2 pending
    before = Annotation.objects.filter(asset__project=project).count()

    job = wait_for_job(post_import(client_for(team["annotator"]), project.pk, archive, "n.zip").pk)
    assert job.status == JobStatus.FAILED
    assert job.error.startswith("review_not_allowed: 2 annotation(s)"), job.error
    assert Annotation.objects.filter(asset__project=project).count() == before
    assert not default_storage.exists(job.params["archive"])

    job = wait_for_job(post_import(owner, project.pk, archive, "n.zip").pk)
    assert job.status == JobStatus.DONE, job.error
    assert job.result["annotations"] == 3 and job.result["new_assets"] == 0
    statuses = Annotation.objects.filter(asset__project=project).values_list(
        "review_status", flat=True
    )
    assert sorted(statuses) == sorted(["accepted", "rejected", "pending"] * 2)
