"""Native, lossless export: ``categories.json``, ``images.jsonl``, ``annotations.jsonl``.

One JSON object per line so that huge projects can be read back line by line. Every
:class:`~workers.export.records.ExportAnnotation` field is kept (RLE, interaction with
clicks / box / scribbles and their timestamps, provenance, review state, version), plus
the image ``file_name``, ``asset_id``, ``frame_index`` and the label ``name`` so a line
is readable on its own. :mod:`workers.export.native_import` reads it back.

Videos: each exported frame is one ``images.jsonl`` line (``frame_index`` 0-based,
``video_name`` the asset's name, ``file_name`` unique per frame); each annotation keeps
its ``track`` (object identity within the asset) and its frame's ``frame_index``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from typing import Any

from workers.export.base import Spool, Writer, json_bytes, open_member, write_member
from workers.export.records import ExportAnnotation, ExportCategory, ExportImage

CATEGORIES_NAME = "categories.json"
IMAGES_NAME = "images.jsonl"
ANNOTATIONS_NAME = "annotations.jsonl"


def image_record(image: ExportImage) -> dict[str, Any]:
    """The ``images.jsonl`` line of ``image``."""
    return {
        "id": image.id,
        "asset_id": image.asset_id,
        "file_name": image.file_name,
        "width": image.width,
        "height": image.height,
        "frame_index": image.frame_index,
        "video_name": image.video.name if image.video is not None else None,
    }


class NativeWriter(Writer):
    """Writes the three native members (and ``images/`` when asked)."""

    format_name = "native"

    def __init__(
        self,
        zip_file: zipfile.ZipFile,
        categories: Sequence[ExportCategory],
        include_images: bool,
    ) -> None:
        super().__init__(zip_file, categories, include_images)
        self._images = Spool("lines")
        self._annotations = Spool("lines")
        self._names = {c.id: c.name for c in self.categories}

    def _on_image(self, image: ExportImage) -> None:
        self._images.add(image_record(image))

    def _on_annotation(self, image: ExportImage, annotation: ExportAnnotation) -> None:
        counts = annotation.rle["counts"]
        self._annotations.add(
            {
                "id": annotation.id,
                "image_id": annotation.image_id,
                "file_name": image.file_name,
                "asset_id": image.asset_id,
                "frame_index": image.frame_index,
                "track": annotation.track,
                "category_id": annotation.category_id,
                "label": self._names[annotation.category_id],
                "rle": {
                    "size": list(annotation.rle["size"]),
                    "counts": counts.decode() if isinstance(counts, bytes) else counts,
                },
                "source": annotation.source,
                "score": annotation.score,
                "review_status": annotation.review_status,
                "author": annotation.author,
                "version": annotation.version,
                "created": annotation.created,
                "interaction": annotation.interaction,
            }
        )

    def _finish(self) -> None:
        categories = [{"id": c.id, "name": c.name, "color": c.color} for c in self.categories]
        write_member(self.zip_file, CATEGORIES_NAME, json_bytes(categories), compress=True)
        for name, spool in ((IMAGES_NAME, self._images), (ANNOTATIONS_NAME, self._annotations)):
            with open_member(self.zip_file, name, spool.size) as out:
                spool.copy_into(out)
            spool.close()

    def _manifest_extra(self) -> dict[str, Any]:
        return {
            "files": {
                "categories": CATEGORIES_NAME,
                "images": IMAGES_NAME,
                "annotations": ANNOTATIONS_NAME,
            }
        }
