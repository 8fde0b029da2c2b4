"""Prompts for the segmenter derived from the mask the flow carried onto a frame: its
box, a few interior points where the flow is reliable (positive clicks), a ring of
points just outside it (negative clicks), and the mask itself as the prior."""

from __future__ import annotations

import cv2
import numpy as np

from workers.engines.base import Click, Prompts


def _spread(
    ys: np.ndarray, xs: np.ndarray, weight: np.ndarray, count: int, gap: float
) -> list[int]:
    """Indices of up to ``count`` candidates, best ``weight`` first, at least ``gap``
    pixels apart."""
    order = np.argsort(-weight, kind="stable")
    if order.size > 4096:  # a regular subsample is plenty to place a handful of points
        order = order[:: order.size // 4096 + 1] if not weight.any() else order[:4096]
    py, px = ys[order].astype(np.float64), xs[order].astype(np.float64)
    free = np.ones(order.size, dtype=bool)
    chosen: list[int] = []
    while len(chosen) < count:
        left = np.flatnonzero(free)
        if not left.size:
            break
        k = int(left[0])
        chosen.append(int(order[k]))
        free &= (py - py[k]) ** 2 + (px - px[k]) ** 2 >= gap * gap
    return chosen


def carried_prompts(
    carried: np.ndarray,
    reliable: np.ndarray,
    full: tuple[int, int],
    *,
    positives: int = 3,
    negatives: int = 4,
    ring: float = 0.15,
    logits: np.ndarray | None = None,
) -> Prompts:
    """Prompts in full-image pixels (``full`` = ``(W, H)``) from the ``(h, w) bool``
    ``carried`` mask at working resolution.

    ``reliable``: ``(h, w) bool`` pixels where the flow is consistent; clicks go only
    there. Positive clicks sit at the deepest interior points, negative clicks on a
    ring ``ring`` times the object's size outside it, spread along it. The mask is given
    at full resolution; ``logits`` (the previous prediction's, if any) pass through."""
    h, w = carried.shape
    sx, sy = full[0] / w, full[1] / h
    mask_full = cv2.resize(carried.astype(np.float32), full, interpolation=cv2.INTER_LINEAR) >= 0.5
    if not carried.any():
        return Prompts(mask=mask_full, logits=logits)
    ys, xs = np.nonzero(carried)
    box = (
        float(xs.min() * sx),
        float(ys.min() * sy),
        float((xs.max() + 1) * sx - 1),
        float((ys.max() + 1) * sy - 1),
    )
    c8 = carried.astype(np.uint8)
    size = float(np.sqrt(carried.sum()))
    clicks: list[Click] = []
    if positives > 0:
        depth = cv2.distanceTransform(c8, cv2.DIST_L2, 3)
        cand = carried & reliable & (depth >= 2)
        py, px = np.nonzero(cand)
        for i in _spread(py, px, depth[py, px], positives, 0.3 * size):
            clicks.append(Click(float((px[i] + 0.5) * sx), float((py[i] + 0.5) * sy), True))
    if negatives > 0:
        outside = cv2.distanceTransform(1 - c8, cv2.DIST_L2, 3)
        radius = max(3.0, ring * size)
        on_ring = (np.abs(outside - radius) < 1.0) & reliable
        ny, nx = np.nonzero(on_ring)
        if ny.size:
            # Spread along the ring: farthest-point sampling from a deterministic start.
            weight = np.zeros(ny.size)
            chosen = _spread(ny, nx, weight, negatives, 2.0 * np.pi * radius / (negatives + 1))
            for i in chosen:
                clicks.append(Click(float((nx[i] + 0.5) * sx), float((ny[i] + 0.5) * sy), False))
    return Prompts(clicks=clicks, box=box, mask=mask_full, logits=logits)
