"""Deleting a project or an asset removes its files from media storage once the delete
commits: originals, display renderings, thumbnails, cached embeddings, export zips and
uploaded import archives. Jobs run in-process here (the real task bodies), so every file
is written by the code that writes it in production; ``tests/workers/runtime/
test_media_cleanup.py`` does the same with a real worker."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from annotator.models import Asset, Export, Job, Project
from annotator.services.assets import EMBEDDINGS_DIR, delete_asset
from annotator.services.projects import delete_project
from tests.annotator import sample_images as images
from tests.api.helpers import stored_files
from workers.engines.embedding_cache import embedding_key
from workers.runtime import embed as embed_module
from workers.runtime import engine_pool, thumbnails
from workers.runtime.embed import embed_asset
from workers.runtime.exports import export_project
from workers.runtime.thumbnails import make_thumbnail

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_engines() -> Iterator[None]:
    """Empty embedding caches: every state is computed and stored in this test's media."""
    engine_pool._engines.clear()
    engine_pool._caches.clear()
    yield
    engine_pool._engines.clear()
    engine_pool._caches.clear()


def run_jobs(kind: str, **filters: Any) -> None:
    """Run the queued jobs of ``kind`` in this process, as a worker would."""
    task = {"thumbnail": make_thumbnail, "embed": embed_asset, "export": export_project}[kind]
    for job in Job.objects.filter(kind=kind, status="queued", **filters).order_by("id"):
        task(job.pk)
        assert Job.objects.get(pk=job.pk).status == "done", Job.objects.get(pk=job.pk).error


def uploaded(upload: Callable[..., Any], user: Any, project: Project, **kwargs: Any) -> Asset:
    response = upload(user, project.pk, **kwargs)
    assert response.status_code == 201, response.content
    return Asset.objects.get(pk=response.json()["id"])


def folders(files: set[str]) -> set[str]:
    """The top two levels of each path: what kinds of files there are."""
    return {"/".join(path.split("/")[:2]) for path in files}


def test_the_web_side_knows_where_embeddings_are_stored() -> None:
    # annotator.services.assets removes embeddings/{model}/{asset id}/ of a deleted asset.
    assert embedding_key(17, 3, "sam/vit b", "abc").split("/")[:3] == [
        EMBEDDINGS_DIR,
        "sam_vit_b",
        "17",
    ]


