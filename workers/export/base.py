"""The streaming writer interface, the format registry, and shared archive helpers.

Call order (enforced): ``add_image(img)``, then that image's ``add_annotation(...)``
calls, then the next image, ..., then ``close()`` once. Annotations of an image must
follow it directly; this grouping is what lets every writer keep at most one image's
worth of data in memory. The frames of a video (images sharing an
:class:`~workers.export.records.ExportVideo`) arrive together, in ascending frame order.

A :class:`zipfile.ZipFile` accepts only one open write handle at a time, so members
that grow over the whole export (COCO's arrays, native JSON lines) are spooled to
anonymous temporary files and spliced into the archive by :meth:`Spool.copy_into` at
``close()``; per-image members (images, PNG masks, label files) are written at once.
"""

from __future__ import annotations

import json
import posixpath
import shutil
import tempfile
import time
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

from formats.archives import EXPORT_FORMATS
from workers.export.records import ExportAnnotation, ExportCategory, ExportImage

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
IMAGES_DIR = "images/"

# zipfile switches to ZIP64 headers only when told the size up front; it uses the same
# 5 % margin for compressed growth when it is given a size.
_ZIP64_THRESHOLD = int(zipfile.ZIP64_LIMIT / 1.05)
# Splice buffer: big enough for throughput, small enough not to dominate peak memory.
_COPY_CHUNK = 64 * 1024


class ExportError(ValueError):
    """Data that a format cannot hold (e.g. more objects than a PNG palette has
    entries); ``message`` is meant for the user, ``code`` is stable."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(f"{message} [{code}]")
        self.message = message
        self.code = code


def json_bytes(obj: Any) -> bytes:
    """Compact UTF-8 JSON (no spaces): the archives are read by programs, not people."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def check_member_path(name: str) -> str:
    """Return ``name`` if it is a safe relative POSIX archive path, else raise ``ValueError``."""
    parts = name.split("/")
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or ":" in parts[0]
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise ValueError(f"unsafe archive path {name!r}")
    return name


def image_member(file_name: str) -> str:
    """Archive path of an image: ``file_name`` under ``images/`` (added if missing)."""
    check_member_path(file_name)
    return file_name if file_name.startswith(IMAGES_DIR) else IMAGES_DIR + file_name


def image_stem(file_name: str) -> str:
    """``"images/a/34_f0005.png"`` -> ``"a/34_f0005"``: the per-image name of derived files."""
    relative = image_member(file_name)[len(IMAGES_DIR) :]
    stem, _ext = posixpath.splitext(relative)
    return stem


def write_member(zip_file: zipfile.ZipFile, name: str, data: bytes, *, compress: bool) -> None:
    """Write a small in-memory member; ``compress=False`` stores already-compressed bytes
    (JPEG, PNG) as-is, which saves the CPU time deflate would waste on them."""
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.external_attr = 0o644 << 16
    info.compress_type = zip_file.compression if compress else zipfile.ZIP_STORED
    zip_file.writestr(info, data, compresslevel=zip_file.compresslevel if compress else None)


class Spool:
    """An append-only temporary file holding one growing archive member.

    ``mode="array"`` joins items with commas (the body of a JSON array), ``"lines"`` ends
    each item with a newline (JSON lines). Memory stays flat: items go straight to disk.
    """

    def __init__(self, mode: str = "array") -> None:
        if mode not in ("array", "lines"):
            raise ValueError(f"unknown spool mode {mode!r}")
        self._lines = mode == "lines"
        # Lives as long as the spool (closed in close()), so no context manager.
        self._file = tempfile.TemporaryFile()  # noqa: SIM115
        self.count = 0

    def add(self, obj: Any) -> None:
        """Append one JSON-serialisable item."""
        if self._lines:
            self._file.write(json_bytes(obj) + b"\n")
        elif self.count:
            self._file.write(b"," + json_bytes(obj))
        else:
            self._file.write(json_bytes(obj))
        self.count += 1

    @property
    def size(self) -> int:
        return self._file.tell()

    def copy_into(self, out: Any) -> None:
        """Copy everything written so far into the writable binary file ``out``."""
        self._file.flush()
        self._file.seek(0)
        shutil.copyfileobj(self._file, out, _COPY_CHUNK)
        self._file.seek(0, 2)

    def close(self) -> None:
        self._file.close()


def open_member(zip_file: zipfile.ZipFile, name: str, expected_size: int) -> Any:
    """Open a streaming write handle; ``expected_size`` (bytes) only decides on ZIP64."""
    return zip_file.open(name, "w", force_zip64=expected_size >= _ZIP64_THRESHOLD)


