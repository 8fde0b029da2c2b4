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
class ExportVideo:
    """The video (or other multi-frame asset) that exported frames belong to.

    ``id`` is the asset id, ``name`` the asset's name as uploaded (``"clip.mp4"``),
    ``folder`` the archive-safe folder its frames are named under (``"12_clip"``: unique
    within the export). ``width`` / ``height`` are the frames' size in pixels, ``fps``
    frames per second when known.
    """

    id: int
    name: str
    folder: str
    num_frames: int
    width: int
    height: int
    fps: float | None = None


@dataclass(frozen=True)
class ExportImage:
    """One exported image (a still image or one frame of a video / event stream).

    ``file_name`` is unique within the export and is the archive path of the image when
    images are included (e.g. ``"images/12_cat.jpg"``, a frame ``"images/34_clip/00005.jpg"``).
    ``frame_index`` is ``None`` for still images; ``video`` is set for the frames of a
    multi-frame asset (all frames of one video share one record and arrive together,
    in ascending ``frame_index``). ``open_image`` returns the encoded image file bytes;
    it is only called when images are included.
    """

    id: int
    asset_id: int
    file_name: str
    width: int
    height: int
    frame_index: int | None = None
    open_image: Callable[[], bytes] | None = None
    video: ExportVideo | None = None


@dataclass(frozen=True)
class ExportAnnotation:
    """One instance mask on one image. ``rle["size"] == [image.height, image.width]``.

    ``created`` is an ISO 8601 timestamp string; ``score`` is the model confidence for
    machine-made masks (``None`` for hand-made ones). ``track`` is the object's identity
    within its asset (the same number on every frame of a video); ``None`` when unknown.
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
    track: int | None = None


@dataclass(frozen=True)
class ImportImage:
    """An image found in an imported archive. ``id`` is the id used in the source file.

    ``asset_id`` is the source asset id when the archive is one of our native exports
    (frames of one video share it), else ``None``. ``video_name`` is the name of the
    video a frame belongs to (our COCO and native exports write it), else ``None``.
    ``open_image`` reads the image bytes from the archive (valid while the
    :class:`~workers.export.importers.ImportBundle` is open) or is ``None`` when the
    archive carries no image files.
    """

    id: int
    file_name: str
    width: int
    height: int
    frame_index: int | None
    asset_id: int | None
    open_image: Callable[[], bytes] | None
    video_name: str | None = None


@dataclass(frozen=True)
class ImportAnnotation:
    """An imported, validated instance mask; ids are source ids (see :class:`ImportImage`).

    ``rle`` is always compressed RLE with ``str`` counts and ``size == [h, w]`` of its
    image. Fields a COCO file cannot carry are ``None`` (the importer picks defaults).
    ``track`` is the source's object identity (COCO ``track_id``, native ``track``).
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
    track: int | None = None
