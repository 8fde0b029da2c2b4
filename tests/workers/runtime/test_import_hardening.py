"""Imports hardened with a real worker (and a few runs of the task in this process): an
archive out of bounds fails with its code, and no import that does not succeed leaves
its upload or the files of the images it had begun to add in media storage, also when
its worker is killed mid-transaction (``workers/runtime/imports.py``, the ingest
journal) on one attempt or on every one."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from annotator.models import Annotation, Asset, Job, JobStatus
from tests.conftest import png_bytes, wait_for_job
from tests.workers.runtime.import_helpers import coco_zip, files_of_content, media, post_import

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize(
    ("polygon", "category", "code"),
    [
        ([0, 0, 1e300, 0, 1e300, 1e300], "car", "invalid_polygon"),  # segfaulted the worker
        ([0, 0, 1e7, 0, 1e7, 1e7], "car", "invalid_polygon"),  # cost it 1.2 GB
        ([5, 5, 15, 5, 15, 15], "c" * 101, "name_too_long"),  # PostgreSQL raised on it
    ],
    ids=["1e300", "1e7", "long label"],
)
def test_an_archive_out_of_bounds_fails_the_job_with_its_code_and_leaves_nothing(
    celery_worker: Any,
    team: dict[str, Any],
    client_for: Any,
    polygon: list[float],
    category: str,
    code: str,
) -> None:
    image = png_bytes(40, 30, seed=sum(map(ord, repr(polygon) + category)))
    coco = {
        "images": [{"id": 1, "file_name": "bounds.png", "width": 40, "height": 30}],
        "categories": [{"id": 1, "name": category}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 9, 2, 9, 9]]},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [polygon]},
        ],
    }
    before = (Annotation.objects.count(), Asset.objects.count(), team["project"].labels.count())
    job = post_import(
        client_for(team["annotator"]),
        team["project"].pk,
        coco_zip(coco, {"bounds.png": image}),
        "bounds.zip",
    )
    job = wait_for_job(job.pk)
    assert job.status == JobStatus.FAILED and job.error.startswith(f"{code}: "), job.error
    after = (Annotation.objects.count(), Asset.objects.count(), team["project"].labels.count())
    assert after == before
    assert not default_storage.exists(job.params["archive"])
    assert files_of_content(image) == []


def test_a_given_up_import_has_its_uploads_and_journalled_files_removed(
    team: dict[str, Any],
) -> None:
    """What the lifecycle does when the worker is lost on the last attempt (the run's
    own clean-up never ran): the uploaded archive goes, and of the files the lost runs
    journalled, those that no asset row names."""
    from workers.runtime.imports import journal_folder
    from workers.runtime.lifecycle import Lease, recover

    project = team["project"]
    archive = default_storage.save(f"imports/{project.pk}/given-up.zip", ContentFile(b"zip"))
    job = Job.objects.create(
        project=project,
        kind="import",
        status=JobStatus.RUNNING,
        params={"archive": archive, "images": None, "format": None},
        celery_id="lost-run",
        attempts=settings.JOB_MAX_ATTEMPTS,
        heartbeat=timezone.now(),
    )
    orphan = default_storage.save("assets/original/given-up-orphan.png", ContentFile(b"png"))
    kept = Asset.objects.create(
        project=project,
        kind="image",
        name="kept.png",
        checksum="0" * 64,
        width=1,
        height=1,
        file=default_storage.save("assets/original/given-up-kept.png", ContentFile(b"png")),
    )
    entry = default_storage.save(
        f"{journal_folder(job)}/lostrun-000000.json",
        ContentFile(json.dumps([orphan, kept.file.name]).encode()),
    )

    assert recover(Lease(job.pk, "lost-run"), "the worker process was lost") == "failed"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "attempt 2 of 2" in job.error
    assert not default_storage.exists(archive) and not default_storage.exists(entry)
    assert not default_storage.exists(orphan)
    assert default_storage.exists(str(kept.file.name))  # an asset's file is never an orphan


def _pool_pid_once(job_id: int, attempt: int, entries: int, timeout: float = 60) -> int:
    """The pid of the pool process running ``attempt`` of the job, once that run has
    journalled ``entries`` new assets (it is inside its import transaction)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.is_finished:
            pytest.fail(f"job {job_id} ended ({job.status}: {job.error}) before the kill")
        if job.status == JobStatus.RUNNING and job.attempts == attempt and job.worker:
            prefix = job.celery_id.replace("-", "")[:12]
            # Two entries per asset: the names it is about to store, then its files.
            if len(_journal(job, prefix)) >= 2 * entries:
                return int(job.worker.rsplit(":", 1)[1])
        time.sleep(0.005)
    pytest.fail(f"job {job_id} did not reach attempt {attempt}")


