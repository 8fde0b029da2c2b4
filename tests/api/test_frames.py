"""Frame images and thumbnails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile

from annotator.models import Asset
from tests.annotator import sample_images as images
from tests.api.helpers import HEIGHT, WIDTH, assert_error

pytestmark = pytest.mark.django_db


def test_it_serves_frame_zero_of_an_image(
    team: dict[str, Any], asset: Asset, client_for: Any
) -> None:
    response = client_for(team["viewer"]).get(f"/api/assets/{asset.pk}/frames/0/image")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/png", "image/jpeg")
    image = images.decode_image(b"".join(response.streaming_content))
    assert image.size == (WIDTH, HEIGHT)


def test_it_serves_jpeg_frames_as_jpeg(team: dict[str, Any], upload: Any, client_for: Any) -> None:
    data = images.jpeg(80, 30)
    asset_id = upload(team["owner"], team["project"].pk, data, name="photo.jpg").json()["id"]
    response = client_for(team["owner"]).get(f"/api/assets/{asset_id}/frames/0/image")
    assert response["Content-Type"] == "image/jpeg"
    assert images.decode_image(b"".join(response.streaming_content)).size == (80, 30)


def test_it_rejects_a_frame_out_of_range(
    team: dict[str, Any], asset: Asset, client_for: Any
) -> None:
    response = client_for(team["owner"]).get(f"/api/assets/{asset.pk}/frames/1/image")
    body = assert_error(response, 404, "frame_out_of_range")
    assert "1" in body["detail"]


def test_it_says_when_the_frame_file_is_missing(
    team: dict[str, Any], asset: Asset, client_for: Any, media_root: Path
) -> None:
    (media_root / asset.file.name).unlink()
    response = client_for(team["owner"]).get(f"/api/assets/{asset.pk}/frames/0/image")
    assert_error(response, 404, "frame_missing")


def test_it_hides_frames_from_outsiders(
    team: dict[str, Any], asset: Asset, client_for: Any
) -> None:
    client = client_for(team["outsider"])
    assert_error(client.get(f"/api/assets/{asset.pk}/frames/0/image"), 404)
    assert_error(client.get(f"/api/assets/{asset.pk}/thumbnail"), 404)


def test_it_rejects_anonymous_frame_requests(
    team: dict[str, Any], asset: Asset, client_for: Any
) -> None:
    assert_error(client_for(None).get(f"/api/assets/{asset.pk}/frames/0/image"), 401)


def test_it_says_when_the_thumbnail_is_not_ready(
    team: dict[str, Any], asset: Asset, client_for: Any
) -> None:
    assert client_for(team["owner"]).get(f"/api/assets/{asset.pk}/").json()["thumbnail"] is None
    response = client_for(team["owner"]).get(f"/api/assets/{asset.pk}/thumbnail")
    assert_error(response, 404, "thumbnail_not_ready")


def test_it_serves_the_thumbnail_once_made(
    team: dict[str, Any], asset: Asset, client_for: Any
) -> None:
    thumbnail = images.jpeg(32, 24)
    asset.thumbnail.save("thumb.jpg", ContentFile(thumbnail), save=True)
    client = client_for(team["viewer"])
    assert client.get(f"/api/assets/{asset.pk}/").json()["thumbnail"] == (
        f"/api/assets/{asset.pk}/thumbnail"
    )
    response = client.get(f"/api/assets/{asset.pk}/thumbnail")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == thumbnail
