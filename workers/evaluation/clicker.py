"""The standard click simulator of the RITM / f-BRS protocol.

The next click goes to the interior point of the current error that is farthest from
the error's boundary: an exact Euclidean distance transform of the false-negative and
false-positive regions, each padded by one background pixel so that the image border
counts as boundary. The click is positive when the largest false-negative distance
exceeds the largest false-positive distance, negative otherwise; a pixel is never
clicked twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from workers.engines.base import Click

from .metrics import iou

#: ``predict(clicks, prev_mask) -> mask``: ``clicks`` in the order given (newest last),
#: ``prev_mask`` the previous ``(H, W) bool`` result or ``None`` before the first click.
PredictFn = Callable[[list[Click], "np.ndarray | None"], np.ndarray]


def _padded_edt(region: np.ndarray) -> np.ndarray:
    """Distance of each pixel of ``region`` to the nearest pixel outside it, the image
    border counting as outside (one pixel of padding)."""
    padded = np.pad(region, 1, mode="constant", constant_values=False)
    return ndimage.distance_transform_edt(padded)[1:-1, 1:-1]


class Clicker:
    """Simulates a user clicking on the largest error of a prediction against ``gt``.

    ``gt``: ``(H, W)`` bool ground truth. Clicks are :class:`~workers.engines.base.Click`
    with ``x`` the column and ``y`` the row of the chosen pixel.
    """

    def __init__(self, gt: np.ndarray) -> None:
        if gt.ndim != 2:
            raise ValueError(f"gt must be (H, W), got shape {gt.shape}")
        self.gt = gt.astype(bool)
        self.clicks: list[Click] = []
        self._clicked = np.zeros(self.gt.shape, dtype=bool)

    def next_click(self, pred: np.ndarray | None) -> Click | None:
        """Choose, record and return the next click for ``pred`` (``None``: empty
        prediction). Returns ``None`` when no unclicked error pixel is left."""
        if pred is None:
            pred = np.zeros_like(self.gt)
        if pred.shape != self.gt.shape:
            raise ValueError(f"prediction shape {pred.shape} != gt shape {self.gt.shape}")
        pred = pred.astype(bool)
        fn_dist = _padded_edt(self.gt & ~pred)
        fp_dist = _padded_edt(~self.gt & pred)
        # Never the same pixel twice: an already clicked pixel is not a candidate.
        fn_dist[self._clicked] = 0.0
        fp_dist[self._clicked] = 0.0
        fn_max = float(fn_dist.max())
        fp_max = float(fp_dist.max())
        if fn_max == 0.0 and fp_max == 0.0:
            return None
        positive = fn_max > fp_max
        dist = fn_dist if positive else fp_dist
        # argmax returns the first maximum in row-major order: deterministic ties.
        row, col = np.unravel_index(int(np.argmax(dist)), dist.shape)
        self._clicked[row, col] = True
        click = Click(x=float(col), y=float(row), positive=positive)
        self.clicks.append(click)
        return click


@dataclass
class SimulationResult:
    """Per-click outcome of one simulated session on one object.

    ``ious[k]`` is the IoU after ``k + 1`` clicks; ``predict_s[k]`` the seconds that
    ``predict`` took for it. ``clicks`` are the clicks given, in order."""

    ious: list[float] = field(default_factory=list)
    predict_s: list[float] = field(default_factory=list)
    clicks: list[Click] = field(default_factory=list)


def simulate(
    gt: np.ndarray,
    predict: PredictFn,
    max_clicks: int = 20,
    stop_iou: float | None = None,
    min_clicks: int = 0,
) -> SimulationResult:
    """Run one simulated interactive session on ``gt`` (``(H, W)`` bool).

    Each step asks the :class:`Clicker` for a click on the current error, then calls
    ``predict(clicks, prev_mask)`` with all clicks so far and the previous prediction.
    Stops after ``max_clicks`` clicks, or early once ``ious[-1] >= stop_iou`` and at
    least ``min_clicks`` clicks were given (the NoC numbers are unaffected; later
    mIoU@k for k beyond the stop carry the last IoU forward, see
    :func:`~workers.evaluation.metrics.summarize`), or when the prediction is perfect.
    """
    clicker = Clicker(gt)
    result = SimulationResult()
    pred: np.ndarray | None = None
    for _ in range(max_clicks):
        click = clicker.next_click(pred)
        if click is None:  # perfect prediction: nothing left to click on
            break
        start = time.perf_counter()
        new_pred = predict(list(clicker.clicks), pred)
        result.predict_s.append(time.perf_counter() - start)
        pred = np.asarray(new_pred, dtype=bool)
        result.ious.append(iou(clicker.gt, pred))
        if stop_iou is not None and result.ious[-1] >= stop_iou and len(result.ious) >= min_clicks:
            break
    result.clicks = list(clicker.clicks)
    return result
