"""Helpers of the export and import tests with a real worker: running an export through
the API, posting an import, building a COCO zip, and finding what an import stored in
media storage."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

from django.conf import settings

from annotator.models import Job
from tests.conftest import wait_for_job


def export_zip(client: Any, project_id: int, body: dict[str, Any]) -> zipfile.ZipFile:
    """Start an export through the API, wait for the worker, download the zip."""
    response = client.post(f"/api/projects/{project_id}/exports/", body, format="json")
    assert response.status_code == 202, response.content
    job = wait_for_job(response.json()["job"])
    assert job.status == "done", job.error
    download = client.get(job.result["download"])
    assert download.status_code == 200
    return zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))


def media() -> Path:
    return Path(settings.MEDIA_ROOT)


def files_of_content(data: bytes) -> list[str]:
    """Stored asset files made from these image bytes (their names start with the
    content's checksum)."""
    prefix = hashlib.sha256(data).hexdigest()[:16]
    return sorted(
        str(p.relative_to(media()))
        for folder in ("assets/original", "assets/display")
        for p in (media() / folder).rglob(f"{prefix}*")
    )


def post_import(client: Any, project_id: int, data: bytes, name: str, **fields: Any) -> Job:
    upload = io.BytesIO(data)
    upload.name = name
    response = client.post(
        f"/api/projects/{project_id}/imports/", {"file": upload, **fields}, format="multipart"
    )
    assert response.status_code == 202, response.content
    return Job.objects.get(pk=response.json()["job"])


def coco_zip(coco: dict[str, Any], images: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("annotations.json", json.dumps(coco))
        for name, data in images.items():
            archive.writestr(f"images/{name}", data)
    return buffer.getvalue()