def _journal(job: Job, prefix: str = "") -> list[Path]:
    folder = media() / f"imports/{job.project_id}/ingested-{job.pk}"
    return sorted(folder.glob(f"{prefix}*.json")) if folder.exists() else []


def _journalled(job: Job) -> set[str]:
    paths: set[str] = set()
    for entry in _journal(job):
        with contextlib.suppress(OSError, ValueError):  # removed meanwhile by a new run
            names = json.loads(entry.read_text())
            if isinstance(names, list):  # not an intent ({"prefixes": [...]})
                paths.update(names)
    return paths


def _unreferenced_originals() -> set[str]:
    stored = {str(p.relative_to(media())) for p in (media() / "assets").rglob("*") if p.is_file()}
    named = {
        str(name)
        for row in Asset.objects.values_list("file", "display_file", "thumbnail")
        for name in row
        if name
    }
    return {p for p in stored - named if not p.startswith("assets/thumbnails/")}


@pytest.fixture
def many_images_import(team: dict[str, Any], client_for: Any) -> Job:
    """An import of 300 new images: long enough to be killed inside its transaction."""
    images = {f"many-{n}.png": png_bytes(16, 12, seed=50_000 + n) for n in range(300)}
    coco = {
        "images": [
            {"id": n, "file_name": name, "width": 16, "height": 12} for n, name in enumerate(images)
        ],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [],
    }
    return post_import(
        client_for(team["owner"]), team["project"].pk, coco_zip(coco, images), "many.zip"
    )


def _cleaned_up(job: Job, timeout: float = 30) -> bool:
    """Whether the journal and the uploaded archive are gone, once the run (after its
    commit) or the lifecycle (after failing the job) has removed them."""
    deadline = time.monotonic() + timeout
    while _journal(job) or default_storage.exists(job.params["archive"]):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _named_by_a_row(path: str) -> bool:
    return (
        Asset.objects.filter(file=path).exists() or Asset.objects.filter(display_file=path).exists()
    )


@pytest.mark.slow
def test_an_import_killed_on_every_attempt_leaves_no_upload_and_no_ingested_file(
    celery_worker: Any, team: dict[str, Any], many_images_import: Job
) -> None:
    job = many_images_import
    before = _unreferenced_originals()
    journalled: set[str] = set()
    for attempt in (1, 2):  # JOB_MAX_ATTEMPTS
        pid = _pool_pid_once(job.pk, attempt, entries=5)
        os.kill(pid, signal.SIGKILL)
        journalled |= _journalled(job)
    job = wait_for_job(job.pk, timeout=60)
    assert job.status == JobStatus.FAILED and "attempt 2 of 2" in job.error, job.error
    assert not Asset.objects.filter(project=team["project"]).exists()
    assert len(journalled) >= 5  # both runs store the same names
    assert _cleaned_up(job)
    left = sorted(path for path in journalled if default_storage.exists(path))
    assert not left, (left[:5], len(left), len(journalled))
    # Also a file whose write the kill interrupted: its name was journalled before it.
    assert _unreferenced_originals() - before == set()


