"""Which frame to ask the annotator for next: per-frame scores and the queue strategies.

A label is worth most where the model is wrong, and the model is wrong where it is
unsure (entropy, margin), where its answer flips under changes that should not matter
(sensitivity: noise, blur, gamma, contrast) and where the frame looks like nothing
labelled yet (diversity: greedy k-center on :func:`~.features.frame_descriptor`).
``combined``, the default, multiplies uncertainty and sensitivity and spreads a batch:
each greedy pick weighs its value by its distance to the frames labelled or picked.
"""

from __future__ import annotations

import cv2
import numpy as np

from .classifier import PixelModel
from .features import frame_features

__all__ = ["STRATEGIES", "frame_scores", "rank"]

STRATEGIES = ("random", "entropy", "margin", "sensitivity", "diversity", "combined")
#: Long side of the image the sensitivity perturbations are computed at (cost: about a
#: quarter of a working-size feature bank per perturbation).
SENSITIVITY_LONG_SIDE = 160
#: Floor of each factor of ``combined`` so one zero factor does not erase the other.
_FLOOR = 0.1
#: Share of ``combined``'s value that depends on the distance to frames already chosen.
DISTANCE_WEIGHT = 0.7


def _perturbations(image: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """Changes a good model should shrug off: noise, blur, gamma up and down, contrast."""
    f = image.astype(np.float32) / 255.0
    noisy = f + rng.normal(0.0, 0.04, f.shape).astype(np.float32)
    blurred = cv2.GaussianBlur(f, (0, 0), 1.2)
    low_contrast = 0.5 + 0.6 * (f - 0.5)
    out = [noisy, blurred, np.power(f, 0.6), np.power(f, 1.6), low_contrast]
    return [(np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8) for x in out]


def _foreground(proba: np.ndarray) -> np.ndarray:
    """Argmax label map, the class index per pixel (0 background)."""
    return np.asarray(proba.argmax(axis=-1))


def _disagreement(a: np.ndarray, b: np.ndarray) -> float:
    """1 - IoU of two label maps over their non-background pixels (0 when both empty)."""
    union = np.count_nonzero((a > 0) | (b > 0))
    if union == 0:
        return 0.0
    return 1.0 - np.count_nonzero((a == b) & (a > 0)) / union


def frame_scores(
    model: PixelModel | None,
    features: np.ndarray,
    image: np.ndarray,
    seed: int,
    *,
    sensitivity: bool = True,
) -> dict[str, float]:
    """Per-frame scores, larger = more worth labelling; all 0 without a model.

    ``entropy``: mean pixel entropy over the pixels the model does not call confident
    background (normalised to [0, 1]); ``margin``: 1 - mean top-2 margin over the same
    pixels; ``sensitivity``: mean 1 - IoU of the foreground under each perturbation
    against the unperturbed prediction at the same small size; ``uncertainty``: 1 - the
    model's expected IoU of its own argmax mask (used by ``combined``).
    ``sensitivity=False`` skips the perturbations (about 0.3 s a frame) and reports 0.
    """
    zero = {"entropy": 0.0, "margin": 0.0, "sensitivity": 0.0, "uncertainty": 0.0}
    if model is None:
        return zero
    proba = model.predict_proba(features)
    k1 = proba.shape[-1]
    p = np.clip(proba, 1e-6, 1.0)
    entropy = -(p * np.log(p)).sum(axis=-1) / np.log(k1)
    top2 = np.sort(proba, axis=-1)[..., -2:]
    margin = top2[..., 1] - top2[..., 0]
    # Ignore confident background: most of a frame, it would drown the object's doubt.
    region = proba[..., 0] < 0.9
    if not region.any():
        region = np.ones(region.shape, bool)
    pred = _foreground(proba)
    fg = 1.0 - proba[..., 0]
    mask = pred > 0
    inter = float(fg[mask].sum())
    union = float(mask.sum() + fg[~mask].sum())
    expected_iou = inter / union if union > 0 else 1.0

    scores = {
        "entropy": float(entropy[region].mean()),
        "margin": float(1.0 - margin[region].mean()),
        "sensitivity": 0.0,
        "uncertainty": float(1.0 - expected_iou),
    }
    if not sensitivity:
        return scores
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    scale = min(1.0, SENSITIVITY_LONG_SIDE / max(h, w))
    small = cv2.resize(
        image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
    )
    base = _foreground(model.predict_proba(frame_features(small)))
    changes = [
        _disagreement(base, _foreground(model.predict_proba(frame_features(x))))
        for x in _perturbations(small, rng)
    ]
    scores["sensitivity"] = float(np.mean(changes))
    return scores


def _min_distances(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Euclidean distance from each row of ``points`` to its nearest row of ``centres``."""
    if len(centres) == 0:
        return np.full(len(points), np.inf)
    d = np.linalg.norm(points[:, None, :] - centres[None, :, :], axis=-1)
    return np.asarray(d.min(axis=1))


def _greedy_order(values: np.ndarray, descriptors: np.ndarray, labelled: np.ndarray) -> list[int]:
    """Greedy picks by ``value * (1 - w + w * distance / max distance)``.

    Distances are to the labelled frames and the frames picked so far. ``values`` all
    equal gives plain k-center (farthest first); with nothing labelled, the first pick
    is the medoid (the most typical frame) so a model trained on it generalises."""
    n = len(descriptors)
    order: list[int] = []
    remaining = list(range(n))
    centres = labelled.reshape(-1, descriptors.shape[1]) if labelled.size else labelled
    uniform = np.allclose(values, values[0]) if n else True
    while remaining:
        if len(centres) == 0 and uniform:
            d = np.linalg.norm(descriptors[:, None] - descriptors[None], axis=-1).sum(axis=1)
            pick = int(remaining[int(np.argmin(d[remaining]))])
        else:
            dist = _min_distances(descriptors[remaining], centres)
            if np.isinf(dist).all():
                dist = np.ones(len(remaining))
            scale = dist.max() if dist.max() > 0 else 1.0
            weight = 1.0 - DISTANCE_WEIGHT + DISTANCE_WEIGHT * dist / scale
            if uniform:
                weight = dist
            pick = remaining[int(np.argmax(values[remaining] * weight))]
        order.append(pick)
        remaining.remove(pick)
        new = descriptors[pick][None]
        centres = new if len(centres) == 0 else np.concatenate([centres, new])
    return order


def _order_to_score(order: list[int], n: int) -> np.ndarray:
    scores = np.zeros(n)
    for position, index in enumerate(order):
        scores[index] = 1.0 - position / max(n, 1)
    return scores


def rank(
    scores: list[dict[str, float]],
    descriptors: np.ndarray,
    labelled_descriptors: np.ndarray,
    seed: int = 0,
) -> list[dict[str, float]]:
    """Per candidate frame (same order as ``scores``) the score of every strategy in
    :data:`STRATEGIES`, larger = ask first. ``descriptors``: ``(N, D)`` of the candidates,
    ``labelled_descriptors``: ``(M, D)`` of the frames labelled already (M may be 0).
    ``diversity`` and ``combined`` turn their greedy order into ``1 - position / N``.
    ``combined`` falls back to ``diversity`` when every uncertainty is 0 (no model)."""
    n = len(scores)
    if n == 0:
        return []
    descriptors = np.asarray(descriptors, np.float64).reshape(n, -1)
    labelled = np.asarray(labelled_descriptors, np.float64)
    rng = np.random.default_rng(seed)
    random_scores = rng.random(n)
    diversity = _order_to_score(_greedy_order(np.ones(n), descriptors, labelled), n)

    def column(name: str) -> np.ndarray:
        return np.array([float(s.get(name, 0.0)) for s in scores])

    uncertainty = column("uncertainty")
    if not uncertainty.any():
        uncertainty = column("entropy")
    sensitivity = column("sensitivity")
    if not uncertainty.any() and not sensitivity.any():
        combined = diversity
    else:
        # Both are in [0, 1] already; scaling each by its maximum would blow a batch's
        # tiny sensitivities up to the level of a real one.
        values = (uncertainty + _FLOOR) * (sensitivity + _FLOOR)
        combined = _order_to_score(_greedy_order(values, descriptors, labelled), n)
    entropy, margin = column("entropy"), column("margin")
    return [
        {
            "random": float(random_scores[i]),
            "entropy": float(entropy[i]),
            "margin": float(margin[i]),
            "sensitivity": float(sensitivity[i]),
            "diversity": float(diversity[i]),
            "combined": float(combined[i]),
        }
        for i in range(n)
    ]
