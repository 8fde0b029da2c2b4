"""Full-resolution edges for a mask decided at working resolution: the upsampled mask is
guided-filtered (He, Sun and Tang's guided filter) by the frame's luminance, so its
edges follow the image's instead of the working grid's 2 px steps."""

from __future__ import annotations

import cv2
import numpy as np

#: The filter runs at most at this many pixels (854x480); a larger frame's result is
#: upsampled from there, so its cost stays bounded.
MAX_PIXELS = 854 * 480


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    side = 2 * radius + 1
    out: np.ndarray = cv2.boxFilter(x, -1, (side, side), borderType=cv2.BORDER_REFLECT)
    return out


def guided_upsample(
    mask: np.ndarray, image: np.ndarray, radius: int = 4, eps: float = 1e-3
) -> np.ndarray:
    """``(H, W) bool``: the ``(h, w) bool`` ``mask`` upsampled (bilinear) to the size
    of ``image`` (``(H, W, 3) uint8`` RGB), guided-filtered by its luminance over
    ``(2 radius + 1)`` px boxes (``eps``: the filter's regulariser, on intensities in
    [0, 1]), thresholded at one half. Only the box around the mask's edges is
    filtered, at no more than ``MAX_PIXELS`` (``radius`` counts pixels there);
    ``radius`` 0 is the plain bilinear upsampling, and so is the result when the
    filter would leave nothing of a tiny object."""
    height, width = image.shape[:2]
    scale = min(1.0, float(np.sqrt(MAX_PIXELS / max(height * width, 1))))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    soft = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    m8 = mask.astype(np.uint8)
    edge = cv2.dilate(m8, np.ones((3, 3), np.uint8)) != cv2.erode(m8, np.ones((3, 3), np.uint8))
    ys, xs = np.nonzero(edge)
    plain = soft
    if radius > 0 and ys.size:
        soft = soft.copy()
        sy, sx = size[1] / mask.shape[0], size[0] / mask.shape[1]
        margin = 2 * radius + 2
        y0 = max(int(ys.min() * sy) - margin, 0)
        y1 = min(int((ys.max() + 1) * sy) + margin + 1, size[1])
        x0 = max(int(xs.min() * sx) - margin, 0)
        x1 = min(int((xs.max() + 1) * sx) + margin + 1, size[0])
        guide = image if scale == 1.0 else cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        p = soft[y0:y1, x0:x1]
        g = cv2.cvtColor(guide[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        mean_g = _box(g, radius)
        mean_p = _box(p, radius)
        a = (_box(g * p, radius) - mean_g * mean_p) / (_box(g * g, radius) - mean_g**2 + eps)
        b = mean_p - a * mean_g
        soft[y0:y1, x0:x1] = _box(a, radius) * g + _box(b, radius)
    for values in (soft, plain):  # an object thinner than the filter keeps its plain edges
        if size != (width, height):
            values = cv2.resize(values, (width, height), interpolation=cv2.INTER_LINEAR)
        out: np.ndarray = values >= 0.5
        if out.any():
            break
    return out