@pytest.mark.slow
def test_an_import_killed_once_is_run_again_without_the_first_runs_files(
    celery_worker: Any, team: dict[str, Any], many_images_import: Job
) -> None:
    job = many_images_import
    before = _unreferenced_originals()
    os.kill(_pool_pid_once(job.pk, 1, entries=5), signal.SIGKILL)
    first = _journalled(job)
    job = wait_for_job(job.pk, timeout=120)
    assert job.status == JobStatus.DONE and job.attempts == 2, job.error
    assert job.result["new_assets"] == 300
    assets = Asset.objects.filter(project=team["project"])
    assert assets.count() == 300
    assert all(default_storage.exists(str(asset.file.name)) for asset in assets)
    # The first run's files were removed before the second stored its own (which may
    # have the same names: those are the new assets').
    assert len(first) >= 5
    assert all(_named_by_a_row(path) or not default_storage.exists(path) for path in first)
    assert _cleaned_up(job)
    assert _unreferenced_originals() - before == set()


def _queued_import(team: dict[str, Any], archive: str) -> Job:
    """An import job as the request leaves it, for the task body to run in this process."""
    return Job.objects.create(
        project=team["project"],
        kind="import",
        created_by=team["owner"],
        params={"archive": archive, "images": None, "format": None},
        celery_id="in-process",
    )


def test_an_image_over_the_upload_limit_fails_the_import_before_it_is_read(
    team: dict[str, Any], settings: Any
) -> None:
    """Run in this process (no worker): the task body on a queued job."""
    from workers.runtime.imports import import_dataset

    settings.MAX_UPLOAD_BYTES = 1000
    image = png_bytes(64, 48, seed=777)  # about 9 kB
    coco = {
        "images": [{"id": 1, "file_name": "big.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [],
    }
    archive = default_storage.save(
        f"imports/{team['project'].pk}/big.zip", ContentFile(coco_zip(coco, {"big.png": image}))
    )
    job = _queued_import(team, archive)
    assert import_dataset(job.pk) == "failed"
    job.refresh_from_db()
    assert job.error.startswith("archive_too_large: image 'images/big.png' is "), job.error
    assert not Asset.objects.exists() and files_of_content(image) == []
    assert not default_storage.exists(archive)


def test_a_coco_file_over_the_json_limit_fails_before_it_is_parsed(
    team: dict[str, Any], settings: Any
) -> None:
    from workers.runtime.imports import import_dataset

    settings.MAX_IMPORT_JSON_MB = 1
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "thing", "note": "x" * 1_100_000}],
        "annotations": [],
    }
    archive = default_storage.save(
        f"imports/{team['project'].pk}/big.zip", ContentFile(coco_zip(coco, {}))
    )
    job = _queued_import(team, archive)
    assert import_dataset(job.pk) == "failed"
    job.refresh_from_db()
    assert job.error.startswith("archive_too_large: "), job.error
    assert not default_storage.exists(archive)


@pytest.mark.parametrize("creator", ["viewer", "reviewer", "outsider", None])
def test_an_import_started_by_who_may_not_annotate_now_stores_nothing(
    team: dict[str, Any], creator: str | None
) -> None:
    """The role is checked when the job runs: a member demoted (or removed, or deleted:
    no creator) since the request imports nothing."""
    from workers.runtime.imports import import_dataset

    coco = {
        "images": [{"id": 1, "file_name": "x.png", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [],
    }
    archive = default_storage.save(
        f"imports/{team['project'].pk}/role.zip",
        ContentFile(coco_zip(coco, {"x.png": png_bytes(64, 48, seed=778)})),
    )
    job = Job.objects.create(
        project=team["project"],
        kind="import",
        created_by=team[creator] if creator else None,
        params={"archive": archive, "images": None, "format": None},
        celery_id="in-process",
    )
    assert import_dataset(job.pk) == "failed"
    job.refresh_from_db()
    assert job.error.startswith("import_not_allowed: "), job.error
    assert not Asset.objects.exists() and not default_storage.exists(archive)
