"""Reading uploaded images safely and rendering them for display.

Pure Pillow/numpy: no ORM. ``inspect_image`` refuses what it cannot trust (unknown
formats, truncated files, decompression bombs) with :class:`MediaError`, and returns an
8-bit RGB rendering when the original is not directly displayable (16-bit or float
samples, EXIF rotation, palette or CMYK modes).
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_FORMATS = {"PNG", "JPEG", "MPO", "TIFF", "WEBP", "BMP"}
# Formats a browser shows as they are; everything else gets a PNG rendering.
# The API promises PNG or JPEG frames, so WebP and BMP get a PNG rendering too.
BROWSER_FORMATS = {"PNG", "JPEG"}
_EXIF_ORIENTATION = 0x0112


class MediaError(ValueError):
    def __init__(self, message: str, code: str = "invalid_image") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class InspectedImage:
    format: str
    mode: str
    width: int
    height: int
    # PNG bytes of an 8-bit RGB rendering, or None when the original displays as is.
    display_png: bytes | None
    metadata: dict[str, object]


def sha256_of(stream: IO[bytes], chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    stream.seek(0)
    for chunk in iter(lambda: stream.read(chunk_size), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def sniff_kind(head: bytes) -> str | None:
    """Guess the asset kind from the first bytes of a file, or None."""
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*")):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    # MP4/MOV (an "ftyp" box first, or an old QuickTime file's first atom), Matroska and
    # WebM (EBML), AVI (RIFF); a zip is an image sequence (frames in file-name order).
    if head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "video"
    if head.startswith((b"\x1aE\xdf\xa3", b"RIFF", b"PK\x03\x04", b"PK\x05\x06")):
        return "video"
    if head.startswith(b"#!AER-DAT") or head.startswith(b"% "):
        return "events"
    if head.startswith((b"LASF", b"ply\n", b"ply\r")):
        return "pointcloud"
    return None


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """Stretch a 16-bit or float array to 8 bits between its 0.5th and 99.5th percentiles
    (robust to a few hot pixels, which a plain min/max is not)."""
    data = array.astype(np.float64)
    finite = np.isfinite(data)
    if not finite.any():
        return np.zeros(array.shape, dtype=np.uint8)
    lo, hi = np.percentile(data[finite], [0.5, 99.5])
    if hi <= lo:
        lo, hi = float(data[finite].min()), float(data[finite].max())
    if hi <= lo:
        return np.zeros(array.shape, dtype=np.uint8)
    # Infinities are clipped to the stretch range first (their product would overflow).
    data = np.clip(np.nan_to_num(data, nan=lo, posinf=hi, neginf=lo), lo, hi)
    scaled = (data - lo) * (255.0 / (hi - lo))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def render_rgb(image: Image.Image) -> Image.Image:
    """An 8-bit RGB rendering of any Pillow image."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(image))).convert("RGB")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def _open_tiff_with_tifffile(data: bytes) -> Image.Image:
    """Multi-channel 16-bit or float TIFFs that Pillow cannot decode."""
    import tifffile

    array = tifffile.imread(io.BytesIO(data))
    if array.ndim == 3 and array.shape[0] in (3, 4) and array.shape[-1] not in (3, 4):
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3:
        array = array[..., :3]
    if array.dtype != np.uint8:
        array = _to_uint8(array)
    return Image.fromarray(array)


def _inspect_tiff_fallback(data: bytes, max_pixels: int) -> InspectedImage:
    import tifffile

    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tiff:
            shape = tiff.pages[0].shape
    except Exception as exc:
        raise MediaError(f"the TIFF file cannot be decoded: {exc}") from None
    dims = [int(v) for v in shape if int(v) > 4] or [1]
    pixels = dims[0] * (dims[1] if len(dims) > 1 else 1)
    if pixels > max_pixels:
        raise MediaError(f"image has {pixels} pixels, the limit is {max_pixels}", "image_too_large")
    try:
        image = _open_tiff_with_tifffile(data)
    except Exception as exc:
        raise MediaError(f"the TIFF file cannot be decoded: {exc}") from None
    buffer = io.BytesIO()
    render_rgb(image).save(buffer, format="PNG", compress_level=3)
    return InspectedImage(
        format="TIFF",
        mode=f"tifffile:{image.mode}",
        width=image.size[0],
        height=image.size[1],
        display_png=buffer.getvalue(),
        metadata={"format": "TIFF", "mode": "float/multichannel (tifffile)"},
    )


def inspect_image(stream: IO[bytes], max_pixels: int) -> InspectedImage:
    """Open, verify and fully decode an uploaded image.

    Raises :class:`MediaError` (code ``invalid_image``, ``unsupported_format``,
    ``image_too_large``) for anything that cannot be stored safely."""
    stream.seek(0)
    data = stream.read()
    stream.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        previous_limit = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = max_pixels
        try:
            return _inspect(data, max_pixels)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise MediaError(
                f"image has more than {max_pixels} pixels (decompression bomb guard): {exc}",
                "image_too_large",
            ) from None
        finally:
            Image.MAX_IMAGE_PIXELS = previous_limit


def _inspect(data: bytes, max_pixels: int) -> InspectedImage:
    try:
        probe = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            # Float RGB / float64 TIFFs: Pillow has no mode for them, tifffile does.
            return _inspect_tiff_fallback(data, max_pixels)
        raise MediaError(f"the file is not an image this server can read ({exc})") from None
    fmt = (probe.format or "").upper()
    if fmt not in IMAGE_FORMATS:
        raise MediaError(f"image format {fmt or 'unknown'} is not supported", "unsupported_format")
    width, height = probe.size
    if width * height > max_pixels:
        raise MediaError(
            f"image is {width}x{height} = {width * height} pixels, the limit is {max_pixels}",
            "image_too_large",
        )
    try:
        probe.verify()
        image: Image.Image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        if fmt == "TIFF" and "truncated" not in str(exc).lower():
            try:
                image = _open_tiff_with_tifffile(data)
            except Exception:
                raise MediaError(f"the TIFF file cannot be decoded: {exc}") from None
        else:
            raise MediaError(f"the image is corrupt or truncated: {exc}") from None

    orientation = image.getexif().get(_EXIF_ORIENTATION, 1) if hasattr(image, "getexif") else 1
    mode = image.mode
    needs_rendering = (
        fmt not in BROWSER_FORMATS
        or orientation not in (1, None)
        or mode not in ("RGB", "L", "RGBA", "P", "LA")
    )
    if orientation not in (1, None):
        image = ImageOps.exif_transpose(image)
    if needs_rendering:
        buffer = io.BytesIO()
        render_rgb(image).save(buffer, format="PNG", optimize=False, compress_level=3)
        display_png: bytes | None = buffer.getvalue()
    else:
        display_png = None
    width, height = image.size
    metadata: dict[str, object] = {"format": fmt, "mode": mode}
    if orientation not in (1, None):
        metadata["exif_orientation"] = int(orientation)
    return InspectedImage(
        format=fmt,
        mode=mode,
        width=width,
        height=height,
        display_png=display_png,
        metadata=metadata,
    )


def load_rgb(stream: IO[bytes]) -> np.ndarray:
    """Decode a stored display image to ``(H, W, 3) uint8`` RGB (EXIF applied)."""
    image: Image.Image = ImageOps.exif_transpose(Image.open(stream))
    return np.asarray(render_rgb(image))


def make_thumbnail(stream: IO[bytes], size: int) -> bytes:
    """JPEG thumbnail whose longer side is ``size`` pixels."""
    image = render_rgb(ImageOps.exif_transpose(Image.open(stream)))
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()
