"""The fields of imported records, checked one by one (COCO and native alike), and
:class:`ImageResolver`, which links image records to their bytes in the archive.

Every value of an upload is untrusted: numbers are bounded before numpy or pycocotools
allocate by them (image sizes, RLE runs; polygons in :mod:`coco_import`), and strings
that reach the database are checked against its limits (the API's), so a bad archive
fails with an :class:`ArchiveError` rather than a crash, a database error or a
silently truncated value.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Callable
from typing import Any

from formats.rle import SizeMismatch, check_rle
from workers.export.archive import (
    ArchiveError,
    ArchiveErrorCode,
    ArchiveLimits,
    CheckedZip,
    find_image_member,
    unsafe_reason,
)
from workers.export.records import ImportAnnotation, ImportImage

#: ``LabelClass.name``'s column (the API's limit): longer category names are refused.
MAX_LABEL_NAME_CHARS = 100
#: The base name of an image file, which a new asset is named after (``Asset.name`` holds
#: 255 characters): no real file has a longer one (file systems allow 255 bytes).
MAX_FILE_NAME_BYTES = 255
#: A whole ``file_name`` (folders included), and any other string of a record.
MAX_PATH_BYTES = 1024
MAX_STRING_CHARS = 1000
#: Either side of an image, in pixels: with the pixel limit of :class:`ArchiveLimits`
#: this keeps every coordinate pycocotools scales (x5) inside a C ``int``.
MAX_IMAGE_SIDE = 1 << 24
#: pycocotools counts runs in unsigned 32-bit integers: no image may have more pixels.
_MAX_RLE_PIXELS = (1 << 32) - 1


class ImageResolver:
    """Finds each image's bytes in the archive and collects the ones that are missing."""

    def __init__(
        self, source: CheckedZip | None, require_images: bool, limits: ArchiveLimits
    ) -> None:
        self._source = source
        self._require = require_images
        self._limits = limits
        self._missing: list[str] = []
        self._ids: set[int] = set()
        self._names: set[str] = set()

    def image(self, item: Any, what: str) -> ImportImage:
        """Parse one image record (COCO or native: same fields), refusing duplicate ids
        and file names, and attach the opener of its bytes in the archive."""
        record = req_dict(item, what)
        image_id = req_int(record, "id", what)
        file_name = image_file_name(record, what)
        if image_id in self._ids:
            raise ArchiveError(f"duplicate image id {image_id}", ArchiveErrorCode.DUPLICATE_ID)
        if file_name in self._names:
            raise ArchiveError(
                f"duplicate image file_name {file_name!r}", ArchiveErrorCode.DUPLICATE_ID
            )
        self._ids.add(image_id)
        self._names.add(file_name)
        width, height = image_size(record, what, self._limits)
        frame_index = opt_int(record, "frame_index", what)
        if frame_index is not None and not 0 <= frame_index < 1 << 31:
            raise invalid(what, f"'frame_index' must be a frame number, got {preview(frame_index)}")
        return ImportImage(
            id=image_id,
            file_name=file_name,
            width=width,
            height=height,
            frame_index=frame_index,
            asset_id=opt_int(record, "asset_id", what),
            open_image=self.opener(file_name),
            video_name=opt_str(record, "video_name", what, max_chars=MAX_FILE_NAME_BYTES),
        )

    def opener(self, file_name: str) -> Callable[[], bytes] | None:
        if unsafe_reason(file_name) is not None:
            raise ArchiveError(f"unsafe image file_name {file_name!r}", ArchiveErrorCode.ZIP_SLIP)
        member = (
            None if self._source is None else find_image_member(file_name, self._source.members)
        )
        if member is None:
            self._missing.append(file_name)
            return None
        assert self._source is not None
        return self._source.opener(member)

    def check(self) -> list[str]:
        """Raise ``MISSING_IMAGE`` when images are required; else return warnings."""
        if not self._missing:
            return []
        listed = ", ".join(repr(name) for name in self._missing[:5])
        more = f" and {len(self._missing) - 5} more" if len(self._missing) > 5 else ""
        message = f"{len(self._missing)} referenced image(s) not in the archive: {listed}{more}"
        if self._require:
            raise ArchiveError(message, ArchiveErrorCode.MISSING_IMAGE)
        return [message] if self._source is not None else []


