"""Import requests through the API: the upload is stored and a queued job made, or the
request is refused with nothing stored. No worker runs here (the job's task is sent only
when the request's transaction commits, which never happens inside a ``django_db``
test); ``tests/workers/runtime/test_exports_and_imports.py`` runs real imports end to end."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.models import Annotation, Asset, Job
from tests.api.helpers import assert_error, assert_queued_job, stored_files

pytestmark = pytest.mark.django_db

MB = 1024 * 1024


def coco_json() -> bytes:
    return json.dumps(
        {
            "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
            "categories": [{"id": 1, "name": "car"}],
            "annotations": [],
        }
    ).encode()


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def import_url(project_id: int) -> str:
    return f"/api/projects/{project_id}/imports/"


@pytest.fixture
def post_import(client_for: Callable[[Any], Any]) -> Callable[..., Any]:
    """``post_import(user, project_id, file=bytes | None, name=..., images=..., **fields)``."""

    def post(
        user: Any,
        project_id: int,
        file: bytes | None = None,
        name: str = "instances.json",
        images: bytes | None = None,
        **fields: Any,
    ) -> Any:
        data: dict[str, Any] = dict(fields)
        if file is not None:
            data["file"] = SimpleUploadedFile(name, file, "application/octet-stream")
        if images is not None:
            data["images"] = SimpleUploadedFile("images.zip", images, "application/zip")
        return client_for(user).post(import_url(project_id), data, format="multipart")

    return post


@pytest.fixture
def nothing_imported(media_root: Path) -> Any:
    """The test must leave no job, asset, annotation or stored file behind."""
    yield
    assert not Job.objects.filter(kind="import").exists()
    assert not Asset.objects.exists() and not Annotation.objects.exists()
    assert stored_files(media_root) == set()


# --- accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "annotator"])
def test_a_coco_json_is_stored_and_a_job_queued(
    role: str,
    team: dict[str, Any],
    post_import: Callable[..., Any],
    client_for: Callable[[Any], Any],
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    data = coco_json()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = post_import(team[role], team["project"].pk, data, format="coco")
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"job"}

    job = Job.objects.get(pk=body["job"])
    assert_queued_job(job, team["project"], "import", team[role])
    assert job.params["format"] == "coco" and job.params["images"] is None
    archive = job.params["archive"]
    assert archive.startswith(f"imports/{team['project'].pk}/")
    assert archive.endswith("instances.json")
    # The upload is kept byte for byte for the worker, and nothing else is stored yet.
    assert stored_files(media_root) == {archive}
    assert (media_root / archive).read_bytes() == data
    assert not Asset.objects.exists() and not Annotation.objects.exists()
    assert len(callbacks) == 1  # one task send, after the commit

    shown = client_for(team["viewer"]).get(f"/api/jobs/{job.pk}/")
    assert shown.status_code == 200, shown.content
    assert (shown.json()["kind"], shown.json()["status"]) == ("import", "queued")


def test_an_import_cancelled_before_it_ran_removes_its_uploads(
    team: dict[str, Any],
    post_import: Callable[..., Any],
    client_for: Callable[[Any], Any],
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    images = zipped({"a.png": b"not read"})
    with django_capture_on_commit_callbacks(execute=False):
        response = post_import(team["owner"], team["project"].pk, zipped({}), "a.zip", images)
    assert response.status_code == 202, response.content
    assert len(stored_files(media_root)) == 2
    with django_capture_on_commit_callbacks(execute=True):
        cancelled = client_for(team["owner"]).post(f"/api/jobs/{response.json()['job']}/cancel/")
    assert cancelled.status_code == 200, cancelled.content
    assert cancelled.json()["status"] == "cancelled"
    assert stored_files(media_root) == set()


def test_an_archive_name_over_255_bytes_is_stored_under_a_safe_name(
    team: dict[str, Any], post_import: Callable[..., Any], media_root: Path
) -> None:
    name = "鳥" * 90 + ".json"  # 275 bytes
    response = post_import(team["owner"], team["project"].pk, coco_json(), name, format="coco")
    assert response.status_code == 202, response.content
    (stored,) = stored_files(media_root)
    assert stored.endswith(".json") and len(Path(stored).name.encode()) < 255


def test_a_zip_with_an_images_zip_and_no_format(
    team: dict[str, Any], post_import: Callable[..., Any], media_root: Path
) -> None:
    archive = zipped({"annotations.json": coco_json()})
    images = zipped({"a.png": b"not looked at before the job runs"})
    response = post_import(
        team["annotator"], team["project"].pk, archive, name="dataset.zip", images=images
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job"])
    params = job.params
    assert params["format"] is None  # the worker tells COCO from native by the content
    assert params["archive"].endswith("dataset.zip") and params["images"].endswith("images.zip")
    assert stored_files(media_root) == {params["archive"], params["images"]}
    assert (media_root / params["archive"]).read_bytes() == archive
    assert (media_root / params["images"]).read_bytes() == images


def test_a_native_zip_is_accepted(
    team: dict[str, Any], post_import: Callable[..., Any], media_root: Path
) -> None:
    archive = zipped({"annotations.jsonl": b""})
    response = post_import(
        team["owner"], team["project"].pk, archive, name="native.zip", format="native"
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["job"])
    assert (job.kind, job.status, job.params["format"]) == ("import", "queued", "native")


def test_the_archive_is_validated_by_the_job_not_the_request(
    team: dict[str, Any], post_import: Callable[..., Any]
) -> None:
    """Contents are the job's business (it fails with ``"<code>: message"``): the
    request only checks that a non-empty file of acceptable size arrived."""
    response = post_import(team["owner"], team["project"].pk, b"{not json", format="coco")
    assert response.status_code == 202, response.content
    assert Job.objects.get(pk=response.json()["job"]).status == "queued"


def test_a_blank_format_means_none_given(
    team: dict[str, Any], post_import: Callable[..., Any]
) -> None:
    # An HTML form sends an unselected <select> as "": the same as leaving it out.
    response = post_import(team["owner"], team["project"].pk, coco_json(), format="")
    assert response.status_code == 202, response.content
    assert Job.objects.get(pk=response.json()["job"]).params["format"] is None


def test_a_file_just_under_the_limit_is_accepted(
    team: dict[str, Any], post_import: Callable[..., Any], settings: Any
) -> None:
    settings.MAX_IMPORT_MB = 1
    response = post_import(team["owner"], team["project"].pk, b"x" * MB, name="big.json")
    assert response.status_code == 202, response.content


# --- refused ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("nothing_imported")
@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_members_who_cannot_annotate_get_403(
    role: str, team: dict[str, Any], post_import: Callable[..., Any]
) -> None:
    assert_error(post_import(team[role], team["project"].pk, coco_json()), 403)


@pytest.mark.usefixtures("nothing_imported")
def test_an_outsider_gets_404(team: dict[str, Any], post_import: Callable[..., Any]) -> None:
    assert_error(post_import(team["outsider"], team["project"].pk, coco_json()), 404)


@pytest.mark.usefixtures("nothing_imported")
def test_a_member_of_another_project_gets_404(
    team: dict[str, Any], post_import: Callable[..., Any], other_project: Any
) -> None:
    stranger = other_project.memberships.get().user
    assert_error(post_import(stranger, team["project"].pk, coco_json()), 404)


@pytest.mark.usefixtures("nothing_imported")
def test_an_unknown_project_is_a_404(team: dict[str, Any], post_import: Callable[..., Any]) -> None:
    assert_error(post_import(team["owner"], 999999, coco_json()), 404)


@pytest.mark.usefixtures("nothing_imported")
def test_anonymous_is_refused(team: dict[str, Any], post_import: Callable[..., Any]) -> None:
    assert_error(post_import(None, team["project"].pk, coco_json()), 401)


@pytest.mark.usefixtures("nothing_imported")
def test_an_empty_file_is_a_400(team: dict[str, Any], post_import: Callable[..., Any]) -> None:
    body = assert_error(post_import(team["owner"], team["project"].pk, b""), 400, "empty_file")
    assert body["detail"].startswith("file: ")


@pytest.mark.usefixtures("nothing_imported")
def test_an_empty_images_zip_is_a_400(
    team: dict[str, Any], post_import: Callable[..., Any]
) -> None:
    body = assert_error(
        post_import(team["owner"], team["project"].pk, coco_json(), images=b""), 400, "empty_file"
    )
    assert body["detail"].startswith("images: ")


@pytest.mark.usefixtures("nothing_imported")
def test_no_file_is_a_400(team: dict[str, Any], post_import: Callable[..., Any]) -> None:
    body = assert_error(
        post_import(team["owner"], team["project"].pk, None, format="coco"), 400, "required"
    )
    assert body["detail"].startswith("file: ")


@pytest.mark.usefixtures("nothing_imported")
@pytest.mark.parametrize("fmt", ["yolo-seg", "masks", "pascal", "COCO", "coco "])
def test_a_bad_format_is_a_400(
    fmt: str, team: dict[str, Any], post_import: Callable[..., Any]
) -> None:
    """The code clients know from the export request (and from before the serializer):
    ``invalid_format``, not DRF's ``invalid_choice``."""
    body = assert_error(
        post_import(team["owner"], team["project"].pk, coco_json(), format=fmt),
        400,
        "invalid_format",
    )
    assert body["detail"] == "format: must be one of coco, native"


