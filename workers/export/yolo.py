"""Ultralytics YOLO segmentation export: ``labels/<stem>.txt`` per image + ``data.yaml``.

Each label line is one polygon: ``class x1 y1 x2 y2 ...`` with ``class`` the 0-based
position of the category in the export's category list and coordinates divided by the
image width / height (so in ``[0, 1]``). Polygons come from the mask's external
contours: every connected component becomes its own line (holes are filled - YOLO
polygons cannot express them), simplified with ``approxPolyDP`` at 1 px, and parts with
fewer than 3 points after simplification (1-2 pixel specks) are dropped; the manifest
counts them under ``dropped_parts``.

Ultralytics finds the label of ``images/<stem>.<ext>`` at ``labels/<stem>.txt``; every
image gets a label file, empty when it has no annotation (a background image).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import yaml

from formats.rle import decode_rle
from workers.export.base import IMAGES_DIR, Writer, image_stem, write_member
from workers.export.records import ExportAnnotation, ExportCategory, ExportImage

LABELS_DIR = "labels/"
DATA_YAML = "data.yaml"
APPROX_EPSILON_PX = 1.0

_DATA_YAML_HEADER = """\
# Ultralytics dataset file. An empty 'path' makes Ultralytics use the folder holding
# this file as the dataset root (a relative path would be resolved against its
# datasets_dir instead). There is no train/val split: both point at images/.
"""


def mask_polygons(
    mask: np.ndarray, epsilon: float = APPROX_EPSILON_PX
) -> tuple[list[np.ndarray], int]:
    """``(H, W)`` 0/1 mask -> (polygons, dropped): each polygon ``(N, 2) int32`` in ``(x, y)``
    pixel coordinates, ``N >= 3``; ``dropped`` counts components too small to keep."""
    contours, _hierarchy = cv2.findContours(
        np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    polygons: list[np.ndarray] = []
    dropped = 0
    for contour in contours:
        simplified = cv2.approxPolyDP(contour, epsilon, True).reshape(-1, 2)
        if len(simplified) < 3:
            # approxPolyDP can flatten a thin sliver to 2 points: keep the raw contour.
            simplified = contour.reshape(-1, 2)
        if len(simplified) < 3:
            dropped += 1
            continue
        polygons.append(simplified)
    return polygons, dropped


class YoloSegWriter(Writer):
    """Writes ``labels/*.txt`` and ``data.yaml`` (and ``images/`` when asked)."""

    format_name = "yolo-seg"

    def __init__(
        self,
        zip_file: zipfile.ZipFile,
        categories: Sequence[ExportCategory],
        include_images: bool,
    ) -> None:
        super().__init__(zip_file, categories, include_images)
        self._lines: list[str] = []  # label lines of the current image
        self.dropped_parts = 0

    def _on_annotation(self, image: ExportImage, annotation: ExportAnnotation) -> None:
        polygons, dropped = mask_polygons(decode_rle(annotation.rle))
        self.dropped_parts += dropped
        class_index = self.category_index[annotation.category_id]
        scale = np.array([image.width, image.height], dtype=np.float64)
        for polygon in polygons:
            normalized = (polygon / scale).ravel()
            self._lines.append(f"{class_index} " + " ".join(f"{v:.6f}" for v in normalized))

    def _on_image_end(self, image: ExportImage) -> None:
        body = "".join(line + "\n" for line in self._lines)
        self._lines = []
        name = f"{LABELS_DIR}{image_stem(image.file_name)}.txt"
        write_member(self.zip_file, name, body.encode(), compress=True)

    def _finish(self) -> None:
        data = {
            "path": "",
            "train": IMAGES_DIR.rstrip("/"),
            "val": IMAGES_DIR.rstrip("/"),
            "nc": len(self.categories),
            "names": {i: c.name for i, c in enumerate(self.categories)},
        }
        text = _DATA_YAML_HEADER + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        write_member(self.zip_file, DATA_YAML, text.encode(), compress=True)

    def _manifest_extra(self) -> dict[str, Any]:
        return {"dropped_parts": self.dropped_parts, "files": {"data": DATA_YAML}}
