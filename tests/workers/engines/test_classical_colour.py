"""The classical engine's colour models: the local one separates a colour that is
foreground in one place and background in another, which the global one cannot."""

from __future__ import annotations

import numpy as np
import pytest

from workers.engines.base import Click, Prompts
from workers.engines.classical import ClassicalEngine, ClassicalState
from workers.engines.classical_colour import (
    cached_nbytes,
    colour_llr_bins,
    local_colour_llr,
    neighbourhoods,
)

H, W = 120, 240
SIGMA, TAU = 20.0, 4.0


def _stripes() -> np.ndarray:
    """Vertical stripes, 12 px wide, alternating red and grey over the whole image,
    with a little noise."""
    rng = np.random.default_rng(3)
    img = np.empty((H, W, 3), dtype=float)
    red = (np.arange(W) // 12) % 2 == 0
    img[:, red] = (200, 40, 40)
    img[:, ~red] = (128, 128, 128)
    img += rng.normal(0.0, 2.0, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def state() -> ClassicalState:
    return ClassicalEngine(n_segments=400, local_sigma=SIGMA, local_tau=TAU).prepare(_stripes())


def test_local_model_tells_the_same_colour_apart_by_place(state: ClassicalState) -> None:
    red = state.sp_lab[:, 1] > 150  # CIELAB a* (OpenCV 8-bit scale, 128 = neutral)
    x = state.sp_xy[:, 0]
    left, right = x < W / 2 - 2 * SIGMA, x > W / 2 + 2 * SIGMA
    for group in (red & left, red & right, ~red & left, ~red & right):
        assert group.sum() >= 3
    # The object: the red stripes of the left half and the grey ones of the right half.
    member = np.where(x < W / 2, red, ~red)
    # The global model learns nothing: each colour is half object, half background.
    size = state.sp_size.astype(float)
    hist = state.hist()
    llr = colour_llr_bins(hist, [member * size], [(~member) * size])
    glob = np.asarray(hist @ llr).ravel() / np.asarray(hist.sum(axis=1)).ravel()
    assert np.abs(glob).max() < 0.5
    # The local one knows which colour is the object where.
    local = local_colour_llr(state, member.astype(float), SIGMA, TAU)
    assert local[red & left].min() > 1.0
    assert local[~red & right].min() > 1.0
    assert local[red & right].max() < -1.0
    assert local[~red & left].max() < -1.0


def test_neighbourhoods_are_computed_once_and_counted(state: ClassicalState) -> None:
    engine = ClassicalEngine(n_segments=400, local_sigma=SIGMA, local_tau=TAU)
    first = neighbourhoods(state, SIGMA, TAU)
    assert neighbourhoods(state, SIGMA, TAU) is first
    assert first.index.shape == first.joint.shape == (state.n, min(state.n, 256))
    assert cached_nbytes(state) == first.nbytes > 0
    # The cache bound sees them; a state restored from storage is warmed the same way.
    restored = engine.state_from_bytes(engine.state_to_bytes(state))
    assert cached_nbytes(restored) == first.nbytes
    assert engine.state_nbytes(restored) == engine.state_nbytes(state)
    # Another setting replaces, not adds to, what the state holds.
    neighbourhoods(state, 2 * SIGMA, TAU)
    assert cached_nbytes(state) == first.nbytes


def test_engine_without_local_model_keeps_no_neighbourhoods() -> None:
    engine = ClassicalEngine(n_segments=400, local_colour=0.0)
    state = engine.prepare(_stripes())
    out = engine.predict(state, Prompts(clicks=[Click(x=6.0, y=60.0, positive=True)]))
    assert out.mask[60, 6]
    assert cached_nbytes(state) == 0
