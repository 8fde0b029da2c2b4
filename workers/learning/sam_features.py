"""Per-pixel features from a SAM image embedding: the project model's head on SAM.

SAM's encoder sees the image resized to a long side of 1024 and padded to a square; its
embedding is a ``(C, 64, 64)`` grid over that padded square (16 px per cell). The cells
that cover the image are cut out and resized to the working size of the filter features
(:func:`.features.working_shape`), so a classifier sees both: SAM's semantics at coarse
resolution and the filters' edges and colour at the working resolution."""

from __future__ import annotations

import math

import cv2
import numpy as np

from .features import working_shape

#: Side of the padded square SAM's encoder sees, and pixels per embedding cell there.
SAM_INPUT = 1024
PATCH = 16


def embedding_features(
    embedding: np.ndarray, input_size: tuple[int, int], image_shape: tuple[int, int]
) -> np.ndarray:
    """``embedding``: ``(C, gh, gw)`` (a leading batch axis of 1 is dropped);
    ``input_size``: ``(h, w)`` of the resized image before padding; ``image_shape``:
    ``(H, W)`` of the original. Returns ``(h', w', C) float32`` at
    ``working_shape(H, W)``, each channel standardised over the image."""
    grid = np.asarray(embedding, np.float32)
    if grid.ndim == 4:
        grid = grid[0]
    if grid.ndim != 3:
        raise ValueError(f"an embedding is (C, h, w), not {grid.shape}")
    channels, gh, gw = grid.shape
    cell = SAM_INPUT / max(gh, gw)
    rows = max(1, min(gh, math.ceil(input_size[0] / cell)))
    cols = max(1, min(gw, math.ceil(input_size[1] / cell)))
    valid = np.ascontiguousarray(grid[:, :rows, :cols].transpose(1, 2, 0))
    height, width = working_shape(*image_shape)
    out = np.empty((height, width, channels), np.float32)
    # cv2.resize takes at most 512 channels at once; SAM's are 256 (32 for tiny).
    for start in range(0, channels, 256):
        part = valid[..., start : start + 256]
        resized = cv2.resize(part, (width, height), interpolation=cv2.INTER_LINEAR)
        out[..., start : start + 256] = resized.reshape(height, width, -1)
    flat = out.reshape(-1, channels)
    mean, std = flat.mean(axis=0), flat.std(axis=0)
    out = (out - mean) / np.where(std > 1e-6, std, 1.0)
    return out.astype(np.float32)
