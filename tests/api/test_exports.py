"""Export requests through the API: what a 202 queues, every validation error, who may
export and see exports, and the download's states. No worker runs here: the job's task
is sent only when the request's transaction commits, which never happens inside a
``django_db`` test, so the job stays ``queued`` and the states a worker would reach are
set on the rows directly. (``tests/workers/runtime/test_exports_and_imports.py`` runs
real exports.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from annotator.models import Export, Job
from tests.api.helpers import assert_error, assert_queued_job

pytestmark = pytest.mark.django_db

FORMATS = ("coco", "masks", "yolo-seg", "native", "davis")
# The fields of an export in the API (docs/api.md).
EXPORT_FIELDS = {"id", "job", "format", "options", "status", "size_bytes", "counts"} | {
    "download",
    "created",
    "expires",
}


def exports_url(project_id: int) -> str:
    return f"/api/projects/{project_id}/exports/"


def start(client: Any, project_id: int, body: Any) -> Any:
    return client.post(exports_url(project_id), body, format="json")


@pytest.fixture
def started(team: dict[str, Any], client_for: Callable[[Any], Any]) -> Export:
    """A coco export the owner asked for (its job queued, no file yet)."""
    response = start(client_for(team["owner"]), team["project"].pk, {"format": "coco"})
    assert response.status_code == 202, response.content
    return Export.objects.select_related("job").get(pk=response.json()["export"])


def finish(export: Export, media_root: Path, data: bytes = b"PK\x05\x06" + b"\0" * 18) -> None:
    """What a worker leaves behind: the job done and the archive in storage."""
    path = media_root / "exports" / f"export-{export.pk}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    Job.objects.filter(pk=export.job_id).update(
        status="done", progress=1.0, finished=timezone.now()
    )
    Export.objects.filter(pk=export.pk).update(
        file=f"exports/export-{export.pk}.zip", size_bytes=len(data)
    )


# --- starting an export ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "annotator", "reviewer", "viewer"])
def test_any_member_may_export(
    role: str,
    team: dict[str, Any],
    client_for: Callable[[Any], Any],
    django_capture_on_commit_callbacks: Any,
    settings: Any,
) -> None:
    settings.EXPORT_TTL_HOURS = 5
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = start(client_for(team[role]), team["project"].pk, {"format": "native"})
    assert response.status_code == 202, response.content
    body = response.json()
    assert set(body) == {"job", "export"}

    export = Export.objects.get(pk=body["export"])
    job = Job.objects.get(pk=body["job"])
    assert export.job_id == job.pk
    assert (export.project_id, export.format, export.created_by) == (
        team["project"].pk,
        "native",
        team[role],
    )
    assert_queued_job(job, team["project"], "export", team[role])
    assert not export.file and export.size_bytes == 0
    ttl = timedelta(hours=5)
    assert before + ttl <= export.expires <= timezone.now() + ttl
    # Exactly one task send waits for the commit (not run here: no broker needed).
    assert len(callbacks) == 1


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_is_accepted(
    fmt: str, team: dict[str, Any], client_for: Callable[[Any], Any]
) -> None:
    response = start(client_for(team["viewer"]), team["project"].pk, {"format": fmt})
    assert response.status_code == 202, response.content
    export = Export.objects.select_related("job").get(pk=response.json()["export"])
    assert export.format == fmt and export.job.params["format"] == fmt


def test_defaults_without_a_body(team: dict[str, Any], client_for: Callable[[Any], Any]) -> None:
    response = start(client_for(team["owner"]), team["project"].pk, {})
    assert response.status_code == 202, response.content
    export = Export.objects.select_related("job").get(pk=response.json()["export"])
    options = {"labels": None, "assets": None, "review_status": None, "include_images": False}
    assert export.format == "coco" and export.options == options
    assert export.job.params == {"format": "coco", **options}


def test_the_filters_are_stored_with_the_export_and_its_job(
    team: dict[str, Any], client_for: Callable[[Any], Any], upload: Callable[..., Any]
) -> None:
    asset = upload(team["owner"], team["project"].pk).json()
    cat = client_for(team["owner"]).post(
        f"/api/projects/{team['project'].pk}/labels/", {"name": "cat"}, format="json"
    )
    assert cat.status_code == 201, cat.content
    body = {
        "format": "yolo-seg",
        "include_images": True,
        "labels": [team["label"].pk, cat.json()["id"]],
        "assets": [asset["id"]],
        "review_status": "accepted",  # one status may be given without a list
    }
    response = start(client_for(team["annotator"]), team["project"].pk, body)
    assert response.status_code == 202, response.content
    export = Export.objects.select_related("job").get(pk=response.json()["export"])
    options = {
        "labels": [team["label"].pk, cat.json()["id"]],
        "assets": [asset["id"]],
        "review_status": ["accepted"],
        "include_images": True,
    }
    assert export.options == options
    assert export.job.params == {"format": "yolo-seg", **options}


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"format": "pascal"}, "invalid_format", id="unknown-format"),
        pytest.param({"format": "COCO"}, "invalid_format", id="format-is-case-sensitive"),
        pytest.param({"format": None}, "invalid_format", id="null-format"),
        pytest.param({"labels": [999999]}, "unknown_label", id="no-such-label"),
        pytest.param({"assets": [999999]}, "unknown_asset", id="no-such-asset"),
        pytest.param({"labels": "1"}, "invalid_filter", id="labels-not-a-list"),
        pytest.param({"labels": ["1"]}, "invalid_filter", id="labels-of-strings"),
        pytest.param({"labels": [1.5]}, "invalid_filter", id="labels-of-floats"),
        pytest.param({"labels": [True]}, "invalid_filter", id="labels-of-booleans"),
        pytest.param({"labels": {"id": 1}}, "invalid_filter", id="labels-an-object"),
        pytest.param({"assets": 1}, "invalid_filter", id="assets-not-a-list"),
        pytest.param({"assets": [None]}, "invalid_filter", id="assets-of-nulls"),
        pytest.param({"review_status": ["maybe"]}, "invalid_filter", id="unknown-review-status"),
        pytest.param(
            {"review_status": ["accepted", "maybe"]}, "invalid_filter", id="one-bad-review-status"
        ),
        pytest.param({"review_status": "maybe"}, "invalid_filter", id="bad-review-status-string"),
        pytest.param({"review_status": 1}, "invalid_filter", id="review-status-a-number"),
        pytest.param({"include_images": "yes"}, "invalid_filter", id="include-images-a-string"),
        pytest.param({"include_images": "true"}, "invalid_filter", id="include-images-true-str"),
        pytest.param({"include_images": 1}, "invalid_filter", id="include-images-a-number"),
        pytest.param({"include_images": None}, "invalid_filter", id="include-images-null"),
    ],
)
def test_a_bad_request_is_a_400_and_queues_nothing(
    body: dict[str, Any],
    code: str,
    team: dict[str, Any],
    client_for: Callable[[Any], Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = start(client_for(team["owner"]), team["project"].pk, body)
    assert_error(response, 400, code)
    assert not Job.objects.exists() and not Export.objects.exists()
    assert callbacks == []


def test_labels_of_another_project_are_unknown(
    team: dict[str, Any], client_for: Callable[[Any], Any], other_project: Any
) -> None:
    theirs = other_project.labels.get().pk
    for labels in ([theirs], [team["label"].pk, theirs]):
        body = assert_error(
            start(client_for(team["owner"]), team["project"].pk, {"labels": labels}),
            400,
            "unknown_label",
        )
        assert str(theirs) in body["detail"]
    assert not Job.objects.exists() and not Export.objects.exists()


def test_assets_of_another_project_are_unknown(
    team: dict[str, Any],
    client_for: Callable[[Any], Any],
    other_project: Any,
    upload: Callable[..., Any],
) -> None:
    stranger = other_project.memberships.get().user
    theirs = upload(stranger, other_project.pk)
    assert theirs.status_code == 201, theirs.content
    mine = upload(team["owner"], team["project"].pk).json()["id"]
    jobs_before = Job.objects.count()  # the uploads queued their own jobs
    body = assert_error(
        start(
            client_for(team["owner"]),
            team["project"].pk,
            {"assets": [mine, theirs.json()["id"]]},
        ),
        400,
        "unknown_asset",
    )
    assert str(theirs.json()["id"]) in body["detail"]
    assert Job.objects.count() == jobs_before and not Export.objects.exists()


def test_a_nested_review_status_is_a_400(
    team: dict[str, Any], client_for: Callable[[Any], Any]
) -> None:
    response = start(
        client_for(team["owner"]), team["project"].pk, {"review_status": [["accepted"]]}
    )
    assert_error(response, 400, "invalid_filter")


@pytest.mark.parametrize("field", ["labels", "assets"])
def test_an_id_out_of_range_is_a_400(
    field: str, team: dict[str, Any], client_for: Callable[[Any], Any]
) -> None:
    # Past 2**53 no JSON client holds the number exactly: the parser refuses it.
    response = start(client_for(team["owner"]), team["project"].pk, {field: [2**70]})
    assert_error(response, 400, "parse_error")


# --- who sees what ---------------------------------------------------------------------------


def test_the_list_shows_the_projects_exports_newest_first(
    team: dict[str, Any],
    client_for: Callable[[Any], Any],
    other_project: Any,
) -> None:
    owner = client_for(team["owner"])
    first = start(owner, team["project"].pk, {"format": "coco"}).json()
    second = start(client_for(team["viewer"]), team["project"].pk, {"format": "masks"}).json()
    stranger = client_for(other_project.memberships.get().user)
    assert start(stranger, other_project.pk, {}).status_code == 202

    response = client_for(team["reviewer"]).get(exports_url(team["project"].pk))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2
    assert [e["id"] for e in body["results"]] == [second["export"], first["export"]]
    newest = body["results"][0]
    assert set(newest) == EXPORT_FIELDS
    assert (newest["job"], newest["format"], newest["status"]) == (second["job"], "masks", "queued")
    assert newest["download"] is None and newest["size_bytes"] == 0


def test_the_detail_follows_the_job(
    team: dict[str, Any], client_for: Callable[[Any], Any], started: Export, media_root: Path
) -> None:
    client = client_for(team["viewer"])
    url = f"/api/exports/{started.pk}/"
    body = client.get(url).json()
    assert set(body) == EXPORT_FIELDS
    assert (body["id"], body["job"], body["format"]) == (started.pk, started.job_id, "coco")
    assert (body["status"], body["download"]) == ("queued", None)
    assert body["options"] == started.options

    finish(started, media_root, b"zip bytes")
    body = client.get(url).json()
    assert body["status"] == "done"
    assert body["download"] == f"/api/exports/{started.pk}/download"
    assert body["size_bytes"] == len(b"zip bytes")


def test_outsiders_see_no_exports(
    team: dict[str, Any], client_for: Callable[[Any], Any], started: Export, media_root: Path
) -> None:
    finish(started, media_root)
    outsider = client_for(team["outsider"])
    assert_error(outsider.get(exports_url(team["project"].pk)), 404)
    assert_error(outsider.get(f"/api/exports/{started.pk}/"), 404)
    assert_error(outsider.get(f"/api/exports/{started.pk}/download"), 404)
    jobs_before = Job.objects.count()
    assert_error(start(outsider, team["project"].pk, {"format": "coco"}), 404)
    assert Job.objects.count() == jobs_before and Export.objects.count() == 1


def test_a_member_of_another_project_sees_none_of_these_exports(
    team: dict[str, Any], client_for: Callable[[Any], Any], started: Export, other_project: Any
) -> None:
    stranger = client_for(other_project.memberships.get().user)
    assert_error(stranger.get(exports_url(team["project"].pk)), 404)
    assert_error(stranger.get(f"/api/exports/{started.pk}/"), 404)
    assert_error(stranger.get(f"/api/exports/{started.pk}/download"), 404)
    # Their own project's list does not show it either.
    assert stranger.get(exports_url(other_project.pk)).json()["count"] == 0


def test_anonymous_requests_are_refused(
    team: dict[str, Any], client_for: Callable[[Any], Any], started: Export
) -> None:
    anonymous = client_for(None)
    assert_error(anonymous.get(exports_url(team["project"].pk)), 401)
    assert_error(start(anonymous, team["project"].pk, {}), 401)
    assert_error(anonymous.get(f"/api/exports/{started.pk}/"), 401)
    assert_error(anonymous.get(f"/api/exports/{started.pk}/download"), 401)
    assert Export.objects.count() == 1


def test_an_unknown_project_or_export_is_a_404(
    team: dict[str, Any], client_for: Callable[[Any], Any]
) -> None:
    owner = client_for(team["owner"])
    assert_error(start(owner, 999999, {}), 404)
    assert_error(owner.get(exports_url(999999)), 404)
    assert_error(owner.get("/api/exports/999999/"), 404)
    assert_error(owner.get("/api/exports/999999/download"), 404)


# --- download ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["queued", "running"])
def test_download_before_the_job_is_done(
    status: str, team: dict[str, Any], client_for: Callable[[Any], Any], started: Export
) -> None:
    Job.objects.filter(pk=started.job_id).update(status=status)
    response = client_for(team["owner"]).get(f"/api/exports/{started.pk}/download")
    assert_error(response, 404, "export_not_ready")


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_download_of_a_failed_export(
    status: str, team: dict[str, Any], client_for: Callable[[Any], Any], started: Export
) -> None:
    Job.objects.filter(pk=started.job_id).update(
        status=status, error="disk full", finished=timezone.now()
    )
    response = client_for(team["viewer"]).get(f"/api/exports/{started.pk}/download")
    body = assert_error(response, 404, "export_failed")
    assert status in body["detail"]
    if status == "failed":
        assert "disk full" in body["detail"]


def test_download_of_an_expired_export(
    team: dict[str, Any], client_for: Callable[[Any], Any], started: Export, media_root: Path
) -> None:
    finish(started, media_root)  # even a finished archive is gone once expired
    Export.objects.filter(pk=started.pk).update(expires=timezone.now() - timedelta(seconds=1))
    response = client_for(team["owner"]).get(f"/api/exports/{started.pk}/download")
    assert_error(response, 404, "export_expired")


def test_an_expired_export_that_never_finished_is_expired(
    team: dict[str, Any], client_for: Callable[[Any], Any], started: Export
) -> None:
    Export.objects.filter(pk=started.pk).update(expires=timezone.now() - timedelta(hours=1))
    response = client_for(team["owner"]).get(f"/api/exports/{started.pk}/download")
    assert_error(response, 404, "export_expired")


@pytest.mark.parametrize("role", ["owner", "annotator", "reviewer", "viewer"])
def test_every_member_downloads_a_finished_export(
    role: str,
    team: dict[str, Any],
    client_for: Callable[[Any], Any],
    started: Export,
    media_root: Path,
) -> None:
    data = b"PK\x03\x04 not really a zip, served byte for byte"
    finish(started, media_root, data)
    response = client_for(team[role]).get(f"/api/exports/{started.pk}/download")
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/zip"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert f'filename="project-{team["project"].pk}-coco-{started.pk}.zip"' in disposition
    assert b"".join(response.streaming_content) == data
