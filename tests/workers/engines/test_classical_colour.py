"""The classical engine's colour models: the local one and the boundary band's one
separate a colour that is foreground in one place and background in another, which the
global one cannot."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from workers.engines.base import Click, Prompts
from workers.engines.classical import ClassicalEngine, ClassicalState
from workers.engines.classical_colour import (
    cached_nbytes,
    colour_llr_bins,
    local_colour_llr,
    nearest_colour_llr,
    neighbourhoods,
)
from workers.engines.classical_refine import band_colour_llr

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


def _crossed_halves() -> tuple[np.ndarray, np.ndarray]:
    """A 60x120 CIELAB image and its object, the left half: colour A above and B below
    on the left, B above and A below on the right (each colour half object, half
    background), with a little noise."""
    rng = np.random.default_rng(5)
    lab = np.empty((60, 120, 3))
    colour_a, colour_b = (120.0, 170.0, 150.0), (140.0, 128.0, 128.0)
    left = np.arange(120) < 60
    top = np.arange(60)[:, None] < 30
    lab[:] = np.where((top == left)[..., None], colour_a, colour_b)
    lab += rng.normal(0.0, 1.5, size=lab.shape)
    obj = np.broadcast_to(left, (60, 120)).copy()
    return np.clip(lab, 0, 255).astype(np.uint8), obj


def test_nearest_colour_model_follows_the_labels_nearby() -> None:
    lab, obj = _crossed_halves()
    cols = np.arange(120)[None, :]
    rows = np.arange(60)[:, None]
    away = np.broadcast_to(np.abs(rows - 30) >= 8, (60, 120))  # not at the colour seam
    foreground = away & (cols >= 44) & (cols < 54)
    background = away & (cols >= 66) & (cols < 76)
    query = away & (cols >= 54) & (cols < 66)
    odds = nearest_colour_llr(lab, foreground, background, query, scale=4.0)
    # Each colour is object on one side and background on the other: only where the
    # labelled neighbours lie tells them apart.
    assert np.all(odds[query & obj] > 1.5)
    assert np.all(odds[query & ~obj] < -1.5)
    assert np.all(odds[~query] == 0)
    # Too few samples on one side: no evidence rather than a guess.
    few = np.zeros_like(background)
    few[10, 70] = True
    assert not nearest_colour_llr(lab, foreground, few, query, scale=4.0).any()


def test_band_colour_learns_from_beside_the_band_not_from_its_labels() -> None:
    lab, obj = _crossed_halves()
    # A proposal 4 px too wide: its band holds object and background both labelled
    # object; the rings beside the band are right.
    proposal = np.broadcast_to(np.arange(120) < 64, (60, 120)).copy()
    p8 = proposal.astype(np.uint8)
    d_in = cv2.distanceTransform(p8, cv2.DIST_L2, 3)
    d_out = cv2.distanceTransform(1 - p8, cv2.DIST_L2, 3)
    band = 6.0
    in_band = (proposal & (d_in <= band)) | (~proposal & (d_out <= band))
    odds = band_colour_llr(lab, proposal, in_band, d_in, d_out, band, scale=4.0)
    rows = np.abs(np.arange(60) - 30) >= 8
    wrong = in_band & proposal & ~obj & rows[:, None]
    right = in_band & obj & rows[:, None]
    assert wrong.sum() == 4 * rows.sum() and right.any()
    assert np.all(odds[wrong] < 0)
    assert np.all(odds[right] > 0)
    assert np.all(odds[~in_band] == 0)
