"""PNG mask export: one semantic and one instance PNG per image.

Members (``<stem>`` is the image path under ``images/`` without extension):

* ``masks/semantic/<stem>.png`` - ``(H, W)`` mode ``"P"``; pixel value = class index
  (0 = background, ``k`` = ``k``-th category, 1-based), palette = category colours.
* ``masks/instances/<stem>.png`` - ``(H, W)`` instance ids ``1..N`` (0 = none); 8-bit
  ``"L"`` when ``N <= 255``, else 16-bit ``"I;16"``.
* ``masks/instances/<stem>.json`` - ``{"image_id", "file_name", "width", "height",
  "asset_id", "frame_index", "instances": {"<instance id>": {"annotation_id",
  "category_id", "class_index", "track", "visible_pixels"}}}``.

Frames of a video are named ``<asset id>_<name stem>/<frame:05d>``, so every frame has
its own PNGs; ``track`` ties an instance to the same object on other frames.
* ``masks/classes.json`` - ``{"<class index>": {"id", "name", "color"}}``.
* ``README.txt`` - the above, and the overlap rule.

Overlaps: annotations are painted in ascending annotation id, so where masks overlap
the later annotation (higher id) wins in both PNGs; ``visible_pixels`` says how much of
each instance survived (0 = fully hidden). Instance ids follow annotation id order.

Memory: an image's RLEs are buffered (compact) until the next image starts, then decoded
one at a time into the two ``(H, W)`` canvases.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from formats.rle import decode_rle
from workers.export.base import Writer, image_stem, json_bytes, write_member
from workers.export.records import ExportAnnotation, ExportCategory, ExportImage

MASKS_DIR = "masks/"
MAX_CLASSES = 255  # palette images have 256 entries and index 0 is background
MAX_INSTANCES = 65535  # 16-bit instance PNG

README = """\
Mask export
===========

masks/semantic/<image>.png   8-bit palette PNG; pixel = class index, 0 = background.
                             Class indices, names and colours: masks/classes.json.
masks/instances/<image>.png  Instance ids 1..N, 0 = background; 8-bit when N <= 255,
                             16-bit otherwise.
masks/instances/<image>.json Instance id -> annotation id, category id, class index,
                             track (the object across the frames of a video) and the
                             number of pixels that stayed visible.

<image> is the image path under images/ without its extension; the frames of a video
are <asset id>_<video name>/<frame number, 5 digits>.

Overlapping masks: annotations are painted in ascending annotation id, so the later
annotation (higher id) wins where masks overlap, in both PNGs. An instance hidden
completely has visible_pixels 0 and does not appear in the instance PNG.
"""


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` -> ``(r, g, b)``; raises ``ValueError`` for anything else."""
    if len(color) != 7 or color[0] != "#":
        raise ValueError(f"colour {color!r} is not #rrggbb")
    value = int(color[1:], 16)
    return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    # Level 1: masks are long runs that deflate well even at the fastest level.
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class MasksWriter(Writer):
    """Writes semantic and instance PNGs per image plus the class map."""

    format_name = "masks"

    def __init__(
        self,
        zip_file: zipfile.ZipFile,
        categories: Sequence[ExportCategory],
        include_images: bool,
    ) -> None:
        super().__init__(zip_file, categories, include_images)
        if len(self.categories) > MAX_CLASSES:
            raise ValueError(f"PNG masks hold at most {MAX_CLASSES} classes")
        palette = [0, 0, 0]
        for category in self.categories:
            palette.extend(hex_to_rgb(category.color))
        self._palette = palette + [0] * (768 - len(palette))
        # (annotation id, category id, rle, track) of the current image.
        self._pending: list[tuple[int, int, dict[str, Any], int | None]] = []

    def _on_annotation(self, image: ExportImage, annotation: ExportAnnotation) -> None:
        self._pending.append(
            (annotation.id, annotation.category_id, annotation.rle, annotation.track)
        )

    def _on_image_end(self, image: ExportImage) -> None:
        pending = sorted(self._pending, key=lambda item: item[0])
        self._pending = []
        if len(pending) > MAX_INSTANCES:
            raise ValueError(f"image {image.id} has more than {MAX_INSTANCES} instances")
        semantic = np.zeros((image.height, image.width), dtype=np.uint8)
        instances = np.zeros((image.height, image.width), dtype=np.uint16)
        for instance_id, (_ann_id, category_id, rle, _track) in enumerate(pending, start=1):
            mask = decode_rle(rle).view(bool)
            semantic[mask] = self.category_index[category_id] + 1
            instances[mask] = instance_id
        visible = np.bincount(instances.ravel(), minlength=len(pending) + 1)

        stem = image_stem(image.file_name)
        semantic_png = Image.fromarray(semantic)
        semantic_png.putpalette(self._palette)  # turns the "L" image into "P"
        write_member(
            self.zip_file,
            f"{MASKS_DIR}semantic/{stem}.png",
            png_bytes(semantic_png),
            compress=False,
        )
        if len(pending) <= 255:
            instance_png = Image.fromarray(instances.astype(np.uint8))
        else:
            instance_png = Image.fromarray(instances)
        write_member(
            self.zip_file,
            f"{MASKS_DIR}instances/{stem}.png",
            png_bytes(instance_png),
            compress=False,
        )
        mapping = {
            "image_id": image.id,
            "file_name": image.file_name,
            "width": image.width,
            "height": image.height,
            "asset_id": image.asset_id,
            "frame_index": image.frame_index,
            "instances": {
                str(instance_id): {
                    "annotation_id": ann_id,
                    "category_id": category_id,
                    "class_index": self.category_index[category_id] + 1,
                    "track": track,
                    "visible_pixels": int(visible[instance_id]),
                }
                for instance_id, (ann_id, category_id, _rle, track) in enumerate(pending, start=1)
            },
        }
        write_member(
            self.zip_file, f"{MASKS_DIR}instances/{stem}.json", json_bytes(mapping), compress=True
        )

    def _finish(self) -> None:
        classes: dict[str, dict[str, Any]] = {
            "0": {"id": None, "name": "background", "color": "#000000"}
        }
        for index, category in enumerate(self.categories, start=1):
            classes[str(index)] = {
                "id": category.id,
                "name": category.name,
                "color": category.color,
            }
        write_member(self.zip_file, f"{MASKS_DIR}classes.json", json_bytes(classes), compress=True)
        write_member(self.zip_file, "README.txt", README.encode(), compress=True)

    def _manifest_extra(self) -> dict[str, Any]:
        return {"files": {"classes": f"{MASKS_DIR}classes.json", "readme": "README.txt"}}
