"""Small images in every format the server accepts, generated on the fly with Pillow,
plus COCO RLE helpers. Shared by the API and the unit tests."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

EXIF_ORIENTATION = 0x0112


def rgb_array(width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    return encode(Image.fromarray(rgb_array(width, height, seed)), "PNG")


def jpeg(width: int = 64, height: int = 48, seed: int = 0, **params: Any) -> bytes:
    return encode(Image.fromarray(rgb_array(width, height, seed)), "JPEG", quality=90, **params)


def webp(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    return encode(Image.fromarray(rgb_array(width, height, seed)), "WEBP", lossless=True)


def bmp(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    return encode(Image.fromarray(rgb_array(width, height, seed)), "BMP")


def tiff8(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    return encode(Image.fromarray(rgb_array(width, height, seed)), "TIFF")


def gray16_array(width: int = 64, height: int = 48, seed: int = 0) -> np.ndarray:
    # Values far above 255, so an image shown without normalisation would be wrong.
    return np.random.default_rng(seed).integers(1000, 60000, (height, width), dtype=np.uint16)


def tiff16(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    image = Image.fromarray(gray16_array(width, height, seed))
    assert image.mode == "I;16"
    return encode(image, "TIFF")


def png16(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    image = Image.fromarray(gray16_array(width, height, seed))
    assert image.mode == "I;16"
    return encode(image, "PNG")


def tiff_float(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    array = np.random.default_rng(seed).normal(0.0, 1e-3, (height, width)).astype(np.float32)
    image = Image.fromarray(array)
    assert image.mode == "F"
    return encode(image, "TIFF")


def quadrants(width: int = 60, height: int = 40) -> np.ndarray:
    """Top-left red, top-right green, bottom-left blue, bottom-right white."""
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[: height // 2, : width // 2] = (255, 0, 0)
    array[: height // 2, width // 2 :] = (0, 255, 0)
    array[height // 2 :, : width // 2] = (0, 0, 255)
    array[height // 2 :, width // 2 :] = (255, 255, 255)
    return array


def jpeg_with_orientation(orientation: int, width: int = 60, height: int = 40) -> bytes:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    return encode(Image.fromarray(quadrants(width, height)), "JPEG", quality=95, exif=exif)


def corner_colors(array: np.ndarray) -> list[tuple[int, int, int]]:
    """Colours near the four corners (TL, TR, BL, BR), rounded to 0 or 255."""
    h, w = array.shape[:2]
    points = [(2, 2), (2, w - 3), (h - 3, 2), (h - 3, w - 3)]
    return [tuple(int(round(v / 255)) * 255 for v in array[y, x, :3]) for y, x in points]


def decode_image(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


# --- masks -----------------------------------------------------------------------------


def rle_of(mask: np.ndarray) -> dict[str, Any]:
    """A mask encoded exactly as ``pycocotools.mask.encode`` writes it, counts as str."""
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


def box_mask(height: int, width: int, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    mask = np.zeros((height, width), dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def random_mask(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    style = rng.integers(0, 4)
    if style == 0:
        return rng.random((height, width)) < rng.random()
    if style == 1:
        return np.zeros((height, width), dtype=bool) | bool(rng.integers(0, 2))
    mask = np.zeros((height, width), dtype=bool)
    for _ in range(int(rng.integers(1, 5))):
        y0, x0 = int(rng.integers(0, height)), int(rng.integers(0, width))
        mask[
            y0 : y0 + int(rng.integers(1, height + 1)), x0 : x0 + int(rng.integers(1, width + 1))
        ] = True
    return mask
