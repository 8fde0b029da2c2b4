"""The RITM-protocol click simulator and the NoC metrics."""

from __future__ import annotations

import numpy as np
import pytest

from workers.engines.base import Click
from workers.evaluation import Clicker, iou, noc, simulate, summarize


def _rect(shape, r0, r1, c0, c1) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[r0:r1, c0:c1] = True
    return m


def test_first_click_is_farthest_interior_point() -> None:
    gt = _rect((50, 60), 10, 31, 20, 41)  # rows 10..30, cols 20..40: centre (20, 30)
    click = Clicker(gt).next_click(None)
    assert click == Click(x=30.0, y=20.0, positive=True)


def test_negative_click_on_larger_false_positive() -> None:
    gt = _rect((60, 60), 5, 15, 5, 15)
    pred = gt | _rect((60, 60), 30, 55, 30, 55)  # big false positive, no false negative
    click = Clicker(gt).next_click(pred)
    assert click is not None and not click.positive
    assert (click.y, click.x) == (42.0, 42.0)


def test_sign_compares_largest_distances() -> None:
    gt = _rect((80, 80), 0, 0, 0, 0) | _rect((80, 80), 10, 40, 10, 40)  # 30x30 object
    pred = _rect((80, 80), 10, 40, 10, 25) | _rect((80, 80), 60, 70, 60, 70)
    # Missing half of the object (15 wide) beats a 10x10 false positive.
    click = Clicker(gt).next_click(pred)
    assert click is not None and click.positive
    assert gt[int(click.y), int(click.x)] and not pred[int(click.y), int(click.x)]


def test_image_border_counts_as_boundary() -> None:
    # A 21x21 object in the top-left corner: without the padding the pixel farthest
    # from the error boundary would be the corner pixel (0, 0).
    gt = _rect((60, 60), 0, 21, 0, 21)
    click = Clicker(gt).next_click(None)
    assert click == Click(x=10.0, y=10.0, positive=True)


def test_never_the_same_pixel_twice() -> None:
    gt = _rect((30, 30), 10, 13, 10, 13)  # 3x3 object
    clicker = Clicker(gt)
    seen = set()
    for _ in range(9):
        click = clicker.next_click(None)  # the prediction never improves
        assert click is not None
        assert (click.x, click.y) not in seen
        seen.add((click.x, click.y))
        assert gt[int(click.y), int(click.x)]
    assert clicker.next_click(None) is None  # every error pixel already clicked


def test_perfect_prediction_gives_no_click() -> None:
    gt = _rect((20, 20), 5, 10, 5, 10)
    assert Clicker(gt).next_click(gt.copy()) is None


def test_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError):
        Clicker(np.zeros((5, 5), bool)).next_click(np.zeros((5, 6), bool))


def test_simulate_drives_a_callable() -> None:
    gt = _rect((40, 40), 5, 35, 5, 20) | _rect((40, 40), 5, 35, 25, 35)
    calls = []

    def predict(clicks, prev_mask):
        # Adds the connected rectangle under each positive click to the last mask.
        calls.append((list(clicks), None if prev_mask is None else prev_mask.copy()))
        out = np.zeros_like(gt) if prev_mask is None else prev_mask.copy()
        c = clicks[-1]
        for part in (_rect((40, 40), 5, 35, 5, 20), _rect((40, 40), 5, 35, 25, 35)):
            if part[int(c.y), int(c.x)]:
                out = out | part if c.positive else out & ~part
        return out

    res = simulate(gt, predict, max_clicks=5)
    assert calls[0][1] is None  # no previous mask before the first click
    assert len(calls[1][0]) == 2 and calls[1][1] is not None  # clicks grow, mask fed back
    assert res.ious[-1] == 1.0 and len(res.ious) == 2  # stops once perfect
    assert noc(res.ious, 0.9) == 2
    assert len(res.predict_s) == 2 and len(res.clicks) == 2


def test_simulate_early_stop_respects_min_clicks() -> None:
    gt = _rect((30, 30), 5, 25, 5, 25)
    almost = gt.copy()
    almost[5, 5:25] = False  # IoU 0.95, never perfect

    res = simulate(gt, lambda clicks, prev: almost, max_clicks=20, stop_iou=0.9, min_clicks=3)
    assert len(res.ious) == 3


def test_metrics() -> None:
    a = _rect((10, 10), 0, 5, 0, 4)
    b = _rect((10, 10), 0, 5, 2, 6)
    assert iou(a, b) == pytest.approx(10 / 30)
    assert iou(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0
    assert noc([0.5, 0.86, 0.91], 0.85) == 2
    assert noc([0.5, 0.86, 0.91], 0.90) == 3
    assert noc([0.5, 0.6], 0.90, max_clicks=20) == 20
    s = summarize([[0.5, 0.86, 0.91], [0.2] * 20], max_clicks=20)
    assert s["noc@85"] == pytest.approx((2 + 20) / 2)
    assert s["noc@90"] == pytest.approx((3 + 20) / 2)
    assert s["never@90"] == 1 and s["never@85"] == 1
    assert s["miou@1"] == pytest.approx((0.5 + 0.2) / 2)
    # A session that stopped at click 3 keeps its last IoU for mIoU@5 and @10.
    assert s["miou@10"] == pytest.approx((0.91 + 0.2) / 2)
    assert s["n"] == 2
