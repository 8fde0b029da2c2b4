"""Uploading, listing and deleting image assets; bad uploads store nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from annotator.models import Asset, Frame, Job
from tests.annotator import sample_images as images
from tests.api.helpers import assert_error, stored_files

pytestmark = pytest.mark.django_db

# Pillow raises OSError from Image.open itself for some damaged files; inspect_image only
# catches UnidentifiedImageError there, so those uploads end in a 500.

FORMATS: dict[str, Callable[[], bytes]] = {
    "png": images.png,
    "jpeg": images.jpeg,
    "tiff8": images.tiff8,
    "tiff16": images.tiff16,
    "png16": images.png16,
    "tiff_float": images.tiff_float,
    "webp": images.webp,
    "bmp": images.bmp,
}


def frame_image(client: Any, asset_id: int, index: int = 0) -> Any:
    response = client.get(f"/api/assets/{asset_id}/frames/{index}/image")
    assert response.status_code == 200, response.content[:300]
    return response


def stored_original(media_root: Path, asset: Asset) -> bytes:
    return (media_root / asset.file.name).read_bytes()


@pytest.mark.parametrize("fmt", FORMATS)
def test_it_stores_each_image_format(
    fmt: str, team: dict[str, Any], upload: Any, client_for: Any, media_root: Path
) -> None:
    data = FORMATS[fmt]()
    response = upload(team["annotator"], team["project"].pk, data, name=f"picture.{fmt}")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "image"
    assert (body["width"], body["height"], body["num_frames"]) == (64, 48, 1)
    assert body["name"] == f"picture.{fmt}"
    assert body["status"] in ("processing", "ready")

    asset = Asset.objects.get(pk=body["id"])
    assert asset.project_id == team["project"].pk
    assert asset.uploaded_by == team["annotator"]
    assert asset.checksum == hashlib.sha256(data).hexdigest() == body["checksum"]
    assert asset.size_bytes == len(data)
    assert stored_original(media_root, asset) == data
    frame = Frame.objects.get(asset=asset)
    assert (frame.index, frame.width, frame.height) == (0, 64, 48)

    served = frame_image(client_for(team["viewer"]), asset.pk)
    image = images.decode_image(b"".join(served.streaming_content))
    assert image.size == (64, 48)
    assert image.mode in ("RGB", "RGBA", "L", "P")  # 8-bit, displayable


@pytest.mark.parametrize("fmt", ["tiff16", "png16", "tiff_float"])
def test_it_normalises_high_bit_depth_for_display_and_keeps_the_original(
    fmt: str, team: dict[str, Any], upload: Any, client_for: Any, media_root: Path
) -> None:
    data = FORMATS[fmt]()
    response = upload(team["owner"], team["project"].pk, data, name=f"deep.{fmt}")
    assert response.status_code == 201, response.content
    asset = Asset.objects.get(pk=response.json()["id"])

    assert stored_original(media_root, asset) == data
    assert asset.display_file, "a 16-bit/float image needs an 8-bit rendering"
    served = frame_image(client_for(team["owner"]), asset.pk)
    assert served["Content-Type"] == "image/png"
    rendering = images.decode_image(b"".join(served.streaming_content))
    assert rendering.mode == "RGB"
    pixels = np.asarray(rendering)
    assert pixels.dtype == np.uint8
    # Stretched over the 8-bit range, not clipped to black/white.
    assert pixels.min() <= 10 and pixels.max() >= 245
    assert len(np.unique(pixels)) > 50


def test_it_applies_exif_orientation(
    team: dict[str, Any], upload: Any, client_for: Any, media_root: Path
) -> None:
    data = images.jpeg_with_orientation(6, width=60, height=40)
    response = upload(team["owner"], team["project"].pk, data, name="phone.jpg")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["width"], body["height"]) == (40, 60)
    asset = Asset.objects.get(pk=body["id"])
    assert asset.metadata.get("exif_orientation") == 6
    assert stored_original(media_root, asset) == data
    frame = Frame.objects.get(asset=asset)
    assert (frame.width, frame.height) == (40, 60)

    served = frame_image(client_for(team["owner"]), asset.pk)
    shown = np.asarray(images.decode_image(b"".join(served.streaming_content)).convert("RGB"))
    assert shown.shape == (60, 40, 3)
    # Orientation 6: the camera was turned, the picture is rotated 90 degrees clockwise
    # for display. TL red, TR green, BL blue, BR white becomes TL blue, TR red, ...
    expected = np.rot90(images.quadrants(60, 40), k=-1)
    assert images.corner_colors(shown) == images.corner_colors(expected)
    assert images.corner_colors(shown) == [(0, 0, 255), (255, 0, 0), (255, 255, 255), (0, 255, 0)]


def test_it_serves_a_plain_png_as_uploaded(
    team: dict[str, Any], upload: Any, client_for: Any
) -> None:
    data = images.png()
    asset_id = upload(team["owner"], team["project"].pk, data).json()["id"]
    served = frame_image(client_for(team["owner"]), asset_id)
    assert served["Content-Type"] == "image/png"
    assert b"".join(served.streaming_content) == data


def test_it_serves_the_right_content_type_whatever_the_file_name(
    team: dict[str, Any], upload: Any, client_for: Any
) -> None:
    asset_id = upload(team["owner"], team["project"].pk, images.png(), name="scan").json()["id"]
    served = frame_image(client_for(team["owner"]), asset_id)
    assert served["Content-Type"] == "image/png"


@pytest.mark.parametrize("fmt", ["webp", "bmp"])
def test_it_serves_every_frame_as_png_or_jpeg(
    fmt: str, team: dict[str, Any], upload: Any, client_for: Any
) -> None:
    response = upload(team["owner"], team["project"].pk, FORMATS[fmt](), name=f"x.{fmt}")
    served = frame_image(client_for(team["owner"]), response.json()["id"])
    assert served["Content-Type"] in ("image/png", "image/jpeg")


def test_it_queues_thumbnail_and_embedding_jobs(team: dict[str, Any], asset: Asset) -> None:
    jobs = Job.objects.filter(asset=asset)
    assert sorted(jobs.values_list("kind", flat=True)) == ["embed", "thumbnail"]
    assert set(jobs.values_list("status", flat=True)) == {"queued"}
    asset.refresh_from_db()
    assert asset.embedding_status == "queued"


def test_it_keeps_only_the_base_name_of_the_file(
    team: dict[str, Any], upload: Any, media_root: Path
) -> None:
    response = upload(team["owner"], team["project"].pk, name="../../etc/evil.png")
    assert response.status_code == 201, response.content
    asset = Asset.objects.get(pk=response.json()["id"])
    assert asset.name == "evil.png"
    stored = (media_root / asset.file.name).resolve()
    assert stored.is_relative_to(media_root.resolve())


def test_it_accepts_an_explicit_kind(team: dict[str, Any], upload: Any) -> None:
    response = upload(team["owner"], team["project"].pk, kind="image")
    assert response.status_code == 201
    assert response.json()["kind"] == "image"


def test_it_lists_assets_with_pagination(
    team: dict[str, Any], upload: Any, client_for: Any, other_project: Any
) -> None:
    ids = [
        upload(team["owner"], team["project"].pk, images.png(seed=i)).json()["id"] for i in range(3)
    ]
    Asset.objects.create(project=other_project, kind="image", name="foreign", checksum="0" * 64)
    client = client_for(team["viewer"])

    first = client.get(f"/api/projects/{team['project'].pk}/assets/?page_size=2").json()
    assert set(first) >= {"count", "next", "previous", "results"}
    assert first["count"] == 3 and first["previous"] is None and first["next"]
    assert [a["id"] for a in first["results"]] == ids[:2]
    second = client.get(first["next"]).json()
    assert [a["id"] for a in second["results"]] == ids[2:]
    assert second["next"] is None and second["previous"]


def test_it_shows_one_asset(team: dict[str, Any], asset: Asset, client_for: Any) -> None:
    body = client_for(team["reviewer"]).get(f"/api/assets/{asset.pk}/").json()
    assert body["id"] == asset.pk
    assert body["project"] == team["project"].pk
    assert body["image"] == f"/api/assets/{asset.pk}/frames/0/image"
    assert body["checksum"] == asset.checksum


def test_it_deletes_the_asset_and_its_files(
    team: dict[str, Any],
    upload: Any,
    client_for: Any,
    media_root: Path,
    annotation: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    deep = upload(team["owner"], team["project"].pk, images.tiff16(), name="deep.tif").json()
    asset = Asset.objects.get(pk=deep["id"])
    paths = [asset.file.name, asset.display_file.name]
    assert all((media_root / p).is_file() for p in paths)

    with django_capture_on_commit_callbacks(execute=True):  # the files go after the commit
        response = client_for(team["annotator"]).delete(f"/api/assets/{asset.pk}/")
    assert response.status_code == 204
    assert not Asset.objects.filter(pk=asset.pk).exists()
    assert not Frame.objects.filter(asset_id=asset.pk).exists()
    assert not any((media_root / p).exists() for p in paths)
    # The other asset (and its annotation) are untouched.
    assert Asset.objects.filter(pk=annotation.asset_id).exists()
    assert (media_root / annotation.asset.file.name).is_file()


def test_deleting_an_asset_deletes_its_annotations(
    team: dict[str, Any], annotation: Any, client_for: Any
) -> None:
    response = client_for(team["owner"]).delete(f"/api/assets/{annotation.asset_id}/")
    assert response.status_code == 204
    assert not type(annotation).objects.filter(pk=annotation.pk).exists()


def test_identical_uploads_do_not_share_files(
    team: dict[str, Any],
    upload: Any,
    client_for: Any,
    media_root: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    data = images.tiff16()
    first = upload(team["owner"], team["project"].pk, data, name="same.tif").json()["id"]
    second = upload(team["owner"], team["project"].pk, data, name="same.tif").json()["id"]
    client = client_for(team["owner"])
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/assets/{first}/").status_code == 204
    remaining = Asset.objects.get(pk=second)
    assert stored_original(media_root, remaining) == data
    frame_image(client, second)


# --- bad uploads: an error with detail and code, and nothing stored ----------------------


@pytest.fixture
def nothing_stored(media_root: Path) -> Any:
    """Checks after the test that no asset, job or file was added."""
    before = (Asset.objects.count(), Job.objects.count(), stored_files(media_root))
    yield
    assert (Asset.objects.count(), Job.objects.count(), stored_files(media_root)) == before


@pytest.mark.usefixtures("nothing_stored")
class TestBadUploads:
    def test_it_rejects_a_file_over_the_size_limit(
        self, team: dict[str, Any], upload: Any, settings: Any
    ) -> None:
        settings.MAX_UPLOAD_MB = 1
        settings.MAX_UPLOAD_BYTES = 1000
        data = images.png()
        assert len(data) > 1000
        response = upload(team["owner"], team["project"].pk, data)
        assert_error(response, 413, "file_too_large")

    def test_it_rejects_a_file_that_is_not_an_image(
        self, team: dict[str, Any], upload: Any
    ) -> None:
        response = upload(team["owner"], team["project"].pk, b"just some text\n" * 10, name="a.png")
        assert_error(response, 400, "unknown_kind")

    def test_it_rejects_a_file_with_an_image_signature_but_garbage_inside(
        self, team: dict[str, Any], upload: Any
    ) -> None:
        response = upload(team["owner"], team["project"].pk, b"\x89PNG\r\n\x1a\n" + b"x" * 200)
        assert_error(response, 400, "invalid_image")

    @pytest.mark.parametrize(
        "make",
        [
            images.png,
            images.jpeg,
            images.tiff8,
            images.webp,
        ],
    )
    def test_it_rejects_a_truncated_image(
        self, make: Callable[..., bytes], team: dict[str, Any], upload: Any
    ) -> None:
        data = make(width=200, height=150)
        response = upload(team["owner"], team["project"].pk, data[: len(data) // 2])
        assert_error(response, 400, "invalid_image")

    @pytest.mark.parametrize("pixels", [100 * 100 - 1, 40 * 40])  # just over, and far over
    def test_it_rejects_a_decompression_bomb(
        self, pixels: int, team: dict[str, Any], upload: Any, settings: Any
    ) -> None:
        settings.MAX_IMAGE_PIXELS = pixels
        response = upload(team["owner"], team["project"].pk, images.png(100, 100))
        assert_error(response, 400, "image_too_large")

    def test_it_rejects_an_empty_file(self, team: dict[str, Any], upload: Any) -> None:
        response = upload(team["owner"], team["project"].pk, b"")
        assert_error(response, 400)

    def test_it_rejects_a_request_without_a_file(
        self, team: dict[str, Any], client_for: Any
    ) -> None:
        response = client_for(team["owner"]).post(
            f"/api/projects/{team['project'].pk}/assets/", {}, format="multipart"
        )
        assert_error(response, 400, "required")

    def test_it_rejects_a_kind_it_cannot_ingest(self, team: dict[str, Any], upload: Any) -> None:
        response = upload(team["owner"], team["project"].pk, kind="pointcloud")
        assert_error(response, 400, "unsupported_kind")

    def test_it_rejects_an_unknown_kind(self, team: dict[str, Any], upload: Any) -> None:
        response = upload(team["owner"], team["project"].pk, kind="hologram")
        assert_error(response, 400, "invalid_choice")

    def test_it_rejects_other_projects(
        self, team: dict[str, Any], upload: Any, other_project: Any
    ) -> None:
        assert_error(upload(team["owner"], other_project.pk), 404)
        assert_error(upload(team["owner"], 999_999), 404)

    def test_it_rejects_outsiders(self, team: dict[str, Any], upload: Any) -> None:
        assert_error(upload(team["outsider"], team["project"].pk), 404)

    @pytest.mark.parametrize("role", ["viewer", "reviewer"])
    def test_it_rejects_roles_that_cannot_annotate(
        self, role: str, team: dict[str, Any], upload: Any
    ) -> None:
        assert_error(upload(team[role], team["project"].pk), 403)

    def test_it_rejects_anonymous_uploads(self, team: dict[str, Any], upload: Any) -> None:
        assert_error(upload(None, team["project"].pk), 401)


@pytest.mark.parametrize("role", ["viewer", "reviewer"])
def test_roles_that_cannot_annotate_cannot_delete(
    role: str, team: dict[str, Any], asset: Asset, client_for: Any, media_root: Path
) -> None:
    assert_error(client_for(team[role]).delete(f"/api/assets/{asset.pk}/"), 403)
    assert Asset.objects.filter(pk=asset.pk).exists()
    assert (media_root / asset.file.name).is_file()


def test_outsiders_cannot_see_or_delete_assets(
    team: dict[str, Any], asset: Asset, client_for: Any
) -> None:
    client = client_for(team["outsider"])
    assert_error(client.get(f"/api/assets/{asset.pk}/"), 404)
    assert_error(client.get(f"/api/projects/{team['project'].pk}/assets/"), 404)
    assert_error(client.delete(f"/api/assets/{asset.pk}/"), 404)
    assert Asset.objects.filter(pk=asset.pk).exists()


def test_it_refuses_an_oversized_body_before_reading_it(
    team: dict[str, Any], client_for: Any, settings: Any
) -> None:
    settings.MAX_UPLOAD_MB = 1
    settings.MAX_UPLOAD_BYTES = 1024 * 1024
    client = client_for(team["owner"])
    response = client.generic(
        "POST",
        f"/api/projects/{team['project'].pk}/assets/",
        b"x" * 100,
        content_type="multipart/form-data; boundary=zzz",
        CONTENT_LENGTH=str(5 * 1024 * 1024),
    )
    assert response.status_code == 413
    assert response.json()["code"] == "file_too_large"


def test_neighbors_give_previous_and_next_of_the_same_project_only(
    team: dict[str, Any], upload: Any, client_for: Any, other_project: Any
) -> None:
    ids = [upload(team["owner"], team["project"].pk).json()["id"] for _ in range(3)]
    client = client_for(team["viewer"])
    middle = client.get(f"/api/assets/{ids[1]}/neighbors/").json()
    assert middle == {"previous": ids[0], "next": ids[2], "index": 1, "count": 3}
    first = client.get(f"/api/assets/{ids[0]}/neighbors/").json()
    assert first["previous"] is None and first["index"] == 0
    assert client_for(team["outsider"]).get(f"/api/assets/{ids[0]}/neighbors/").status_code == 404
