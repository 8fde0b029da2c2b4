"""Re-detection of a lost object by its keyframe colours: when the carried mask is empty
or drift control keeps failing, the last trusted mask's shape is slid over the frame's
colour evidence and moved where the object's colours fit it best, if they fit clearly
better than where the mask sits now."""

from __future__ import annotations

import cv2
import numpy as np


def fit(llr: np.ndarray, shape: np.ndarray) -> np.ndarray:
    """``(h - th + 1, w - tw + 1)`` mean colour log-likelihood ratio under the ``shape``
    template (cropped to its box) at each placement of its top-left corner."""
    total = cv2.matchTemplate(llr.astype(np.float32), shape.astype(np.float32), cv2.TM_CCORR)
    return np.asarray(total, dtype=np.float32) / max(float(shape.sum()), 1.0)


def relocate(
    llr: np.ndarray, template: np.ndarray, current: np.ndarray, margin: float
) -> np.ndarray | None:
    """The ``template`` mask (``(h, w) bool``, the last trusted one) moved to where the
    frame's colour ``llr`` (``(h, w)``) fits it best, or ``None`` when that fit is not
    above 0 and at least ``margin`` better than the ``current`` mask's."""
    if not template.any():
        return None
    ys, xs = np.nonzero(template)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    crop = template[y0:y1, x0:x1]
    if crop.shape[0] > llr.shape[0] or crop.shape[1] > llr.shape[1]:
        return None
    scores = fit(llr, crop)
    best = float(scores.max())
    here = float(llr[current].mean()) if current.any() else -np.inf
    if best <= 0 or best < here + margin:
        return None
    by, bx = np.unravel_index(int(np.argmax(scores)), scores.shape)
    out = np.zeros_like(template)
    out[by : by + crop.shape[0], bx : bx + crop.shape[1]] = crop
    return out