def test_deleting_a_project_leaves_no_file_behind(
    team: dict[str, Any],
    other_project: Any,
    upload: Callable[..., Any],
    client_for: Callable[[Any], Any],
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    assert stored_files(media_root) == set()
    project, owner = team["project"], team["owner"]
    # Another project's asset, with all its files: they must stay.
    uploaded(upload, other_project.memberships.get().user, other_project, name="cat.png")
    run_jobs("thumbnail")
    run_jobs("embed")
    kept = stored_files(media_root)

    uploaded(upload, owner, project, name="a.png", data=images.png(seed=1))
    uploaded(upload, owner, project, name="b.png", data=images.png(seed=2))
    uploaded(upload, owner, project, name="deep.tif", data=images.tiff16())  # + a rendering
    run_jobs("thumbnail")
    run_jobs("embed")
    client = client_for(owner)
    for body in ({"format": "coco", "include_images": True}, {"format": "native"}):
        response = client.post(f"/api/projects/{project.pk}/exports/", body, format="json")
        assert response.status_code == 202, response.content
    run_jobs("export")
    archive = SimpleUploadedFile("data.zip", b"PK\x05\x06" + bytes(18), "application/zip")
    response = client.post(
        f"/api/projects/{project.pk}/imports/", {"file": archive}, format="multipart"
    )
    assert response.status_code == 202, response.content  # queued, never run: stays stored

    ours = stored_files(media_root) - kept
    assert folders(ours) == {
        "assets/original",
        "assets/display",
        "assets/thumbnails",
        f"{EMBEDDINGS_DIR}/{engine_pool.get_engine('classical').model_id}",
        f"exports/{project.pk}",
        f"imports/{project.pk}",
    }, ours
    assert len(ours) == 3 + 1 + 3 + 3 + 2 + 1
    assert Export.objects.exclude(file="").count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/projects/{project.pk}/").status_code == 204
    assert stored_files(media_root) == kept
    assert not Project.objects.filter(pk=project.pk).exists()
    # Folders that were the project's own are gone too (on a local file system).
    assert not (media_root / "exports" / str(project.pk)).exists()
    assert not (media_root / "imports" / str(project.pk)).exists()


def test_deleting_an_asset_removes_its_thumbnail_and_embeddings_only(
    team: dict[str, Any],
    upload: Callable[..., Any],
    client_for: Callable[[Any], Any],
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    first = uploaded(upload, team["owner"], team["project"], data=images.png(seed=1))
    run_jobs("thumbnail")
    run_jobs("embed")
    before = stored_files(media_root)
    second = uploaded(upload, team["owner"], team["project"], data=images.tiff16())
    run_jobs("thumbnail")
    run_jobs("embed")
    assert len(stored_files(media_root) - before) == 4  # original, rendering, thumb, state

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(team["annotator"]).delete(f"/api/assets/{second.pk}/")
    assert response.status_code == 204
    assert stored_files(media_root) == before
    assert Asset.objects.filter(pk=first.pk).exists()


def test_a_file_that_cannot_be_removed_is_logged_not_an_error(
    team: dict[str, Any],
    asset: Asset,
    client_for: Callable[[Any], Any],
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(self: FileSystemStorage, name: str) -> None:
        raise PermissionError(f"read-only: {name}")

    monkeypatch.setattr(FileSystemStorage, "delete", refuse)
    with caplog.at_level(logging.WARNING), django_capture_on_commit_callbacks(execute=True):
        response = client_for(team["owner"]).delete(f"/api/projects/{team['project'].pk}/")
    assert response.status_code == 204
    assert not Project.objects.exists() and not Asset.objects.exists()
    assert str(asset.file.name) in caplog.text
    assert (media_root / str(asset.file.name)).is_file()


def test_a_delete_that_rolls_back_keeps_every_file(
    team: dict[str, Any],
    asset: Asset,
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    before = stored_files(media_root)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        delete_project(team["project"])
        raise RuntimeError("something later in the same transaction failed")
    assert callbacks == []
    assert Asset.objects.filter(pk=asset.pk).exists()
    assert stored_files(media_root) == before


def test_an_asset_row_that_never_committed_takes_no_other_asset_with_it(
    team: dict[str, Any], asset: Asset, media_root: Path, django_capture_on_commit_callbacks: Any
) -> None:
    # An import that rolled back removes the files of the assets it had created; their
    # ids may already be another asset's (SQLite reuses them).
    ghost = Asset(pk=asset.pk, checksum=asset.checksum, project=team["project"])
    ghost.file.name = "assets/original/ghost.png"
    (media_root / "assets/original").mkdir(parents=True, exist_ok=True)
    (media_root / "assets/original/ghost.png").write_bytes(b"x")
    before = stored_files(media_root)
    with django_capture_on_commit_callbacks(execute=True):
        delete_asset(ghost)
    assert Asset.objects.filter(pk=asset.pk).exists()
    assert stored_files(media_root) == before - {"assets/original/ghost.png"}


# --- workers that finish after the delete: they remove what they wrote ------------------


@pytest.fixture
def lose_the_asset_after(
    asset: Asset, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> Any:
    """``lose_the_asset_after(module, name)``: ``module.name`` deletes the asset (and
    commits) right after it has done its work, as a user's delete landing mid-job."""

    def patch(module: Any, name: str) -> None:
        work = getattr(module, name)

        def work_then_lose_the_asset(*args: Any) -> Any:
            answer = work(*args)
            with django_capture_on_commit_callbacks(execute=True):
                delete_asset(asset)
            return answer

        monkeypatch.setattr(module, name, work_then_lose_the_asset)

    return patch


@pytest.mark.parametrize(
    ("module", "step", "kind", "task"),
    [
        (thumbnails, "render_thumbnail", "thumbnail", make_thumbnail),
        (embed_module, "frame_rgb", "embed", embed_asset),
    ],
    ids=["thumbnail", "embedding"],
)
def test_a_file_made_while_its_asset_is_deleted_is_not_left(
    asset: Asset,
    media_root: Path,
    lose_the_asset_after: Any,
    module: Any,
    step: str,
    kind: str,
    task: Any,
) -> None:
    lose_the_asset_after(module, step)
    task(Job.objects.get(asset=asset, kind=kind).pk)
    assert not Asset.objects.exists()
    assert stored_files(media_root) == set()
