"""The per-click accounting of bench/click_trace.py on hand-made masks."""

from __future__ import annotations

import numpy as np

from bench.click_trace import ClickEffect, click_effect, summarise
from workers.engines.base import Click


def _masks() -> tuple[np.ndarray, np.ndarray]:
    gt = np.zeros((20, 30), dtype=bool)
    gt[5:15, 5:15] = True  # 100 px object
    before = gt.copy()
    before[5:15, 10:15] = False  # its right half missed: a 50 px error region
    return gt, before


def test_a_click_that_fixes_half_its_region_and_breaks_elsewhere() -> None:
    gt, before = _masks()
    after = before.copy()
    after[5:15, 10:12] = True  # 20 of the 50 missed pixels
    after[0:2, 20:25] = True  # 10 background pixels that were right
    effect = click_effect(gt, before, after, Click(12, 9, True))
    assert effect.region == 50
    assert effect.fixed == 20 / 50
    assert effect.broken == 10
    assert effect.iou_before == 50 / 100 and effect.positive


def test_the_first_click_counts_against_an_empty_mask() -> None:
    gt, _ = _masks()
    effect = click_effect(gt, None, gt, Click(9, 9, True))
    assert effect.region == 100 and effect.fixed == 1.0 and effect.broken == 0
    assert effect.iou_before == 0.0 and effect.iou_after == 1.0


def test_a_click_on_a_right_pixel_has_no_region() -> None:
    gt, before = _masks()
    effect = click_effect(gt, before, before, Click(6, 6, True))
    assert effect.region == 0 and effect.fixed == 0.0


def test_summary_groups_by_sign_and_iou_band() -> None:
    effects = [
        ClickEffect(True, 0, 0, 0.82, 0.86, 100, 0.5, 30),
        ClickEffect(True, 0, 0, 0.83, 0.84, 300, 0.7, 10),
        ClickEffect(False, 0, 0, 0.87, 0.88, 50, 1.0, 0),
    ]
    lines = summarise(effects)
    positive = next(line for line in lines if line.startswith("positive 0.80-0.85"))
    assert positive.split()[2:] == ["2", "0.60", "0.10"]  # (30 + 10) / 400 broken
    negative = next(line for line in lines if line.startswith("negative 0.85-0.90"))
    assert negative.split()[2:] == ["1", "1.00", "0.00"]
    assert not any(line.startswith("positive 0.85") for line in lines)
