"""COCO instance segmentation export: one ``annotations.json``.

Layout of the JSON (keys beyond the COCO spec are marked +)::

    {"info": {...}, "licenses": [],
     "categories": [{"id", "name", "supercategory", "color"+}],
     "images": [{"id", "file_name", "width", "height", "asset_id"+, "frame_index"+}],
     "annotations": [{"id", "image_id", "category_id", "segmentation": RLE with str
                      counts, "area", "bbox": [x, y, w, h], "iscrowd": 0, "score"+}]}

``iscrowd`` stays 0 even though the segmentation is RLE: ``pycocotools.coco.COCO``
uses an RLE dict with string counts as is (``annToRLE``), and evaluation tools treat
``iscrowd=1`` regions as "ignore", which these instance masks are not.

Memory: the two arrays are spooled to temporary files and spliced into the archive at
``close()``; nothing is kept per annotation. ``area`` and ``bbox`` are computed by
pycocotools on the RLE directly, so no mask is ever decoded.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pycocotools import mask as mask_utils

from workers.export.base import Spool, Writer, json_bytes, open_member
from workers.export.records import ExportAnnotation, ExportCategory, ExportImage

ANNOTATIONS_NAME = "annotations.json"


class CocoWriter(Writer):
    """Writes ``annotations.json`` (and ``images/`` when asked)."""

    format_name = "coco"

    def __init__(
        self,
        zip_file: zipfile.ZipFile,
        categories: Sequence[ExportCategory],
        include_images: bool,
    ) -> None:
        super().__init__(zip_file, categories, include_images)
        self._images = Spool("array")
        self._annotations = Spool("array")

    def _on_image(self, image: ExportImage) -> None:
        self._images.add(
            {
                "id": image.id,
                "file_name": image.file_name,
                "width": image.width,
                "height": image.height,
                "asset_id": image.asset_id,
                "frame_index": image.frame_index,
            }
        )

    def _on_annotation(self, image: ExportImage, annotation: ExportAnnotation) -> None:
        rle = {"size": annotation.rle["size"], "counts": annotation.rle["counts"]}
        # Both work on the runs; [x, y, w, h] floats as COCO stores them.
        area = int(mask_utils.area(rle))
        bbox = [float(v) for v in mask_utils.toBbox(rle)]
        counts = rle["counts"]
        self._annotations.add(
            {
                "id": annotation.id,
                "image_id": annotation.image_id,
                "category_id": annotation.category_id,
                "segmentation": {
                    "size": [image.height, image.width],
                    "counts": counts.decode() if isinstance(counts, bytes) else counts,
                },
                "area": area,
                "bbox": bbox,
                "iscrowd": 0,
                "score": annotation.score,
            }
        )

    def _finish(self) -> None:
        now = datetime.now(UTC)
        head = (
            b'{"info":'
            + json_bytes(
                {
                    "description": "Exported by sparse-seg-annotator",
                    "version": "1.0",
                    "year": now.year,
                    "date_created": now.isoformat(timespec="seconds"),
                }
            )
            + b',"licenses":[],"categories":'
            + json_bytes(
                [
                    {"id": c.id, "name": c.name, "supercategory": "", "color": c.color}
                    for c in self.categories
                ]
            )
            + b',"images":['
        )
        middle = b'],"annotations":['
        tail = b"]}"
        size = len(head) + self._images.size + len(middle) + self._annotations.size + len(tail)
        with open_member(self.zip_file, ANNOTATIONS_NAME, size) as out:
            out.write(head)
            self._images.copy_into(out)
            out.write(middle)
            self._annotations.copy_into(out)
            out.write(tail)
        self._images.close()
        self._annotations.close()

    def _manifest_extra(self) -> dict[str, Any]:
        return {"files": {"annotations": ANNOTATIONS_NAME}}
