"""A real worker writes thumbnails, embeddings (SAM's and the classical engine's) and an
export zip; deleting the project leaves no file of it in media storage, also when the
delete comes while the worker is still writing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from annotator.models import Asset, Job, JobStatus
from tests.conftest import png_bytes, wait_for_job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


Snapshot = dict[str, tuple[int, int]]


def media_files() -> Snapshot:
    """Each file in the worker's media storage with its inode and mtime: the folder is
    shared by the session's tests and kept between sessions, whose databases start their
    ids at 1 again, so a file may be rewritten under an old name."""
    root = Path(settings.MEDIA_ROOT)
    found: Snapshot = {}
    for path in root.rglob("*"):
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed meanwhile
            continue
        if path.is_file():
            found[str(path.relative_to(root))] = (stat.st_ino, stat.st_mtime_ns)
    return found


def new_seeds(count: int) -> list[int]:
    """Images no earlier session stored: their embeddings are computed, not found."""
    start = time.time_ns() % 2**31
    return [start + n for n in range(count)]


def written_since(before: Snapshot) -> set[str]:
    return {path for path, stamp in media_files().items() if before.get(path) != stamp}


def assert_only_theirs_removed(before: Snapshot, project_id: int, asset_ids: set[int]) -> None:
    """Nothing written since ``before`` is left, and what went of the earlier files was
    under the deleted project's or assets' ids (an earlier session's, same ids)."""
    assert written_since(before) == set()
    own = (f"exports/{project_id}/", f"imports/{project_id}/")
    for path in before.keys() - media_files().keys():
        parts = path.split("/")
        if path.startswith("assets/thumbnails/"):
            assert int(parts[2].split("-")[0]) in asset_ids, path
        else:
            assert path.startswith(own) or (
                parts[0] == "embeddings" and int(parts[2]) in asset_ids
            ), path


def settle(before: Snapshot, timeout: float = 30, quiet: float = 2) -> None:
    """Wait until nothing new has been left for ``quiet`` seconds: the worker may still
    be finishing the jobs it had taken."""
    deadline = time.monotonic() + timeout
    since = None
    while time.monotonic() < deadline:
        if written_since(before):
            since = None
        elif since is None:
            since = time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.1)


def test_deleting_a_project_removes_what_the_worker_stored(
    celery_worker: Any, team: dict[str, Any], upload_image: Any, client_for: Any
) -> None:
    before = media_files()
    project, client = team["project"], client_for(team["owner"])
    ids = []
    for seed in new_seeds(3):
        response = upload_image(team["owner"], project.pk, png_bytes(96, 64, seed=seed))
        assert response.status_code == 201, response.content
        ids.append(response.json()["id"])
    for job in Job.objects.filter(asset_id__in=ids):
        assert wait_for_job(job.pk).status == JobStatus.DONE, job.error
    # A click with the other engine stores that engine's state too.
    response = client.post(
        f"/api/assets/{ids[0]}/predict/",
        {"engine": "classical", "clicks": [{"x": 40, "y": 30}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    response = client.post(
        f"/api/projects/{project.pk}/exports/",
        {"format": "coco", "include_images": True},
        format="json",
    )
    assert response.status_code == 202, response.content
    assert wait_for_job(response.json()["job"]).status == JobStatus.DONE

    ours = written_since(before)
    kinds = {path.split("/")[0] + "/" + path.split("/")[1] for path in ours}
    assert {"assets/original", "assets/thumbnails", "exports/" + str(project.pk)} <= kinds
    models = {path.split("/")[1] for path in ours if path.startswith("embeddings/")}
    assert len(models) == 2, ours  # SAM's and the classical engine's
    assert sum(path.startswith("embeddings/") for path in ours) == 4, ours

    assert client.delete(f"/api/projects/{project.pk}/").status_code == 204
    assert_only_theirs_removed(before, project.pk, set(ids))


def test_a_project_deleted_while_its_jobs_run_leaves_nothing(
    celery_worker: Any, team: dict[str, Any], upload_image: Any, client_for: Any
) -> None:
    before = media_files()
    project = team["project"]
    ids = set()
    for seed in new_seeds(4):
        response = upload_image(team["owner"], project.pk, png_bytes(480, 320, seed=seed))
        assert response.status_code == 201, response.content
        ids.add(response.json()["id"])
    response = client_for(team["owner"]).post(
        f"/api/projects/{project.pk}/exports/",
        {"format": "native", "include_images": True},
        format="json",
    )
    assert response.status_code == 202, response.content
    # The worker has the jobs now: some are done, some running, some still queued.
    assert client_for(team["owner"]).delete(f"/api/projects/{project.pk}/").status_code == 204
    assert not Asset.objects.filter(project_id=project.pk).exists()
    settle(before)
    assert_only_theirs_removed(before, project.pk, ids)
