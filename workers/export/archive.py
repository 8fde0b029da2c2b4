"""Import plumbing shared by the COCO and native readers: typed errors, limits, a zip
wrapper that refuses unsafe archives before reading a byte, and :class:`ImportBundle`.

Nothing is extracted to disk: members are read from the zip into memory on demand. The
path checks (zip slip) still run because the importer stores ``file_name`` values and
other tools may extract the same upload.
"""

from __future__ import annotations

import functools
import json
import math
import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any

from workers.export.records import ExportCategory, ImportAnnotation, ImportImage

GiB = 1 << 30


class ArchiveErrorCode(StrEnum):
    """Machine-readable reason of an :class:`ArchiveError` (stable: shown to API clients)."""

    NOT_A_ZIP = "not_a_zip"
    CORRUPT = "corrupt_archive"
    ZIP_SLIP = "zip_slip"
    TOO_MANY_MEMBERS = "too_many_members"
    TOO_LARGE = "archive_too_large"
    UNSUPPORTED_FORMAT = "unsupported_format"
    MISSING_ANNOTATIONS = "missing_annotations"
    INVALID_JSON = "invalid_json"
    INVALID_RECORD = "invalid_record"
    DUPLICATE_ID = "duplicate_id"
    UNKNOWN_CATEGORY = "unknown_category"
    UNKNOWN_IMAGE = "unknown_image"
    MISSING_IMAGE = "missing_image"
    RLE_SIZE_MISMATCH = "rle_size_mismatch"
    INVALID_RLE = "invalid_rle"
    INVALID_POLYGON = "invalid_polygon"


class ArchiveError(Exception):
    """An upload that cannot be imported; ``message`` is meant for the user."""

    def __init__(self, message: str, code: ArchiveErrorCode) -> None:
        super().__init__(f"{message} [{code}]")
        self.message = message
        self.code = code


@dataclass(frozen=True)
class ArchiveLimits:
    """Upper bounds checked from the zip's central directory before anything is read.

    ``max_json_bytes`` bounds a JSON member that must be parsed whole (COCO's
    ``annotations.json``); JSON-lines members are streamed and only count towards
    ``max_uncompressed_bytes``.
    """

    max_compressed_bytes: int = 10 * GiB
    max_uncompressed_bytes: int = 20 * GiB
    max_members: int = 200_000
    max_json_bytes: int = 2 * GiB


def _unsafe_reason(name: str) -> str | None:
    """Why ``name`` could escape an extraction folder, or ``None`` when it cannot."""
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if "\\" in name:
        return "backslash in path"  # a separator on Windows: "..\\x" escapes there
    if ".." in name.split("/"):
        return "parent directory reference"
    # Belt and braces: resolve against a made-up root, as an extractor would.
    root = os.path.realpath("/nonexistent-import-root")
    resolved = os.path.realpath(os.path.join(root, name))
    if resolved != root and not resolved.startswith(root + os.sep):
        return "path resolves outside the archive"
    return None


