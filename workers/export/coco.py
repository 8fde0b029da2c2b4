"""COCO instance segmentation export: one ``annotations.json``.

Layout of the JSON (keys beyond the COCO spec are marked +)::

    {"info": {...}, "licenses": [],
     "categories": [{"id", "name", "supercategory", "color"+}],
     "videos"+: [{"id", "name", "folder", "width", "height", "num_frames", "fps"}],
     "images": [{"id", "file_name", "width", "height", "asset_id"+, "frame_index"+,
                 "video_id"+, "video_name"+}],
     "annotations": [{"id", "image_id", "category_id", "segmentation": RLE with str
                      counts, "area", "bbox": [x, y, w, h], "iscrowd": 0, "score"+,
                      "track_id"+, "source"+, "review_status"+, "video_id"+}]}

Videos (the video extension follows TAO / COCO-VID): each annotated frame of a video
is one COCO image whose ``file_name`` is unique per frame (``images/<asset id>_<name
stem>/<frame:05d>.jpg``), with ``frame_index`` (0-based), ``video_id`` (the asset id,
an entry of ``videos``) and ``video_name`` (the asset's name); frames without
annotations are not listed. ``track_id`` is the object's identity within its video:
``(video_id, track_id)`` names one object across frames. Still images are as before:
``frame_index`` null, no ``video_id``; their annotations carry ``track_id`` too.

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
        self._videos = Spool("array")
        self._video_ids: set[int] = set()

    def _on_image(self, image: ExportImage) -> None:
        record: dict[str, Any] = {
            "id": image.id,
            "file_name": image.file_name,
            "width": image.width,
            "height": image.height,
            "asset_id": image.asset_id,
            "frame_index": image.frame_index,
        }
        video = image.video
        if video is not None:
            record["video_id"] = video.id
            record["video_name"] = video.name
            if video.id not in self._video_ids:
                self._video_ids.add(video.id)
                self._videos.add(
                    {
                        "id": video.id,
                        "name": video.name,
                        "folder": video.folder,
                        "width": video.width,
                        "height": video.height,
                        "num_frames": video.num_frames,
                        "fps": video.fps,
                    }
                )
        self._images.add(record)

    def _on_annotation(self, image: ExportImage, annotation: ExportAnnotation) -> None:
        rle = {"size": annotation.rle["size"], "counts": annotation.rle["counts"]}
        # Both work on the runs; [x, y, w, h] floats as COCO stores them.
        area = int(mask_utils.area(rle))
        bbox = [float(v) for v in mask_utils.toBbox(rle)]
        counts = rle["counts"]
        record: dict[str, Any] = {
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
            "track_id": annotation.track,
            "source": annotation.source,
            "review_status": annotation.review_status,
        }
        if image.video is not None:
            record["video_id"] = image.video.id
        self._annotations.add(record)

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
            + b',"videos":['
        )
        parts: list[Spool | bytes] = [self._videos, b'],"images":[', self._images]
        parts += [b'],"annotations":[', self._annotations, b"]}"]
        size = len(head) + sum(p.size if isinstance(p, Spool) else len(p) for p in parts)
        with open_member(self.zip_file, ANNOTATIONS_NAME, size) as out:
            out.write(head)
            for part in parts:
                if isinstance(part, Spool):
                    part.copy_into(out)
                else:
                    out.write(part)
        for spool in (self._videos, self._images, self._annotations):
            spool.close()

    def _manifest_extra(self) -> dict[str, Any]:
        return {"files": {"annotations": ANNOTATIONS_NAME}}
