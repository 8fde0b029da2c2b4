"""Synthetic projects for the export tests: records plus the source masks they encode."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from formats.rle import encode_mask
from workers.export import (
    ExportAnnotation,
    ExportCategory,
    ExportImage,
    build_writer,
)

# Not sorted by id on purpose: class indices must follow this order, not the ids.
CATEGORIES = [
    ExportCategory(id=7, name="cell", color="#ff0000"),
    ExportCategory(id=3, name="nucleus", color="#00ff80"),
    ExportCategory(id=11, name="débris", color="#2040c0"),
]


def ellipse(h: int, w: int, cx: int, cy: int, ax: int, ay: int, angle: float = 0.0) -> np.ndarray:
    """``(h, w) bool`` filled ellipse (may be clipped by the border)."""
    canvas = np.zeros((h, w), np.uint8)
    cv2.ellipse(canvas, (cx, cy), (ax, ay), angle, 0, 360, 1, -1)
    return canvas.astype(bool)


def jpeg_bytes(h: int, w: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def interaction(seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    return {
        "clicks": [
            {"x": float(rng.uniform(0, 30)), "y": 4.5, "positive": bool(i % 2 == 0), "t": 0.25 * i}
            for i in range(3)
        ],
        "box": [1.0, 2.0, 20.5, 18.0] if seed % 2 else None,
        "scribbles": [
            {"points": [[1.0, 1.0], [3.5, 4.0], [6.0, 9.0]], "positive": False, "t": 1.5}
        ],
    }


@dataclass
class Project:
    """Images in export order, annotations grouped after their image, source masks."""

    categories: list[ExportCategory]
    images: list[ExportImage] = field(default_factory=list)
    annotations: dict[int, list[ExportAnnotation]] = field(default_factory=dict)
    masks: dict[int, np.ndarray] = field(default_factory=dict)  # annotation id -> (H, W) bool
    image_bytes: dict[int, bytes] = field(default_factory=dict)

    def add_image(self, image_id: int, h: int, w: int, *, frame: int | None = None) -> ExportImage:
        data = jpeg_bytes(h, w, image_id)
        self.image_bytes[image_id] = data
        asset_id = 34 if frame is not None else image_id + 1000
        name = (
            f"images/{asset_id}_f{frame:04d}.jpg" if frame is not None else f"images/{image_id}.jpg"
        )
        image = ExportImage(image_id, asset_id, name, w, h, frame, lambda: data)
        self.images.append(image)
        self.annotations[image_id] = []
        return image

    def add_mask(self, ann_id: int, image: ExportImage, category_id: int, mask: np.ndarray) -> None:
        assert mask.shape == (image.height, image.width)
        self.masks[ann_id] = mask
        self.annotations[image.id].append(
            ExportAnnotation(
                id=ann_id,
                image_id=image.id,
                category_id=category_id,
                rle=encode_mask(mask),
                source="model" if ann_id % 2 else "manual",
                score=0.5 + ann_id / 1000 if ann_id % 2 else None,
                review_status="accepted" if ann_id % 3 else "pending",
                author=None if ann_id % 4 == 0 else f"user{ann_id % 3}",
                version=1 + ann_id % 3,
                created=f"2024-05-{1 + ann_id % 28:02d}T10:00:00+00:00",
                interaction=interaction(ann_id) if ann_id % 2 == 0 else None,
            )
        )

    def all_annotations(self) -> list[ExportAnnotation]:
        return [a for image in self.images for a in self.annotations[image.id]]


def small_project() -> Project:
    """Four images: blobs, overlaps, border-touching and tiny masks, a video frame, an
    empty image. Annotation ids arrive out of order within an image."""
    p = Project(list(CATEGORIES))
    a = p.add_image(101, 30, 40)
    p.add_mask(5, a, 7, ellipse(30, 40, 12, 14, 8, 6))
    p.add_mask(2, a, 3, ellipse(30, 40, 18, 15, 7, 9, 30))  # overlaps 5; lower id
    p.add_mask(9, a, 11, ellipse(30, 40, 30, 10, 9, 6))
    b = p.add_image(102, 20, 25)
    border = np.zeros((20, 25), bool)
    border[:, 0] = True  # whole left column
    border[-1, :] = True  # whole bottom row
    p.add_mask(12, b, 7, border)
    corner = np.zeros((20, 25), bool)
    corner[:6, -7:] = True  # top-right corner block, touching two borders
    p.add_mask(13, b, 3, corner)
    tiny = np.zeros((20, 25), bool)
    tiny[10, 10] = True  # one pixel
    p.add_mask(14, b, 11, tiny)
    two = np.zeros((20, 25), bool)
    two[4:6, 14:16] = True  # 2x2
    p.add_mask(15, b, 11, two)
    p.add_mask(11, b, 7, np.zeros((20, 25), bool))  # empty mask
    c = p.add_image(103, 32, 48, frame=5)
    parts = ellipse(32, 48, 10, 10, 6, 6) | ellipse(32, 48, 36, 22, 8, 7)  # two components
    holed = ellipse(32, 48, 24, 16, 12, 10) & ~ellipse(32, 48, 24, 16, 4, 4)
    p.add_mask(21, c, 3, parts)
    p.add_mask(20, c, 7, holed)
    p.add_image(104, 16, 16)  # no annotations
    return p


def feed(writer_format: str, project: Project, path: Path, include_images: bool = True) -> None:
    """Export ``project`` with the writer of ``writer_format`` into a new zip at ``path``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        writer = build_writer(writer_format, zf, project.categories, include_images)
        for image in project.images:
            writer.add_image(image)
            for annotation in project.annotations[image.id]:
                writer.add_annotation(annotation)
        writer.close()


def lazy_records(
    n_images: int, per_image: int, h: int, w: int, seed: int = 0
) -> Iterator[ExportImage | ExportAnnotation]:
    """Images and their annotations as a lazy stream (nothing accumulates)."""
    rng = np.random.default_rng(seed)
    ann_id = 0
    for image_id in range(1, n_images + 1):
        yield ExportImage(image_id, image_id, f"images/{image_id}.png", w, h, None, None)
        for _ in range(per_image):
            ann_id += 1
            mask = ellipse(
                h,
                w,
                int(rng.integers(0, w)),
                int(rng.integers(0, h)),
                int(rng.integers(2, w // 3)),
                int(rng.integers(2, h // 3)),
                float(rng.uniform(0, 180)),
            )
            yield ExportAnnotation(
                ann_id,
                image_id,
                CATEGORIES[ann_id % 3].id,
                encode_mask(mask),
                "model",
                0.9,
                "pending",
                None,
                1,
                "2024-01-01T00:00:00+00:00",
                None,
            )
