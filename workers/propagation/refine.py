"""Full-resolution refinement of a mask decided at working resolution: a guided filter
(He et al.) of the upsampled mask, guided by the full-size frame, snaps its edges to the
image's edges instead of the working grid's 2 px steps."""

from __future__ import annotations

import cv2
import numpy as np


def _box(x: np.ndarray, r: int) -> np.ndarray:
    out: np.ndarray = cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)
    return out


def guided_upsample(
    mask: np.ndarray, image: np.ndarray, radius: int = 4, eps: float = 1e-3, colour: bool = False
) -> np.ndarray:
    """``(H, W) bool``: the ``(h, w) bool`` ``mask`` upsampled to ``image``'s size
    (bilinear), guided-filtered by the frame's luminance within ``radius`` px (``eps``
    on [0, 1] intensities), thresholded at one half. Only the box around the mask's
    boundary is filtered."""
    height, width = image.shape[:2]
    soft = cv2.resize(mask.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    if not mask.any() or radius <= 0:
        out0: np.ndarray = soft >= 0.5
        return out0
    edge = (soft > 0.0) & (soft < 1.0)
    ys, xs = np.nonzero(edge)
    if not ys.size:
        out1: np.ndarray = soft >= 0.5
        return out1
    m = 2 * radius + 2
    y0, y1 = max(int(ys.min()) - m, 0), min(int(ys.max()) + m + 1, height)
    x0, x1 = max(int(xs.min()) - m, 0), min(int(xs.max()) + m + 1, width)
    p = soft[y0:y1, x0:x1]
    crop = image[y0:y1, x0:x1]
    if colour:
        guide = crop.astype(np.float32) / 255.0
        q = _guided_colour(guide, p, radius, eps)
    else:
        g = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        mean_i = _box(g, radius)
        mean_p = _box(p, radius)
        cov = _box(g * p, radius) - mean_i * mean_p
        var = _box(g * g, radius) - mean_i * mean_i
        a = cov / (var + eps)
        b = mean_p - a * mean_i
        q = _box(a, radius) * g + _box(b, radius)
    out = soft >= 0.5
    out[y0:y1, x0:x1] = q >= 0.5
    return out


def _guided_colour(guide: np.ndarray, p: np.ndarray, r: int, eps: float) -> np.ndarray:
    mean_i = _box(guide, r)
    mean_p = _box(p, r)
    cov = _box(guide * p[..., None], r) - mean_i * mean_p[..., None]
    sig = np.empty(guide.shape[:2] + (3, 3), dtype=np.float32)
    for i in range(3):
        for j in range(i, 3):
            v = _box(guide[..., i] * guide[..., j], r) - mean_i[..., i] * mean_i[..., j]
            sig[..., i, j] = v
            sig[..., j, i] = v
    sig += eps * np.eye(3, dtype=np.float32)
    a = np.linalg.solve(sig, cov[..., None])[..., 0]
    b = mean_p - (a * mean_i).sum(-1)
    q: np.ndarray = (_box(a, r) * guide).sum(-1) + _box(b, r)
    return q
