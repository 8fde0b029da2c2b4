"""Import plumbing shared by the COCO and native readers: typed errors, limits, a zip
wrapper that refuses unsafe archives before reading a byte, and :class:`ImportBundle`.

Nothing is extracted to disk: members are read from the zip into memory on demand. The
path checks (zip slip) still run because the importer stores ``file_name`` values and
other tools may extract the same upload.

Every value of an upload is untrusted: the fields of its records are checked by
:mod:`workers.export.fields` (and polygons by :mod:`coco_import`).
"""

from __future__ import annotations

import functools
import json
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
    IMAGE_TOO_LARGE = "image_too_large"
    NAME_TOO_LONG = "name_too_long"
    FIELD_TOO_LONG = "field_too_long"


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
    ``annotations.json``, a manifest, ``categories.json``) and each line of a
    JSON-lines member (those are streamed and otherwise only count towards
    ``max_uncompressed_bytes``).

    The rest bound what one record may make the importer allocate: ``max_image_bytes``
    (an image file, read whole when it becomes an asset), ``max_image_pixels``
    (``width * height`` of an image, capped at what pycocotools can count);
    ``max_polygon_points`` (the vertices of one COCO polygon) and
    ``max_annotation_points`` (of all polygons of one annotation);
    ``max_polygon_boundary``, the outline of an annotation's polygons in pixels, which
    pycocotools rasterises at 5x (about 50 bytes of memory per pixel of outline);
    ``max_rle_chars``, the length of one mask's RLE counts (a string is parsed at about
    40 bytes of memory a character; a list has as many runs): the API's 10 MB request
    body holds no longer one, so every mask this server exports comes back.
    """

    max_compressed_bytes: int = 10 * GiB
    max_uncompressed_bytes: int = 20 * GiB
    max_members: int = 200_000
    max_json_bytes: int = 2 * GiB
    max_image_bytes: int = 1 * GiB
    max_image_pixels: int = 100_000_000
    max_polygon_points: int = 50_000
    max_annotation_points: int = 100_000
    max_polygon_boundary: int = 1_000_000
    max_rle_chars: int = 10 * 1024 * 1024


def unsafe_reason(name: str) -> str | None:
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
        self.limits = limits
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
            reason = unsafe_reason(info.filename)
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

    def read_json(self, name: str) -> Any:
        """A JSON member parsed whole; one over ``max_json_bytes`` is ``TOO_LARGE``."""
        check_json_size(self.members[name].file_size, name, self.limits)
        return parse_json(self.read(name), name)

    def open(self, name: str) -> IO[bytes]:
        """Streaming read handle (see :func:`iter_json_lines` for error mapping)."""
        return self._zip.open(self.members[name])

    def opener(self, name: str) -> Callable[[], bytes]:
        """A zero-argument callable reading member ``name`` (for ``open_image``); one
        over ``max_image_bytes`` raises ``TOO_LARGE`` when called, before it is read."""
        return functools.partial(self._read_image, name)

    def _read_image(self, name: str) -> bytes:
        size, limit = self.members[name].file_size, self.limits.max_image_bytes
        if size > limit:
            raise ArchiveError(
                f"image {name!r} is {size} bytes, the limit for one image is {limit}",
                ArchiveErrorCode.TOO_LARGE,
            )
        return self.read(name)

    def close(self) -> None:
        self._zip.close()


def find_image_member(file_name: str, members: dict[str, zipfile.ZipInfo]) -> str | None:
    """The member holding image ``file_name``: itself, or under ``images/``."""
    for candidate in (file_name, "images/" + file_name):
        if candidate in members:
            return candidate
    return None


def check_json_size(size: int, name: str, limits: ArchiveLimits) -> None:
    if size > limits.max_json_bytes:
        raise ArchiveError(
            f"{name} is {size} bytes, the limit for a JSON file is {limits.max_json_bytes}",
            ArchiveErrorCode.TOO_LARGE,
        )


def parse_json(data: bytes, what: str) -> Any:
    """``json.loads`` with failures mapped to ``ArchiveError(INVALID_JSON)``: bad syntax
    or encoding, an integer of more digits than Python converts (4,300), nesting deeper
    than the parser's recursion limit."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError too
        raise ArchiveError(
            f"{what} is not valid JSON: {str(exc)[:200]}", ArchiveErrorCode.INVALID_JSON
        ) from None


def iter_json_lines(source: CheckedZip, name: str) -> Iterator[tuple[int, Any]]:
    """Yield ``(line number, object)`` for the non-blank lines of a JSON-lines member;
    a line longer than ``max_json_bytes`` is ``TOO_LARGE`` (it is never read whole)."""
    limit = source.limits.max_json_bytes
    try:
        with source.open(name) as handle:
            number = 0
            while line := handle.readline(limit + 1):
                number += 1
                if len(line) > limit:
                    raise ArchiveError(
                        f"{name} line {number} is longer than {limit} bytes",
                        ArchiveErrorCode.TOO_LARGE,
                    )
                if line.strip():
                    yield number, parse_json(line, f"{name} line {number}")
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise ArchiveError(f"cannot read {name!r}: {exc}", ArchiveErrorCode.CORRUPT) from exc


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
