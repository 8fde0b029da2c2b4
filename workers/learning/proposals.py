"""Proposals: the project model's masks on unlabelled frames, refined by the engine.

The forest sees a frame at working size and pixel by pixel, so its masks are blobby at
the edges and speckled. The classical engine cuts along image edges but needs prompts;
the probability map supplies them as an annotator would: a box around the mask, positive
clicks deep inside confident foreground, negative clicks in confident background within
the box, and the map itself as the cut's prior. The engine's answer is used only when it broadly
agrees with the model's mask (the engine can flood through a weak edge), and then only
on the pixels the model is unsure of. The score estimates the IoU: the geometric mean of
the model's expected IoU of the kept mask and the agreement of the two masks (each ranks
frames by their true IoU, Spearman about 0.9 on DAVIS, ``bench/active_learning.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from workers.engines.base import Click, Prompts

__all__ = ["Proposal", "derive_prompts", "model_mask", "prior_for", "propose"]

#: Components smaller than this (full-resolution pixels) are speckle, not objects.
MIN_AREA = 400
#: A class probability above this is confident foreground, background above this too.
CONFIDENT = 0.8
#: The refined mask is kept when its IoU with the model's mask is at least this.
MIN_AGREEMENT = 0.6
#: Box margin: this share of the mask's box size on each side, plus 4 pixels.
BOX_MARGIN = 0.05


@dataclass
class Proposal:
    """``mask`` ``(H, W) bool`` full resolution; ``label_index`` the class 1..K;
    ``score`` in [0, 1], the estimated IoU of the mask (``refined``: the engine's mask
    was kept)."""

    mask: np.ndarray
    label_index: int
    score: float
    refined: bool = False


def prior_for(proba: np.ndarray, class_index: int | None) -> np.ndarray:
    """``(H, W) float32`` prior for the engine: P(class), or 1 - P(background)."""
    if class_index is None:
        return np.asarray(1.0 - proba[..., 0], np.float32)
    return np.asarray(proba[..., class_index], np.float32)


def model_mask(proba: np.ndarray, class_index: int, min_area: int = MIN_AREA) -> np.ndarray:
    """The class's argmax mask without components under ``min_area`` pixels, holes
    under it filled too (``(H, W) bool``)."""
    mask = np.asarray(proba.argmax(axis=-1) == class_index)
    return _drop_small(~_drop_small(~mask, min_area), min_area)


def _drop_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return np.asarray(keep[labels])


def _peaks(region: np.ndarray, count: int, min_depth: float) -> list[tuple[float, float]]:
    """Up to ``count`` ``(x, y)`` points deepest inside ``region`` (distance-transform
    maxima), each at least its depth away from the others, none shallower than
    ``min_depth`` pixels."""
    if not region.any():
        return []
    dist = cv2.distanceTransform(region.astype(np.uint8), cv2.DIST_L2, 5)
    out: list[tuple[float, float]] = []
    for _ in range(count):
        y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
        depth = float(dist[y, x])
        if depth < min_depth:
            break
        out.append((float(x) + 0.5, float(y) + 0.5))
        cv2.circle(dist, (int(x), int(y)), int(2 * depth) + 1, 0.0, thickness=-1)
    return out


def derive_prompts(proba: np.ndarray, class_index: int, mask: np.ndarray) -> Prompts:
    """Prompts an annotator would give for ``mask`` (see the module docstring)."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    mx = BOX_MARGIN * (x1 - x0) + 4
    my = BOX_MARGIN * (y1 - y0) + 4
    box = (
        float(max(0.0, x0 - mx)),
        float(max(0.0, y0 - my)),
        float(min(w - 1.0, x1 + mx)),
        float(min(h - 1.0, y1 + my)),
    )
    side = float(np.sqrt(mask.sum()))
    confident = mask & (proba[..., class_index] > CONFIDENT)
    if not confident.any():
        confident = mask
    positives = _peaks(confident, 3, max(2.0, 0.05 * side))
    if not positives:
        positives = _peaks(mask, 1, 0.0)
    inside_box = np.zeros((h, w), bool)
    bx0, by0, bx1, by1 = (int(v) for v in box)
    inside_box[by0 : by1 + 1, bx0 : bx1 + 1] = True
    background = inside_box & ~mask & (proba[..., 0] > CONFIDENT)
    negatives = _peaks(background, 2, max(3.0, 0.04 * side))
    clicks = [Click(x, y, True) for x, y in positives]
    clicks += [Click(x, y, False) for x, y in negatives]
    return Prompts(clicks=clicks, box=box, prior=prior_for(proba, class_index))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b) / union) if union else 1.0


def _expected_iou(p: np.ndarray, mask: np.ndarray) -> float:
    """The model's own expected IoU of ``mask`` if pixels follow probabilities ``p``."""
    inter = float(p[mask].sum())
    union = float(np.count_nonzero(mask) + p[~mask].sum())
    return inter / union if union > 0 else 0.0


def propose(
    image: np.ndarray,
    proba: np.ndarray,
    engine: Any,
    state: Any,
    min_area: int = MIN_AREA,
    *,
    min_agreement: float = MIN_AGREEMENT,
) -> list[Proposal]:
    """One proposal per class the model finds on ``image``.

    ``proba``: ``(H, W, K+1)`` full resolution (:func:`~.classifier.upsample_proba`);
    ``engine``/``state``: a classical engine and its prepared state for ``image``, or
    ``None, None`` to keep the model's masks unrefined. Score: the model's expected IoU
    of the kept mask times (for a refined mask) the agreement of the two masks."""
    h, w = image.shape[:2]
    if proba.shape[:2] != (h, w):
        raise ValueError(f"proba {proba.shape[:2]} is not the image's {(h, w)}")
    out: list[Proposal] = []
    for c in range(1, proba.shape[-1]):
        mask = model_mask(proba, c, min_area)
        if not mask.any():
            continue
        p = proba[..., c]
        base = _expected_iou(p, mask)
        if engine is None or state is None:
            out.append(Proposal(mask, c, float(np.clip(base, 0.0, 1.0))))
            continue
        refined = np.asarray(engine.predict(state, derive_prompts(proba, c, mask)).mask, bool)
        agreement = _iou(refined, mask)
        if agreement >= min_agreement:
            # The engine re-decides only the pixels the model is unsure of: where the
            # model is confident it is right more often than the cut (bench: +0.01 mIoU).
            band = (p > 1.0 - CONFIDENT) & (p < CONFIDENT)
            merged = _drop_small(np.where(band, refined, mask), min_area)
            score = np.sqrt(_expected_iou(p, merged) * agreement)
            out.append(Proposal(merged, c, float(np.clip(score, 0.0, 1.0)), refined=True))
        else:
            score = np.sqrt(base * agreement)
            out.append(Proposal(mask, c, float(np.clip(score, 0.0, 1.0))))
    return out
