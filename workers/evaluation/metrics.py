"""IoU and Number-of-Clicks (NoC) metrics for interactive segmentation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: IoU thresholds reported as NoC@85 and NoC@90.
NOC_THRESHOLDS = (0.85, 0.90)
#: Click counts at which the mean IoU is reported.
MIOU_AT = (1, 3, 5, 10)


def iou(gt: np.ndarray, pred: np.ndarray) -> float:
    """Intersection over union of two ``(H, W)`` bool masks; 1.0 when both are empty."""
    gt = gt.astype(bool)
    pred = pred.astype(bool)
    union = np.count_nonzero(gt | pred)
    if union == 0:
        return 1.0
    return np.count_nonzero(gt & pred) / union


def noc(ious: Sequence[float], threshold: float, max_clicks: int = 20) -> int:
    """Clicks needed to reach ``threshold``: the 1-based index of the first IoU at or
    above it within the first ``max_clicks``, or ``max_clicks`` when never reached."""
    for k, value in enumerate(ious[:max_clicks]):
        if value >= threshold:
            return k + 1
    return max_clicks


def _iou_at(ious: Sequence[float], k: int) -> float:
    """IoU after ``k`` clicks; a session that stopped earlier (target reached or a
    perfect mask) keeps its last IoU."""
    if not ious:
        return 0.0
    return float(ious[min(k, len(ious)) - 1])


def summarize(
    all_ious: Sequence[Sequence[float]],
    max_clicks: int = 20,
    thresholds: Sequence[float] = NOC_THRESHOLDS,
    miou_at: Sequence[int] = MIOU_AT,
) -> dict[str, float]:
    """Aggregate per-object IoU curves (``all_ious[i][k]``: IoU of object ``i`` after
    ``k + 1`` clicks) into ``noc@85``, ``noc@90`` (mean clicks), ``never@85``,
    ``never@90`` (objects that never reach it within ``max_clicks``), ``miou@K`` and
    ``n`` (objects)."""
    out: dict[str, float] = {"n": float(len(all_ious))}
    for thr in thresholds:
        tag = f"{round(thr * 100):d}"
        nocs = [noc(ious, thr, max_clicks) for ious in all_ious]
        reached = [any(v >= thr for v in ious[:max_clicks]) for ious in all_ious]
        out[f"noc@{tag}"] = float(np.mean(nocs)) if nocs else float("nan")
        out[f"never@{tag}"] = float(sum(not r for r in reached))
    for k in miou_at:
        vals = [_iou_at(ious, k) for ious in all_ious]
        out[f"miou@{k}"] = float(np.mean(vals)) if vals else float("nan")
    return out