@pytest.mark.usefixtures("nothing_imported")
def test_an_archive_over_max_import_mb_is_a_413(
    team: dict[str, Any], post_import: Callable[..., Any], settings: Any
) -> None:
    settings.MAX_IMPORT_MB = 1
    body = assert_error(
        post_import(team["owner"], team["project"].pk, b"x" * (MB + 1), name="big.json"),
        413,
        "archive_too_large",
    )
    assert str(MB + 1) in body["detail"]


@pytest.mark.usefixtures("nothing_imported")
def test_a_request_far_over_the_limit_is_refused_by_its_length(
    team: dict[str, Any], post_import: Callable[..., Any], settings: Any
) -> None:
    """The body may hold the archive and the images zip (twice the limit, plus slack
    for the multipart envelope); a longer one is refused before it is read."""
    settings.MAX_IMPORT_MB = 1
    assert_error(
        post_import(team["owner"], team["project"].pk, b"x" * (2 * MB + 128 * 1024)),
        413,
        "file_too_large",
    )


def test_an_images_zip_over_the_limit_is_a_413_and_stores_nothing(
    team: dict[str, Any], post_import: Callable[..., Any], settings: Any, media_root: Path
) -> None:
    settings.MAX_IMPORT_MB = 1
    response = post_import(team["owner"], team["project"].pk, coco_json(), images=b"x" * (MB + 1))
    assert_error(response, 413, "archive_too_large")
    assert not Job.objects.filter(kind="import").exists()
    assert stored_files(media_root) == set()