class CheckedZip:
    """A read-only zip whose directory passed the size, count and path checks.

    Raises :class:`ArchiveError` (``NOT_A_ZIP``, ``TOO_LARGE``, ``TOO_MANY_MEMBERS``,
    ``ZIP_SLIP``, ``CORRUPT``) from the constructor.
    """

    def __init__(self, path: str | os.PathLike[str], limits: ArchiveLimits) -> None:
        compressed = os.path.getsize(path)
        if compressed > limits.max_compressed_bytes:
            raise ArchiveError(
                f"archive is {compressed} bytes, the limit is {limits.max_compressed_bytes}",
                ArchiveErrorCode.TOO_LARGE,
            )
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ArchiveError(
                f"not a readable zip archive: {exc}", ArchiveErrorCode.NOT_A_ZIP
            ) from exc
        try:
            self.members = self._check(self._zip.infolist(), limits)
        except ArchiveError:
            self._zip.close()
            raise

    @staticmethod
    def _check(infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> dict[str, zipfile.ZipInfo]:
        if len(infos) > limits.max_members:
            raise ArchiveError(
                f"archive has {len(infos)} members, the limit is {limits.max_members}",
                ArchiveErrorCode.TOO_MANY_MEMBERS,
            )
        total = sum(info.file_size for info in infos)
        if total > limits.max_uncompressed_bytes:
            raise ArchiveError(
                f"archive unpacks to {total} bytes, the limit is {limits.max_uncompressed_bytes}",
                ArchiveErrorCode.TOO_LARGE,
            )
        if sum(info.compress_size for info in infos) > limits.max_compressed_bytes:
            raise ArchiveError("archive members exceed the size limit", ArchiveErrorCode.TOO_LARGE)
        members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            reason = _unsafe_reason(info.filename)
            if reason is not None:
                raise ArchiveError(
                    f"unsafe member name {info.filename!r}: {reason}", ArchiveErrorCode.ZIP_SLIP
                )
            if stat.S_ISLNK(info.external_attr >> 16):
                raise ArchiveError(
                    f"member {info.filename!r} is a symbolic link", ArchiveErrorCode.ZIP_SLIP
                )
            if info.is_dir():
                continue
            if info.filename in members:
                raise ArchiveError(
                    f"member {info.filename!r} appears twice", ArchiveErrorCode.CORRUPT
                )
            members[info.filename] = info
        return members

    def read(self, name: str) -> bytes:
        """Whole member as bytes; damaged data raises ``ArchiveError(CORRUPT)``.

        zipfile stops at the size declared in the directory and then checks the CRC,
        so a member cannot inflate beyond what the limits already accepted.
        """
        try:
            return self._zip.read(self.members[name])
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
            raise ArchiveError(f"cannot read {name!r}: {exc}", ArchiveErrorCode.CORRUPT) from exc

    def open(self, name: str) -> IO[bytes]:
        """Streaming read handle (see :func:`iter_json_lines` for error mapping)."""
        return self._zip.open(self.members[name])

    def opener(self, name: str) -> Callable[[], bytes]:
        """A zero-argument callable reading member ``name`` (for ``open_image``)."""
        return functools.partial(self.read, name)

    def close(self) -> None:
        self._zip.close()


def find_image_member(file_name: str, members: dict[str, zipfile.ZipInfo]) -> str | None:
    """The member holding image ``file_name``: itself, or under ``images/``."""
    for candidate in (file_name, "images/" + file_name):
        if candidate in members:
            return candidate
    return None


def parse_json(data: bytes, what: str) -> Any:
    """``json.loads`` with failures mapped to ``ArchiveError(INVALID_JSON)``."""
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArchiveError(
            f"{what} is not valid JSON: {exc}", ArchiveErrorCode.INVALID_JSON
        ) from exc


def iter_json_lines(source: CheckedZip, name: str) -> Iterator[tuple[int, Any]]:
    """Yield ``(line number, object)`` for the non-blank lines of a JSON-lines member."""
    try:
        with source.open(name) as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    yield number, parse_json(line, f"{name} line {number}")
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ArchiveError(f"cannot read {name!r}: {exc}", ArchiveErrorCode.CORRUPT) from exc


class ImageResolver:
    """Finds each image's bytes in the archive and collects the ones that are missing."""

    def __init__(self, source: CheckedZip | None, require_images: bool) -> None:
        self._source = source
        self._require = require_images
        self._missing: list[str] = []
        self._ids: set[int] = set()
        self._names: set[str] = set()

    def image(self, item: Any, what: str) -> ImportImage:
        """Parse one image record (COCO or native: same fields), refusing duplicate ids
        and file names, and attach the opener of its bytes in the archive."""
        record = req_dict(item, what)
        image_id = req_int(record, "id", what)
        file_name = req_str(record, "file_name", what)
        if image_id in self._ids:
            raise ArchiveError(f"duplicate image id {image_id}", ArchiveErrorCode.DUPLICATE_ID)
        if file_name in self._names:
            raise ArchiveError(
                f"duplicate image file_name {file_name!r}", ArchiveErrorCode.DUPLICATE_ID
            )
        self._ids.add(image_id)
        self._names.add(file_name)
        return ImportImage(
            id=image_id,
            file_name=file_name,
            width=req_int(record, "width", what, positive=True),
            height=req_int(record, "height", what, positive=True),
            frame_index=opt_int(record, "frame_index", what),
            asset_id=opt_int(record, "asset_id", what),
            open_image=self.opener(file_name),
        )

    def opener(self, file_name: str) -> Callable[[], bytes] | None:
        if _unsafe_reason(file_name) is not None:
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


def req_int(record: dict[str, Any], key: str, what: str, *, positive: bool = False) -> int:
    value = record.get(key)
    # bool is an int subclass; a JSON true is not an id.
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(what, f"{key!r} must be an integer, got {value!r}")
    if positive and value <= 0:
        raise invalid(what, f"{key!r} must be positive, got {value}")
    return value


def opt_int(record: dict[str, Any], key: str, what: str) -> int | None:
    return None if record.get(key) is None else req_int(record, key, what)


def req_str(record: dict[str, Any], key: str, what: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value:
        raise invalid(what, f"{key!r} must be a non-empty string, got {value!r}")
    return value


def opt_str(record: dict[str, Any], key: str, what: str) -> str | None:
    return None if record.get(key) is None else req_str(record, key, what)


def opt_float(record: dict[str, Any], key: str, what: str) -> float | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise invalid(what, f"{key!r} must be a finite number, got {value!r}")
    return float(value)


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
        raise invalid(what, f"colour must be '#rrggbb', got {value!r}")
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


# -- bundle -----------------------------------------------------------------------------


@dataclass
class ImportBundle:
    """Everything an archive holds, fully validated; ids are the source file's ids.

    ``annotations`` are sorted by image (in ``images`` order), then by id. The images'
    ``open_image`` callables read from the archive, so keep the bundle open (``with`` or
    :meth:`close`) until the images are stored.
    """

    format: str
    categories: list[ExportCategory]
    images: list[ImportImage]
    annotations: list[ImportAnnotation]
    warnings: list[str] = field(default_factory=list)
    _sources: list[CheckedZip] = field(default_factory=list, repr=False)

    def close(self) -> None:
        for source in self._sources:
            source.close()
        self._sources.clear()

    def __enter__(self) -> ImportBundle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
