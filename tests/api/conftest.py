"""Fixtures for the API tests: media stored in a fresh folder per test, an uploaded
image asset and an annotation on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.annotator.sample_images import box_mask, png, rle_of
from tests.api.helpers import HEIGHT, WIDTH


@pytest.fixture(autouse=True)
def media_root(tmp_path: Path, settings: Any) -> Path:
    """Every test stores its files in its own empty folder."""
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = str(root)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(root)},
        },
    }
    return root


@pytest.fixture
def upload(client_for: Callable[[Any], Any]) -> Callable[..., Any]:
    """``upload(user, project_id, data, name, **extra_fields)`` -> the response."""

    def post(
        user: Any, project_id: int, data: bytes | None = None, name: str = "img.png", **fields: Any
    ) -> Any:
        file = SimpleUploadedFile(name, png() if data is None else data, "application/octet-stream")
        return client_for(user).post(
            f"/api/projects/{project_id}/assets/", {"file": file, **fields}, format="multipart"
        )

    return post


@pytest.fixture
def asset(team: dict[str, Any], upload: Callable[..., Any]) -> Any:
    """A 64x48 PNG uploaded by the owner."""
    from annotator.models import Asset

    response = upload(team["owner"], team["project"].pk)
    assert response.status_code == 201, response.content
    return Asset.objects.get(pk=response.json()["id"])


@pytest.fixture
def square_rle() -> dict[str, Any]:
    """A 10x10 square at (5, 5) on the 64x48 frame."""
    return rle_of(box_mask(HEIGHT, WIDTH, 5, 5, 15, 15))


@pytest.fixture
def annotation(team: dict[str, Any], asset: Any, square_rle: dict[str, Any]) -> Any:
    from annotator.services.annotations import create_annotation

    return create_annotation(
        asset=asset, frame=0, label=team["label"], mask=square_rle, author=team["annotator"]
    )


@pytest.fixture
def other_project(make_user: Callable[[str], Any]) -> Any:
    """A project of somebody else, with its own label."""
    from annotator.services.projects import create_project

    stranger = make_user("stranger")
    return create_project(stranger, "Cats", "", [{"name": "cat", "color": "#0000ff"}])


@pytest.fixture
def other_asset(other_project: Any) -> Any:
    """An image of ``other_project`` (64 x 48, rows only): for cross-project checks."""
    from annotator.models import Asset

    return Asset.objects.create(
        project=other_project, kind="image", name="c.png", checksum="2" * 64, width=64, height=48
    )