def sort_annotations(
    annotations: list[ImportAnnotation], images: list[ImportImage]
) -> list[ImportAnnotation]:
    """Group by image in ``images`` order, then ascending id (what the writers expect)."""
    position = {image.id: index for index, image in enumerate(images)}
    return sorted(annotations, key=lambda a: (position[a.image_id], a.id))


# -- field validation -------------------------------------------------------------------


def invalid(what: str, message: str) -> ArchiveError:
    return ArchiveError(f"{what}: {message}", ArchiveErrorCode.INVALID_RECORD)


def preview(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut short: error messages never carry a huge value whole."""
    if isinstance(value, list | dict) and len(value) > 8:
        return f"a {type(value).__name__} of {len(value)} items"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return f"<{len(str(abs(value)))}-digit integer>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def finite(value: Any) -> bool:
    """A JSON number (not a bool) that is a finite float: an integer too large for a
    float (``10**400``) is not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def req_int(record: dict[str, Any], key: str, what: str, *, positive: bool = False) -> int:
    value = record.get(key)
    # bool is an int subclass; a JSON true is not an id.
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(what, f"{key!r} must be an integer, got {preview(value)}")
    if positive and value <= 0:
        raise invalid(what, f"{key!r} must be positive, got {preview(value)}")
    return value


def opt_int(record: dict[str, Any], key: str, what: str) -> int | None:
    return None if record.get(key) is None else req_int(record, key, what)


#: The largest track number (``Annotation.track``'s range, the API's limit).
MAX_TRACK = 2**31 - 1


def opt_track(record: dict[str, Any], key: str, what: str) -> int | None:
    """An object's track number (``None`` when absent): an integer from 1 to
    :data:`MAX_TRACK`."""
    track = opt_int(record, key, what)
    if track is not None and not 1 <= track <= MAX_TRACK:
        raise invalid(what, f"{key!r} must be a track number from 1 to {MAX_TRACK}")
    return track


def check_storable(value: str, what: str) -> str:
    """A string the database can store: no NUL character (PostgreSQL refuses it in
    text and JSON) and no lone surrogate (not encodable as UTF-8)."""
    if "\x00" in value:
        raise invalid(what, "contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(what, "is not valid Unicode (a lone surrogate)") from None
    return value


def req_str(
    record: dict[str, Any], key: str, what: str, *, max_chars: int = MAX_STRING_CHARS
) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise invalid(what, f"{key!r} must be a non-empty string, got {preview(value)}")
    if len(value) > max_chars:
        raise ArchiveError(
            f"{what}: {key!r} is {len(value)} characters long, the limit is {max_chars}",
            ArchiveErrorCode.FIELD_TOO_LONG,
        )
    return check_storable(value, f"{what}: {key!r}")


def opt_str(
    record: dict[str, Any], key: str, what: str, *, max_chars: int = MAX_STRING_CHARS
) -> str | None:
    if record.get(key) is None:
        return None
    return req_str(record, key, what, max_chars=max_chars)


def opt_float(
    record: dict[str, Any],
    key: str,
    what: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
) -> float | None:
    """``None``, or a finite number in ``[low, high]``."""
    value = record.get(key)
    if value is None:
        return None
    if not finite(value):
        raise invalid(what, f"{key!r} must be a finite number, got {preview(value)}")
    if not low <= value <= high:
        raise invalid(what, f"{key!r} must be between {low:g} and {high:g}, got {value:g}")
    return float(value)


def label_name(record: dict[str, Any], what: str) -> str:
    """A category's name as the project's label will have it: stripped, 1 to
    ``MAX_LABEL_NAME_CHARS`` characters (the API's limit), else ``NAME_TOO_LONG``."""
    value = record.get("name")
    if not isinstance(value, str) or not value.strip():
        raise invalid(what, f"'name' must be a non-empty string, got {preview(value)}")
    name = value.strip()
    if len(name) > MAX_LABEL_NAME_CHARS:
        raise ArchiveError(
            f"{what}: the label name {preview(name, 40)} is {len(name)} characters long, "
            f"labels are at most {MAX_LABEL_NAME_CHARS}",
            ArchiveErrorCode.NAME_TOO_LONG,
        )
    return check_storable(name, f"{what}: 'name'")


def image_file_name(record: dict[str, Any], what: str) -> str:
    """An image's ``file_name``: its base name (what a new asset is named after) at most
    ``MAX_FILE_NAME_BYTES`` of UTF-8, the whole path ``MAX_PATH_BYTES``."""
    value = record.get("file_name")
    if not isinstance(value, str) or not value:
        raise invalid(what, f"'file_name' must be a non-empty string, got {preview(value)}")
    check_storable(value, f"{what}: 'file_name'")
    base = posixpath.basename(value)
    for part, size, limit in (
        ("base name", len(base.encode()), MAX_FILE_NAME_BYTES),
        ("path", len(value.encode()), MAX_PATH_BYTES),
    ):
        if size > limit:
            raise ArchiveError(
                f"{what}: the file name {preview(value, 40)} has a {part} of {size} bytes, "
                f"the limit is {limit}",
                ArchiveErrorCode.NAME_TOO_LONG,
            )
    return value


def image_size(record: dict[str, Any], what: str, limits: ArchiveLimits) -> tuple[int, int]:
    """``(width, height)``: positive, each side at most ``MAX_IMAGE_SIDE``, the area at
    most ``limits.max_image_pixels`` (and what pycocotools can count)."""
    width = req_int(record, "width", what, positive=True)
    height = req_int(record, "height", what, positive=True)
    max_pixels = min(limits.max_image_pixels, _MAX_RLE_PIXELS)
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > max_pixels:
        raise ArchiveError(
            f"{what}: the image size {preview(width)} x {preview(height)} is larger than this "
            f"server takes ({max_pixels} pixels, {MAX_IMAGE_SIDE} a side)",
            ArchiveErrorCode.IMAGE_TOO_LARGE,
        )
    return width, height


def import_rle(
    rle: Any, height: int, width: int, what: str, limits: ArchiveLimits
) -> dict[str, Any]:
    """A compressed RLE checked for an image of ``height`` x ``width`` (by
    :func:`formats.rle.check_rle`, which reads the runs as pycocotools will, before
    pycocotools decodes any): ``RLE_SIZE_MISMATCH`` or ``INVALID_RLE`` otherwise."""
    check_rle_length(rle.get("counts") if isinstance(rle, dict) else None, what, limits)
    try:
        return check_rle(rle, height, width)
    except SizeMismatch as exc:
        raise ArchiveError(f"{what}: {exc}", ArchiveErrorCode.RLE_SIZE_MISMATCH) from None
    except ValueError as exc:
        raise ArchiveError(f"{what}: {exc}", ArchiveErrorCode.INVALID_RLE) from None


def check_rle_length(counts: Any, what: str, limits: ArchiveLimits) -> None:
    """RLE counts (a string or a list of runs) no longer than ``max_rle_chars``."""
    if isinstance(counts, str | list) and len(counts) > limits.max_rle_chars:
        raise ArchiveError(
            f"{what}: the RLE counts hold {len(counts)} items, the limit is {limits.max_rle_chars}",
            ArchiveErrorCode.INVALID_RLE,
        )


def req_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(what, f"expected a JSON object, got {type(value).__name__}")
    return value


def check_color(value: Any, what: str) -> str:
    if (
        not isinstance(value, str)
        or len(value) != 7
        or value[0] != "#"
        or any(c not in "0123456789abcdefABCDEF" for c in value[1:])
    ):
        raise invalid(what, f"colour must be '#rrggbb', got {preview(value)}")
    return value.lower()


def default_color(index: int) -> str:
    """A deterministic, well-spread colour for categories that came without one."""
    hue = (index * 0.618033988749895) % 1.0  # golden-ratio steps around the hue circle
    sector, fraction = divmod(hue * 6, 1)
    value, low = 0.9, 0.25
    rising, falling = low + (value - low) * fraction, value - (value - low) * fraction
    rgb = [
        (value, rising, low),
        (falling, value, low),
        (low, value, rising),
        (low, falling, value),
        (rising, low, value),
        (value, low, falling),
    ][int(sector)]
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb)
