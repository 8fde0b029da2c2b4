"""A worker lost in the middle of a real job, with a real Celery worker and Redis: the
job is run again to ``done`` or failed with a clear error, never left ``running``, and
nothing is half-stored.

The session's worker runs with ``JOB_HEARTBEAT_S=0.5``, ``JOB_STALE_AFTER_S=5`` and
``JOB_MAX_ATTEMPTS=2`` (tests/conftest.py).
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django.core.files.storage import default_storage

from annotator.celery import app
from annotator.models import Annotation, Asset, AssetKind, AssetStatus, Export, Job, JobStatus
from formats.rle import encode_mask, mask_stats
from tests.conftest import wait_for_job

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ASSETS, PER_ASSET = 200, 20  # 4,000 annotations: an export that takes a few seconds


@pytest.fixture
def big_project(team: dict[str, Any]) -> dict[str, Any]:
    """A project with many annotated images (rows only: an export without images never
    reads the files)."""
    project = team["project"]
    # Media outlives the test database, whose ids start again each session.
    shutil.rmtree(Path(settings.MEDIA_ROOT) / "exports" / str(project.pk), ignore_errors=True)
    assets = Asset.objects.bulk_create(
        Asset(
            project=project,
            kind=AssetKind.IMAGE,
            name=f"image-{n}.png",
            file=f"assets/original/none-{n}.png",
            checksum=f"{n:064d}",
            width=64,
            height=48,
            status=AssetStatus.READY,
        )
        for n in range(ASSETS)
    )
    rng = np.random.default_rng(0)
    rows = []
    for asset in assets:
        for _ in range(PER_ASSET):
            mask = rng.random((48, 64)) < 0.3
            rle = encode_mask(mask)
            stats = mask_stats(rle)
            rows.append(
                Annotation(
                    asset=asset,
                    frame=0,
                    label=team["label"],
                    mask=rle,
                    area=stats.area,
                    bbox=stats.bbox,
                    author=team["owner"],
                )
            )
    Annotation.objects.bulk_create(rows, batch_size=500)
    return {"project": project, "owner": team["owner"]}


@pytest.fixture
def start(big_project: dict[str, Any], client_for: Any) -> Any:
    """Start an export of the big project through the API; returns its Export row."""

    def start_export() -> Export:
        url = f"/api/projects/{big_project['project'].pk}/exports/"
        response = client_for(big_project["owner"]).post(url, {"format": "coco"}, format="json")
        assert response.status_code == 202, response.content
        return Export.objects.get(pk=response.json()["export"])

    return start_export


def _running_pool_pid(job_id: int, timeout: float = 60) -> int:
    """The pid of the pool process running the job, once it has reported progress."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.get(pk=job_id)
        if job.is_finished:
            pytest.fail(
                f"job {job_id} ended ({job.status}, attempt {job.attempts}: {job.message!r} "
                f"{job.error!r}) before it could be interrupted"
            )
        if job.status == JobStatus.RUNNING and job.progress > 0 and job.worker:
            return int(job.worker.rsplit(":", 1)[1])
        time.sleep(0.01)
    pytest.fail(f"job {job_id} did not start")


def _stored_exports(export: Export) -> list[str]:
    folder = f"exports/{export.project_id}"
    if not default_storage.exists(folder):
        return []
    _, files = default_storage.listdir(folder)
    return sorted(f for f in files if f.startswith(f"{export.pk}-"))


def _scratch_zips(job: Job) -> list[Path]:
    return sorted((Path(settings.VAR_DIR) / "tmp").glob(f"export-{job.pk}-*.zip"))


def test_a_killed_pool_process_has_its_job_run_again_to_done(
    celery_worker: Any, start: Any
) -> None:
    export = start()
    first_pid = _running_pool_pid(export.job_id)
    os.kill(first_pid, signal.SIGKILL)

    job = wait_for_job(export.job_id, timeout=120)
    assert job.status == JobStatus.DONE, job.error
    assert job.attempts == 2 and not job.worker.endswith(f":{first_pid}")
    assert job.result["annotations"] == ASSETS * PER_ASSET
    export.refresh_from_db()
    assert _stored_exports(export) == [f"{export.pk}-coco.zip"]
    with export.file.open("rb") as stream, zipfile.ZipFile(io.BytesIO(stream.read())) as zf:
        assert zf.testzip() is None
        assert b'"annotations"' in zf.read("annotations.json")
    assert _scratch_zips(job) == []


def test_a_job_whose_worker_froze_is_taken_over_and_the_frozen_run_writes_nothing(
    celery_worker: Any, start: Any
) -> None:
    """A stopped process (a machine that vanished) sends no heartbeat: after
    ``JOB_STALE_AFTER_S`` a sweep hands the job to a new delivery, which the other pool
    process runs; when the frozen one resumes it can no longer write the job."""
    export = start()
    frozen = _running_pool_pid(export.job_id)
    os.kill(frozen, signal.SIGSTOP)
    frozen_delivery = Job.objects.get(pk=export.job_id).celery_id
    try:
        job = wait_for_job(export.job_id, timeout=120)
    finally:
        os.kill(frozen, signal.SIGCONT)
    assert job.status == JobStatus.DONE, job.error
    assert job.attempts == 2 and not job.worker.endswith(f":{frozen}")
    done = Job.objects.values().get(pk=job.pk)
    # The resumed run reaches its next write, finds the job no longer its own and stops:
    # its task's answer says so, and the job is as the new delivery left it.
    assert app.AsyncResult(frozen_delivery).get(timeout=60) == "cancelled"
    assert Job.objects.values().get(pk=job.pk) == done
    export.refresh_from_db()
    assert _stored_exports(export) == [f"{export.pk}-coco.zip"]


def test_a_job_that_loses_its_worker_every_time_fails_and_stores_nothing(
    celery_worker: Any, start: Any
) -> None:
    export = start()
    for _attempt in range(2):  # JOB_MAX_ATTEMPTS
        os.kill(_running_pool_pid(export.job_id), signal.SIGKILL)
        deadline = time.monotonic() + 30
        while Job.objects.get(pk=export.job_id).status == JobStatus.RUNNING:
            assert time.monotonic() < deadline, "the job stayed running after its worker died"
            time.sleep(0.02)
    job = wait_for_job(export.job_id, timeout=60)
    assert job.status == JobStatus.FAILED
    # Found lost by its worker (billiard reports the pool process's death) or, when the
    # kill came before the pool had the task on record, by the missing heartbeat.
    assert "worker process running it was lost" in job.error or "no heartbeat" in job.error
    assert "attempt 2 of 2" in job.error
    export.refresh_from_db()
    assert not export.file and _stored_exports(export) == []
