"""Video assets built directly in the database and media storage, for tests of what
comes after ingestion (tracks, timeline, propagation): frames of a textured disc moving
over a textured background, stored as PNG frame images with their Frame rows."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image


def disc_frames(
    count: int, width: int = 96, height: int = 64, radius: int = 12, step: int = 3
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``count`` RGB frames of a red textured disc moving right by ``step`` pixels a
    frame over a green-blue textured background, and the disc's true masks."""
    rng = np.random.default_rng(7)
    background = np.stack(
        [
            rng.integers(0, 60, (height, width)),
            rng.integers(90, 160, (height, width)),
            rng.integers(120, 200, (height, width)),
        ],
        axis=-1,
    ).astype(np.uint8)
    texture = rng.integers(0, 40, (height, width, 3))
    yy, xx = np.mgrid[:height, :width]
    frames, masks = [], []
    for i in range(count):
        cx, cy = radius + 4 + i * step, height // 2
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
        image = background.copy()
        image[mask] = (np.array([200, 40, 40]) + texture[mask] // 2).clip(0, 255)
        frames.append(image)
        masks.append(mask)
    return frames, masks


def make_video(
    project: Any, frames: list[np.ndarray], fps: float = 25.0, name: str = "v.mp4"
) -> Any:
    """A ``ready`` video asset of ``frames`` (rows and stored frame images)."""
    from annotator.models import Asset, AssetStatus, Frame

    height, width = frames[0].shape[:2]
    checksum = hashlib.sha256(b"".join(f.tobytes()[:256] for f in frames)).hexdigest()
    asset = Asset.objects.create(
        project=project,
        kind="video",
        name=name,
        checksum=checksum,
        width=width,
        height=height,
        num_frames=len(frames),
        fps=fps,
        status=AssetStatus.READY,
    )
    rows = []
    for index, image in enumerate(frames):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        path = default_storage.save(
            f"assets/frames/{asset.pk}/{index:06d}.png", ContentFile(buffer.getvalue())
        )
        rows.append(
            Frame(
                asset=asset,
                index=index,
                timestamp=index / fps,
                image=path,
                width=width,
                height=height,
            )
        )
    Frame.objects.bulk_create(rows)
    return asset
