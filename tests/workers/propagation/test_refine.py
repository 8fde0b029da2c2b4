"""Full-resolution edges (guided filter) and the edge motion that widens the band."""

from __future__ import annotations

import numpy as np

from workers.propagation.flow import edge_motion
from workers.propagation.refine import guided_upsample


def _scene(edge_x: int) -> np.ndarray:
    image = np.full((96, 128, 3), 40, dtype=np.uint8)
    image[:, edge_x:] = 200
    return image


def test_guided_upsample_snaps_the_edge_to_the_image() -> None:
    # The object is the bright right part from x = 67; the half-size mask can only put
    # its edge at an even column (66 or 68 at full size).
    image = _scene(67)
    small = np.zeros((48, 64), dtype=bool)
    small[:, 33:] = True  # edge at full-size x = 66
    plain = guided_upsample(small, image, radius=0)
    refined = guided_upsample(small, image, radius=4)
    truth = np.zeros((96, 128), dtype=bool)
    truth[:, 67:] = True
    assert plain.shape == refined.shape == truth.shape
    assert (refined != truth).sum() < (plain != truth).sum()
    assert (refined != truth).sum() == 0


def test_guided_upsample_of_an_empty_or_full_mask() -> None:
    image = _scene(50)
    assert not guided_upsample(np.zeros((48, 64), dtype=bool), image).any()
    assert guided_upsample(np.ones((48, 64), dtype=bool), image).all()


def test_edge_motion_is_the_median_flow_on_the_edge() -> None:
    mask = np.zeros((40, 40), dtype=bool)
    mask[10:30, 10:30] = True
    flow = np.zeros((40, 40, 2), dtype=np.float32)
    flow[..., 0] = 3.0
    flow[..., 1] = 4.0
    assert edge_motion(mask, flow) == 5.0
    assert edge_motion(np.zeros_like(mask), flow) == 0.0
