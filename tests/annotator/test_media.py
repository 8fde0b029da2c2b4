"""Reading uploaded images: formats, EXIF, high bit depth, bombs, damaged files."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable

import numpy as np
import pytest
import tifffile
from PIL import Image

from annotator.media import (
    InspectedImage,
    MediaError,
    _to_uint8,
    inspect_image,
    load_rgb,
    make_thumbnail,
    sha256_of,
    sniff_kind,
)
from tests.annotator import sample_images as images

LIMIT = 10_000_000


def inspect(data: bytes, max_pixels: int = LIMIT) -> InspectedImage:
    return inspect_image(io.BytesIO(data), max_pixels)


def rendering(result: InspectedImage) -> np.ndarray:
    assert result.display_png is not None
    image = images.decode_image(result.display_png)
    assert image.format == "PNG" and image.mode == "RGB"
    return np.asarray(image)


@pytest.mark.parametrize(
    ("make", "fmt", "mode", "displayed_as_is"),
    [
        (images.png, "PNG", "RGB", True),
        (images.jpeg, "JPEG", "RGB", True),
        (images.webp, "WEBP", "RGB", False),
        (images.bmp, "BMP", "RGB", False),
        (images.tiff8, "TIFF", "RGB", False),
        (images.tiff16, "TIFF", "I;16", False),
        (images.png16, "PNG", "I;16", False),
        (images.tiff_float, "TIFF", "F", False),
    ],
)
def test_it_reads_each_format(
    make: Callable[[], bytes], fmt: str, mode: str, displayed_as_is: bool
) -> None:
    result = inspect(make())
    assert (result.format, result.mode, result.width, result.height) == (fmt, mode, 64, 48)
    assert result.metadata == {"format": fmt, "mode": mode}
    if displayed_as_is:
        assert result.display_png is None
    else:
        assert rendering(result).shape == (48, 64, 3)


def test_it_keeps_the_pixels_of_an_8_bit_tiff() -> None:
    array = images.rgb_array(64, 48, seed=3)
    result = inspect(images.encode(Image.fromarray(array), "TIFF"))
    assert np.array_equal(rendering(result), array)


@pytest.mark.parametrize("make", [images.tiff16, images.png16])
def test_it_stretches_16_bit_samples_to_8_bits(make: Callable[[], bytes]) -> None:
    pixels = rendering(inspect(make()))
    assert pixels.dtype == np.uint8
    assert pixels.min() == 0 and pixels.max() == 255
    source = images.gray16_array().astype(float)
    # monotonic: brighter in the original is never darker in the rendering
    order = np.argsort(source, axis=None)
    assert np.all(np.diff(pixels[..., 0].flatten()[order].astype(int)) >= 0)


def test_it_renders_float_tiffs() -> None:
    pixels = rendering(inspect(images.tiff_float()))
    assert pixels.min() == 0 and pixels.max() == 255
    assert len(np.unique(pixels)) > 100


def test_it_renders_a_float_tiff_with_nan_and_inf() -> None:
    array = np.linspace(0, 1, 48 * 64, dtype=np.float32).reshape(48, 64)
    array[0, :5] = np.nan
    array[1, :5] = np.inf
    pixels = rendering(inspect(images.encode(Image.fromarray(array), "TIFF")))
    assert pixels.shape == (48, 64, 3)


def test_it_renders_a_constant_16_bit_image() -> None:
    array = np.full((48, 64), 4000, dtype=np.uint16)
    pixels = rendering(inspect(images.encode(Image.fromarray(array), "TIFF")))
    assert pixels.shape == (48, 64, 3)


def test_it_reads_multichannel_16_bit_tiffs() -> None:
    array = np.random.default_rng(0).integers(0, 65535, (48, 64, 3), dtype=np.uint16)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, photometric="rgb")
    result = inspect(buffer.getvalue())
    assert (result.format, result.width, result.height) == ("TIFF", 64, 48)
    assert rendering(result).shape == (48, 64, 3)


def test_it_reads_planar_16_bit_tiffs() -> None:
    array = np.random.default_rng(0).integers(0, 65535, (3, 48, 64), dtype=np.uint16)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, photometric="rgb", planarconfig="separate")
    result = inspect(buffer.getvalue())
    assert (result.width, result.height) == (64, 48)
    assert rendering(result).shape == (48, 64, 3)


@pytest.mark.parametrize(
    ("array", "options"),
    [
        (np.random.default_rng(0).random((48, 64, 3)).astype(np.float32), {"photometric": "rgb"}),
        (
            np.random.default_rng(0).random((3, 48, 64)).astype(np.float32),
            {"photometric": "rgb", "planarconfig": "separate"},
        ),
        (np.random.default_rng(0).random((48, 64)), {}),
    ],
    ids=["float32-rgb", "float32-rgb-planar", "float64-gray"],
)
def test_it_reads_float_tiffs_pillow_cannot_open(array: np.ndarray, options: dict) -> None:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **options)
    result = inspect(buffer.getvalue())
    assert (result.width, result.height) == (64, 48)
    assert rendering(result).shape == (48, 64, 3)


def test_hot_pixels_do_not_wash_out_the_rendering() -> None:
    array = np.random.default_rng(0).integers(1000, 2000, (100, 100)).astype(np.uint16)
    array[0, 0] = 65535
    scaled = _to_uint8(array)
    assert scaled[0, 0] == 255
    assert np.median(scaled) > 100  # with plain min/max the median would be near 0


def test_to_uint8_of_all_nan() -> None:
    assert not _to_uint8(np.full((4, 4), np.nan)).any()


@pytest.mark.parametrize(
    ("orientation", "size", "corners"),
    [
        (1, (60, 40), [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]),
        (3, (60, 40), [(255, 255, 255), (0, 0, 255), (0, 255, 0), (255, 0, 0)]),
        (6, (40, 60), [(0, 0, 255), (255, 0, 0), (255, 255, 255), (0, 255, 0)]),
        (8, (40, 60), [(0, 255, 0), (255, 255, 255), (255, 0, 0), (0, 0, 255)]),
    ],
)
def test_it_applies_the_exif_orientation(
    orientation: int, size: tuple[int, int], corners: list[tuple[int, int, int]]
) -> None:
    result = inspect(images.jpeg_with_orientation(orientation))
    assert (result.width, result.height) == size
    if orientation == 1:
        assert result.display_png is None
        assert "exif_orientation" not in result.metadata
        shown = np.asarray(images.decode_image(images.jpeg_with_orientation(1)))
    else:
        assert result.metadata["exif_orientation"] == orientation
        shown = rendering(result)
    assert shown.shape[:2] == (size[1], size[0])
    assert images.corner_colors(shown) == corners


@pytest.mark.parametrize(
    "image",
    [
        Image.new("RGBA", (64, 48), (255, 0, 0, 128)),
        Image.new("L", (64, 48), 100),
        Image.new("P", (64, 48), 3),
        Image.new("LA", (64, 48), (100, 50)),
    ],
    ids=["RGBA", "L", "P", "LA"],
)
def test_browser_displayable_pngs_are_kept_as_they_are(image: Image.Image) -> None:
    result = inspect(images.encode(image, "PNG"))
    assert result.display_png is None and result.mode == image.mode


def test_cmyk_jpegs_are_rendered_as_rgb() -> None:
    result = inspect(images.encode(Image.new("CMYK", (64, 48), (0, 255, 255, 0)), "JPEG"))
    assert result.mode == "CMYK"
    red = rendering(result)[10, 10]
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_transparent_images_are_rendered_on_white() -> None:
    image = Image.new("RGBA", (64, 48), (0, 0, 0, 0))
    result = inspect(images.encode(image, "TIFF"))
    assert (rendering(result) == 255).all()


# --- refusals ----------------------------------------------------------------------------


def test_it_refuses_images_over_the_pixel_limit() -> None:
    with pytest.raises(MediaError) as caught:
        inspect(images.png(100, 100), max_pixels=100 * 100 - 1)
    assert caught.value.code == "image_too_large"


def test_it_refuses_decompression_bombs() -> None:
    bomb = images.encode(Image.new("L", (3000, 3000)), "PNG")
    assert len(bomb) < 100_000
    previous = Image.MAX_IMAGE_PIXELS
    with pytest.raises(MediaError) as caught:
        inspect(bomb, max_pixels=1_000_000)
    assert caught.value.code == "image_too_large"
    assert previous == Image.MAX_IMAGE_PIXELS  # the global guard is restored


def test_the_pixel_limit_is_inclusive() -> None:
    assert inspect(images.png(100, 100), max_pixels=100 * 100).width == 100


@pytest.mark.parametrize("make", [images.png, images.jpeg, images.tiff8, images.bmp, images.tiff16])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_it_refuses_truncated_files(make: Callable[..., bytes], keep: float) -> None:
    data = make(200, 150)
    with pytest.raises(MediaError) as caught:
        inspect(data[: int(len(data) * keep)])
    assert caught.value.code == "invalid_image"


@pytest.mark.parametrize(
    "data",
    [b"\x89PNG\r\n\x1a\n" + b"x" * 200, images.webp(200, 150)[:300]],
    ids=["png-garbage", "webp-truncated"],
)
def test_it_refuses_damaged_headers(data: bytes) -> None:
    with pytest.raises(MediaError):
        inspect(data)


@pytest.mark.parametrize("data", [b"", b"hello", b"GIF8" + b"\0" * 10, bytes(range(256))])
def test_it_refuses_what_is_not_an_image(data: bytes) -> None:
    with pytest.raises(MediaError) as caught:
        inspect(data)
    assert caught.value.code == "invalid_image"


def test_it_refuses_formats_it_does_not_support() -> None:
    gif = images.encode(Image.new("P", (8, 8)), "GIF")
    with pytest.raises(MediaError) as caught:
        inspect(gif)
    assert caught.value.code == "unsupported_format"


# --- sniffing, hashing, thumbnails -----------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (images.png()[:64], "image"),
        (images.jpeg()[:64], "image"),
        (images.tiff8()[:64], "image"),
        (b"MM\x00*" + b"\0" * 10, "image"),
        (images.bmp()[:64], "image"),
        (images.webp()[:64], "image"),
        (b"\x00\x00\x00\x18ftypmp42", "video"),
        (b"\x1aE\xdf\xa3\x01\x00", "video"),
        (b"RIFF\x00\x00\x00\x00AVI LIST", "video"),
        (b"#!AER-DAT2.0\r\n", "events"),
        (b"% Height: 480\n", "events"),
        (b"LASF\x00\x00", "pointcloud"),
        (b"ply\nformat ascii 1.0\n", "pointcloud"),
        (b"ply\r\nformat", "pointcloud"),
        (b"", None),
        (b"hello world", None),
        (b"GIF89a", None),
    ],
)
def test_sniff_kind(head: bytes, kind: str | None) -> None:
    assert sniff_kind(head) == kind


def test_sha256_of_reads_the_whole_stream_and_rewinds() -> None:
    data = bytes(range(256)) * 5000
    stream = io.BytesIO(data)
    stream.seek(100)
    assert sha256_of(stream, chunk_size=1000) == hashlib.sha256(data).hexdigest()
    assert stream.tell() == 0


def test_load_rgb_applies_exif() -> None:
    array = load_rgb(io.BytesIO(images.jpeg_with_orientation(6)))
    assert array.shape == (60, 40, 3) and array.dtype == np.uint8


def test_make_thumbnail_fits_the_longer_side() -> None:
    thumbnail = images.decode_image(make_thumbnail(io.BytesIO(images.png(200, 100)), 50))
    assert thumbnail.format == "JPEG" and thumbnail.size == (50, 25)
    deep = images.decode_image(make_thumbnail(io.BytesIO(images.tiff16(120, 60)), 60))
    assert deep.size == (60, 30) and deep.mode == "RGB"