class Writer(ABC):
    """Base class of all format writers; subclasses implement the ``_on_*`` hooks.

    ``categories`` fixes the class order (YOLO/PNG class indices follow it).
    ``every_frame``: whether the format wants every frame of a video, annotated or
    not (DAVIS: one PNG per frame); the others get the annotated frames only.
    """

    format_name: ClassVar[str]
    every_frame: ClassVar[bool] = False

    def __init__(
        self,
        zip_file: zipfile.ZipFile,
        categories: Sequence[ExportCategory],
        include_images: bool,
    ) -> None:
        self.zip_file = zip_file
        self.categories: list[ExportCategory] = list(categories)
        self.include_images = include_images
        # 0-based position of each category id in ``categories``.
        self.category_index: dict[int, int] = {}
        for index, category in enumerate(self.categories):
            if category.id in self.category_index:
                raise ValueError(f"duplicate category id {category.id}")
            self.category_index[category.id] = index
        self.image_count = 0
        self.annotation_count = 0
        self._image: ExportImage | None = None
        # Derived per-image files (masks, labels) are named by stem, so two images whose
        # names differ only in extension would overwrite each other; one short string
        # per image is the price of catching that.
        self._stems: set[str] = set()
        self._closed = False

    # -- public interface ---------------------------------------------------------------

    def add_image(self, image: ExportImage) -> None:
        """Start a new image; the previous one is finished first."""
        self._check_open()
        stem = image_stem(image.file_name)
        if stem in self._stems:
            raise ValueError(f"two images map to the same name {stem!r} ({image.file_name!r})")
        if image.width <= 0 or image.height <= 0:
            raise ValueError(f"image {image.id} has no pixels ({image.width}x{image.height})")
        if self.include_images and image.open_image is None:
            raise ValueError(f"image {image.id} has no open_image but images are included")
        self._stems.add(stem)
        self._end_current_image()
        self._image = image
        self.image_count += 1
        if image.open_image is not None and self.include_images:
            write_member(
                self.zip_file, self._image_member(image), image.open_image(), compress=False
            )
        self._on_image(image)

    def add_annotation(self, annotation: ExportAnnotation) -> None:
        """Add one mask of the current image (``annotation.image_id == image.id``)."""
        self._check_open()
        image = self._image
        if image is None or annotation.image_id != image.id:
            raise ValueError(
                f"annotation {annotation.id} (image {annotation.image_id}) does not follow its "
                "image: annotations must arrive grouped, right after their image"
            )
        if annotation.category_id not in self.category_index:
            raise ValueError(
                f"annotation {annotation.id}: unknown category {annotation.category_id}"
            )
        size = list(annotation.rle.get("size", ()))
        if size != [image.height, image.width]:
            raise ValueError(
                f"annotation {annotation.id}: RLE size {size} != image size "
                f"[{image.height}, {image.width}]"
            )
        self.annotation_count += 1
        self._on_annotation(image, annotation)

    def close(self) -> None:
        """Finish all members and write ``manifest.json``; the zip itself stays open."""
        self._check_open()
        self._end_current_image()
        self._finish()
        manifest = {
            "format": self.format_name,
            "format_version": FORMAT_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "include_images": self.include_images,
            "counts": {
                "categories": len(self.categories),
                "images": self.image_count,
                "annotations": self.annotation_count,
            },
            **self._manifest_extra(),
        }
        write_member(
            self.zip_file, MANIFEST_NAME, json.dumps(manifest, indent=2).encode(), compress=True
        )
        self._closed = True

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and not self._closed:
            self.close()

    # -- hooks --------------------------------------------------------------------------

    def _image_member(self, image: ExportImage) -> str:
        """The archive path of ``image``'s bytes when images are included."""
        return image_member(image.file_name)

    def _on_image(self, image: ExportImage) -> None:  # noqa: B027 - optional hook
        """Called after ``image`` became current (and its bytes were written)."""

    @abstractmethod
    def _on_annotation(self, image: ExportImage, annotation: ExportAnnotation) -> None:
        """Handle one validated annotation of ``image``."""

    def _on_image_end(self, image: ExportImage) -> None:  # noqa: B027 - optional hook
        """Called once all annotations of ``image`` arrived."""

    def _finish(self) -> None:  # noqa: B027 - optional hook
        """Write the format's remaining members."""

    def _manifest_extra(self) -> dict[str, Any]:
        """Format-specific manifest keys."""
        return {}

    # -- internals ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{type(self).__name__} is closed")

    def _end_current_image(self) -> None:
        if self._image is not None:
            self._on_image_end(self._image)
            self._image = None


def _registry() -> dict[str, type[Writer]]:
    # Imported here: the format modules import this one.
    from workers.export.coco import CocoWriter
    from workers.export.davis import DavisWriter
    from workers.export.mask_pngs import MasksWriter
    from workers.export.native import NativeWriter
    from workers.export.yolo import YoloSegWriter

    writers = (CocoWriter, MasksWriter, YoloSegWriter, NativeWriter, DavisWriter)
    return {w.format_name: w for w in writers}


#: The export formats (the web side's list; a test pins it to the writers above).
FORMATS: tuple[str, ...] = EXPORT_FORMATS


def build_writer(
    format: str,
    zip_file: zipfile.ZipFile,
    categories: Sequence[ExportCategory],
    include_images: bool,
) -> Writer:
    """Return the writer for ``format`` (one of :data:`FORMATS`) writing into ``zip_file``."""
    writers = _registry()
    if format not in writers:
        raise ValueError(f"unknown export format {format!r}; expected one of {sorted(writers)}")
    return writers[format](zip_file, categories, include_images)
