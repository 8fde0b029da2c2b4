"""Plain, immutable records exchanged between the Celery tasks and this layer.

Export records carry database ids; import records carry the ids found in the source
file, which only link records to each other (the importer assigns new database ids).

Conventions
-----------
* Masks travel as COCO compressed RLE: ``{"size": [h, w], "counts": str}``, exactly what
  ``pycocotools.mask.encode`` writes for a Fortran-ordered ``(h, w) uint8`` mask, with
  ``counts`` decoded from ASCII bytes to ``str`` (JSON-friendly, ~10-50x smaller than
  the mask). Use :func:`formats.rle.encode_mask` to build one.
* Colours are ``"#rrggbb"`` strings.
* ``interaction`` is ``{"clicks": [{"x", "y", "positive", "t"}], "box": [x0, y0, x1, y1]
  | None, "scribbles": [{"points": [[x, y], ...], "positive", "t"}]}`` or ``None``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ExportCategory:
    """A label class. ``id`` is the database id; ``color`` is ``"#rrggbb"``."""

    id: int
    name: str
    color: str


@dataclass(frozen=True)
class ExportImage:
    """One exported image (a still image or one frame of a video / event stream).

    ``file_name`` is unique within the export and is the archive path of the image when
    images are included (e.g. ``"images/12.jpg"``, ``"images/34_f0005.png"``).
    ``frame_index`` is ``None`` for still images. ``open_image`` returns the encoded
    image file bytes; it is only called when images are included.
    """

    id: int
    asset_id: int
    file_name: str
    width: int
    height: int
    frame_index: int | None = None
    open_image: Callable[[], bytes] | None = None


@dataclass(frozen=True)
class ExportAnnotation:
    """One instance mask on one image. ``rle["size"] == [image.height, image.width]``.

    ``created`` is an ISO 8601 timestamp string; ``score`` is the model confidence for
    machine-made masks (``None`` for hand-made ones).
    """

    id: int
    image_id: int
    category_id: int
    rle: dict[str, Any]
    source: str
    score: float | None
    review_status: str
    author: str | None
    version: int
    created: str
    interaction: dict[str, Any] | None = None


@dataclass(frozen=True)
class ImportImage:
    """An image found in an imported archive. ``id`` is the id used in the source file.

    ``asset_id`` is the source asset id when the archive is one of our native exports
    (frames of one video share it), else ``None``. ``open_image`` reads the image bytes
    from the archive (valid while the :class:`~workers.export.importers.ImportBundle` is
    open) or is ``None`` when the archive carries no image files.
    """

    id: int
    file_name: str
    width: int
    height: int
    frame_index: int | None
    asset_id: int | None
    open_image: Callable[[], bytes] | None


@dataclass(frozen=True)
class ImportAnnotation:
    """An imported, validated instance mask; ids are source ids (see :class:`ImportImage`).

    ``rle`` is always compressed RLE with ``str`` counts and ``size == [h, w]`` of its
    image. Fields a COCO file cannot carry are ``None`` (the importer picks defaults).
    """

    id: int
    image_id: int
    category_id: int
    rle: dict[str, Any]
    score: float | None
    source: str | None = None
    review_status: str | None = None
    author: str | None = None
    version: int | None = None
    created: str | None = None
    interaction: dict[str, Any] | None = None
