"""Assertions and small helpers shared by the API tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# The size of the default test image (``sample_images.png()``).
WIDTH, HEIGHT = 64, 48


def stored_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.content[:500])
    body = response.json()
    assert isinstance(body.get("detail"), str) and body["detail"], body
    assert isinstance(body.get("code"), str) and body["code"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_queued_job(job: Any, project: Any, kind: str, user: Any) -> None:
    """A job as a request leaves it: queued, of ``kind``, in ``project``, by ``user``,
    with nothing run yet."""
    assert (job.project_id, job.kind, job.status, job.created_by) == (
        project.pk,
        kind,
        "queued",
        user,
    )
    assert job.asset_id is None and job.result is None and job.error == ""
