"""Jobs: their state, the project's list, and cancelling."""

from __future__ import annotations

from typing import Any

import pytest

from annotator.models import Job
from annotator.services import jobs as job_service
from tests.api.helpers import assert_error
from workers.runtime import lifecycle

pytestmark = pytest.mark.django_db


@pytest.fixture
def revoked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Celery ids revoked, recorded instead of sent to a broker."""
    calls: list[str] = []
    monkeypatch.setattr(
        job_service.app.control, "revoke", lambda task_id, **kw: calls.append(task_id)
    )
    return calls


def make_job(team: dict[str, Any], creator: str = "annotator", **fields: Any) -> Job:
    return job_service.start_job(
        project=team["project"],
        kind=fields.pop("kind", "export"),
        user=team[creator],
        **fields,
    )


def fail(job: Job, error: str) -> None:
    """What a worker does with a job that fails: claim it, then fail it."""
    lease = lifecycle.claim(job.pk, job.celery_id)
    assert lease is not None and lifecycle.fail(lease, error)


def test_it_shows_a_job(team: dict[str, Any], client_for: Any) -> None:
    job = make_job(team, params={"format": "coco"})
    body = client_for(team["viewer"]).get(f"/api/jobs/{job.pk}/").json()
    assert set(body) >= {"id", "kind", "status", "progress", "result", "error"}
    assert (body["id"], body["kind"], body["status"]) == (job.pk, "export", "queued")
    assert body["progress"] == 0.0 and body["result"] is None and body["error"] == ""
    assert body["project"] == team["project"].pk


def test_it_shows_progress_and_the_result(team: dict[str, Any], client_for: Any) -> None:
    job = make_job(team)
    lease = lifecycle.claim(job.pk, job.celery_id)
    assert lease is not None
    lifecycle.report_progress(lease, 0.4, "halfway")
    client = client_for(team["owner"])
    body = client.get(f"/api/jobs/{job.pk}/").json()
    assert (body["status"], body["progress"], body["message"]) == ("running", 0.4, "halfway")
    assert body["started"] is not None

    lifecycle.finish(lease, {"download": "/api/exports/1/download"})
    body = client.get(f"/api/jobs/{job.pk}/").json()
    assert body["status"] == "done" and body["progress"] == 1.0
    assert body["result"] == {"download": "/api/exports/1/download"}
    assert body["finished"] is not None


def test_it_shows_a_failure(team: dict[str, Any], client_for: Any) -> None:
    job = make_job(team)
    fail(job, "disk full")
    body = client_for(team["owner"]).get(f"/api/jobs/{job.pk}/").json()
    assert (body["status"], body["error"]) == ("failed", "disk full")


def test_it_lists_the_jobs_of_a_project(
    team: dict[str, Any], client_for: Any, other_project: Any
) -> None:
    first = make_job(team, kind="export")
    second = make_job(team, kind="thumbnail")
    fail(second, "broken")
    Job.objects.create(project=other_project, kind="export")
    client = client_for(team["reviewer"])
    url = f"/api/projects/{team['project'].pk}/jobs/"

    body = client.get(url).json()
    assert body["count"] == 2
    assert [j["id"] for j in body["results"]] == [second.pk, first.pk]  # newest first
    assert [j["id"] for j in client.get(url + "?status=failed").json()["results"]] == [second.pk]
    assert [j["id"] for j in client.get(url + "?status=queued,running").json()["results"]] == [
        first.pk
    ]
    assert [j["id"] for j in client.get(url + "?kind=export").json()["results"]] == [first.pk]


@pytest.mark.parametrize("canceller", ["annotator", "owner"])
def test_the_creator_or_an_owner_cancels(
    canceller: str, team: dict[str, Any], client_for: Any, revoked: list[str]
) -> None:
    job = make_job(team, creator="annotator")
    response = client_for(team[canceller]).post(f"/api/jobs/{job.pk}/cancel/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    job.refresh_from_db()
    assert job.status == "cancelled" and job.finished is not None
    assert revoked == [job.celery_id]


def test_a_running_job_notices_the_cancel(
    team: dict[str, Any], client_for: Any, revoked: list[str]
) -> None:
    job = make_job(team)
    lease = lifecycle.claim(job.pk, job.celery_id)
    assert lease is not None
    client_for(team["owner"]).post(f"/api/jobs/{job.pk}/cancel/")
    with pytest.raises(lifecycle.JobCancelled):
        lifecycle.report_progress(lease, 0.5)
    assert not lifecycle.finish(lease, {"x": 1})
    job.refresh_from_db()
    assert job.status == "cancelled" and job.result is None


def test_a_failing_revoke_still_cancels(
    team: dict[str, Any], client_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(task_id: str, **kwargs: Any) -> None:
        raise ConnectionError("no broker")

    monkeypatch.setattr(job_service.app.control, "revoke", broken)
    job = make_job(team)
    response = client_for(team["annotator"]).post(f"/api/jobs/{job.pk}/cancel/")
    assert response.status_code == 200
    job.refresh_from_db()
    assert job.status == "cancelled"


@pytest.mark.parametrize("role", ["reviewer", "viewer"])
def test_other_members_cannot_cancel(
    role: str, team: dict[str, Any], client_for: Any, revoked: list[str]
) -> None:
    job = make_job(team, creator="annotator")
    assert_error(client_for(team[role]).post(f"/api/jobs/{job.pk}/cancel/"), 403)
    job.refresh_from_db()
    assert job.status == "queued" and revoked == []


def test_another_annotator_cannot_cancel(
    team: dict[str, Any], client_for: Any, make_user: Any, revoked: list[str]
) -> None:
    from annotator.services.projects import set_member

    make_user("second")
    set_member(team["project"], "second", "annotator")
    job = make_job(team, creator="annotator")
    assert_error(
        client_for(team["project"].memberships.get(user__username="second").user).post(
            f"/api/jobs/{job.pk}/cancel/"
        ),
        403,
    )
    job.refresh_from_db()
    assert job.status == "queued" and revoked == []


def test_outsiders_see_no_jobs(team: dict[str, Any], client_for: Any, revoked: list[str]) -> None:
    job = make_job(team)
    client = client_for(team["outsider"])
    assert_error(client.get(f"/api/jobs/{job.pk}/"), 404)
    assert_error(client.post(f"/api/jobs/{job.pk}/cancel/"), 404)
    assert_error(client.get(f"/api/projects/{team['project'].pk}/jobs/"), 404)
    job.refresh_from_db()
    assert job.status == "queued" and revoked == []


@pytest.mark.parametrize("finish", ["done", "failed", "cancelled"])
def test_cancelling_a_finished_job_leaves_it_as_it_is(
    finish: str, team: dict[str, Any], client_for: Any, revoked: list[str]
) -> None:
    job = make_job(team)
    lease = lifecycle.claim(job.pk, job.celery_id)
    assert lease is not None
    if finish == "done":
        lifecycle.finish(lease, {"n": 3})
    elif finish == "failed":
        lifecycle.fail(lease, "broken")
    else:
        job_service.cancel_job(job)
        revoked.clear()
    before = Job.objects.values().get(pk=job.pk)

    response = client_for(team["owner"]).post(f"/api/jobs/{job.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == finish
    assert Job.objects.values().get(pk=job.pk) == before
    assert revoked == []


def test_cancelling_a_queued_ingest_fails_its_video_at_once(
    team: dict[str, Any], client_for: Any, upload: Any
) -> None:
    from annotator.models import Asset
    from tests.annotator.sample_videos import mp4

    created = upload(team["owner"], team["project"].pk, mp4(4), name="clip.mp4").json()
    job = Job.objects.get(asset_id=created["id"], kind="ingest")
    response = client_for(team["owner"]).post(f"/api/jobs/{job.pk}/cancel/")
    assert response.status_code == 200, response.content
    asset = Asset.objects.get(pk=created["id"])
    assert (asset.status, asset.error_code) == ("failed", "cancelled")
    body = client_for(team["owner"]).get(f"/api/assets/{asset.pk}/").json()
    assert body["status"] == "failed" and body["error"]
