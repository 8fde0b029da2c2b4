"""A synthetic video for the export tests: 3 frames, 2 tracks, plus one still image.

Frame 0 shows track 5 only; frame 1 shows track 5 and track 2 (which overlap); frame 2
has no annotation. Track 5 appears first, so DAVIS numbers it 1 and track 2 as 2.
"""

from __future__ import annotations

import functools
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from formats.rle import encode_mask
from tests.workers.export.helpers import CATEGORIES, ellipse, jpeg_bytes
from workers.export import ExportAnnotation, ExportImage, ExportVideo, build_writer

H, W = 30, 40
VIDEO = ExportVideo(
    id=50, name="clip one.mp4", folder="50_clip_one", num_frames=3, width=W, height=H, fps=25.0
)
#: (annotation id, frame, track, category id, mask)
MASKS = [
    (1, 0, 5, 7, ellipse(H, W, 12, 14, 8, 6)),
    (2, 1, 5, 7, ellipse(H, W, 14, 14, 8, 6)),
    (3, 1, 2, 3, ellipse(H, W, 20, 15, 7, 9)),  # overlaps annotation 2
]
STILL_MASK = ellipse(20, 25, 10, 10, 5, 4)


@dataclass
class VideoProject:
    images: list[ExportImage] = field(default_factory=list)
    annotations: dict[int, list[ExportAnnotation]] = field(default_factory=dict)
    image_bytes: dict[int, bytes] = field(default_factory=dict)


def _annotation(
    ann_id: int, image_id: int, category: int, mask: np.ndarray, track: int
) -> ExportAnnotation:
    return ExportAnnotation(
        id=ann_id,
        image_id=image_id,
        category_id=category,
        rle=encode_mask(mask),
        source="propagated" if ann_id == 2 else "manual",
        score=0.75 if ann_id == 2 else None,
        review_status="needs_review" if ann_id == 2 else "accepted",
        author="ann",
        version=1,
        created="2026-01-02T03:04:05+00:00",
        interaction=None,
        track=track,
    )


def video_project(every_frame: bool) -> VideoProject:
    """The video's frames (all three, or only the annotated ones), then the still."""
    project = VideoProject()
    image_id = 0
    for frame in range(VIDEO.num_frames):
        masks = [m for m in MASKS if m[1] == frame]
        if not masks and not every_frame:
            continue
        image_id += 1
        data = jpeg_bytes(H, W, frame)
        project.image_bytes[image_id] = data
        project.images.append(
            ExportImage(
                id=image_id,
                asset_id=VIDEO.id,
                file_name=f"images/{VIDEO.folder}/{frame:05d}.jpg",
                width=W,
                height=H,
                frame_index=frame,
                open_image=functools.partial(bytes, data),
                video=VIDEO,
            )
        )
        project.annotations[image_id] = [
            _annotation(ann_id, image_id, category, mask, track)
            for ann_id, _frame, track, category, mask in masks
        ]
    image_id += 1
    still = jpeg_bytes(20, 25, 99)
    project.image_bytes[image_id] = still
    project.images.append(
        ExportImage(
            image_id, 60, "images/60_cat.jpg", 25, 20, None, functools.partial(bytes, still)
        )
    )
    project.annotations[image_id] = [_annotation(9, image_id, 11, STILL_MASK, 1)]
    return project


def export_video(
    fmt: str, project: VideoProject, path: Path, include_images: bool = False
) -> zipfile.ZipFile:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        writer = build_writer(fmt, zf, CATEGORIES, include_images)
        for image in project.images:
            writer.add_image(image)
            for annotation in project.annotations[image.id]:
                writer.add_annotation(annotation)
        writer.close()
    return zipfile.ZipFile(path)
