"""The classical engine's use of the project model's prior (``Prompts.prior``).

Synthetic scene: an object of two colours (a red disk and a blue bar) on green, with the
bar's blue also in two background patches, so one click on the disk cannot tell the bar
from the background by colour; a prior that knows the object can."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from workers.engines.base import Click, Prompts
from workers.engines.classical import ClassicalEngine
from workers.engines.classical_seeds import model_prior
from workers.evaluation import iou

CLICK = Click(36.0, 48.0, True)


def make_scene() -> tuple[np.ndarray, np.ndarray]:
    """``(96, 128, 3) uint8`` image and its ``(96, 128) bool`` object mask."""
    rng = np.random.default_rng(0)
    h, w = 96, 128
    img = np.zeros((h, w, 3), np.float32)
    img[...] = (60, 140, 70)
    gt = np.zeros((h, w), np.uint8)
    cv2.circle(gt, (36, 48), 16, 1, -1)
    disk = gt.astype(bool)
    cv2.rectangle(gt, (50, 44), (100, 52), 1, -1)
    obj = gt.astype(bool)
    img[obj] = (40, 60, 200)
    img[disk] = (200, 50, 40)
    img[70:90, 60:120] = (40, 60, 200)
    img[5:25, 70:120] = (40, 60, 200)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8), obj


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray]:
    return make_scene()


@pytest.fixture(scope="module")
def engine() -> ClassicalEngine:
    return ClassicalEngine()


@pytest.fixture(scope="module")
def state(engine: ClassicalEngine, scene: tuple[np.ndarray, np.ndarray]) -> object:
    return engine.prepare(scene[0])


def good_prior(gt: np.ndarray) -> np.ndarray:
    """The true mask, blurred and kept away from 0 and 1: a confident, decent model."""
    soft = cv2.GaussianBlur(gt.astype(np.float32), (0, 0), 3.0)
    return (0.05 + 0.9 * soft).astype(np.float32)


def test_good_prior_improves_the_first_click(engine, state, scene) -> None:
    _, gt = scene
    alone = engine.predict(state, Prompts(clicks=[CLICK])).mask
    helped = engine.predict(state, Prompts(clicks=[CLICK], prior=good_prior(gt))).mask
    assert iou(gt, alone) < 0.8  # the bar is missed without the prior
    assert iou(gt, helped) >= 0.9
    assert iou(gt, helped) > iou(gt, alone) + 0.2


def test_flat_prior_changes_little(engine, state, scene) -> None:
    _, gt = scene
    alone = engine.predict(state, Prompts(clicks=[CLICK])).mask
    flat = np.full(gt.shape, 0.5, np.float32)
    with_flat = engine.predict(state, Prompts(clicks=[CLICK], prior=flat)).mask
    assert iou(alone, with_flat) >= 0.95


def test_prior_against_the_clicks_hurts_little(engine, state, scene) -> None:
    _, gt = scene
    alone = engine.predict(state, Prompts(clicks=[CLICK])).mask
    wrong = 1.0 - good_prior(gt)  # says background where the user clicked positive
    with_wrong = engine.predict(state, Prompts(clicks=[CLICK], prior=wrong)).mask
    assert iou(gt, with_wrong) >= iou(gt, alone) - 0.05


def test_prior_none_is_the_old_behaviour(state, scene) -> None:
    """Without a prior the model options are inert: the same masks and scores as the
    defaults, over a session with a previous mask and a negative click."""
    _, gt = scene
    default = ClassicalEngine()
    tuned = ClassicalEngine(
        model_weight=5.0, model_colour=0.0, model_pixel_weight=3.0, model_geodesic=1.0
    )
    clicks = [CLICK, Click(110.0, 80.0, False)]
    a = default.predict(state, Prompts(clicks=clicks[:1], prior=None))
    b = tuned.predict(state, Prompts(clicks=clicks[:1]))
    assert np.array_equal(a.mask, b.mask) and a.score == b.score
    a2 = default.predict(state, Prompts(clicks=clicks, mask=a.mask))
    b2 = tuned.predict(state, Prompts(clicks=clicks, mask=b.mask, prior=None))
    assert np.array_equal(a2.mask, b2.mask) and a2.score == b2.score


def test_prior_with_previous_mask_and_negative_click(engine, state, scene) -> None:
    _, gt = scene
    prior = good_prior(gt)
    first = engine.predict(state, Prompts(clicks=[CLICK], prior=prior))
    clicks = [CLICK, Click(110.0, 80.0, False)]
    second = engine.predict(state, Prompts(clicks=clicks, mask=first.mask, prior=prior))
    assert second.mask.shape == gt.shape and second.mask.dtype == bool
    assert not second.mask[80, 110]
    assert iou(gt, second.mask) >= 0.85
    assert 0.0 <= second.score <= 1.0


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((95, 128), np.float32),  # wrong height
        np.zeros((96, 128, 1), np.float32),  # a channel axis
        np.full((96, 128), np.nan, np.float32),
        np.full((96, 128), "x"),
    ],
)
def test_bad_prior_raises(engine, state, bad) -> None:
    with pytest.raises(ValueError):
        engine.predict(state, Prompts(clicks=[CLICK], prior=bad))


def test_prior_at_a_working_resolution(scene) -> None:
    """Large images are segmented at a working resolution: the prior is given at the
    image's own size, checked there and scaled down with the other prompts."""
    img, gt = scene
    engine = ClassicalEngine(max_megapixels=0.004)
    state = engine.prepare(img)
    assert state.shape != state.image_shape
    alone = engine.predict(state, Prompts(clicks=[CLICK])).mask
    out = engine.predict(state, Prompts(clicks=[CLICK], prior=good_prior(gt).astype(np.float64)))
    assert out.mask.shape == gt.shape and out.mask.dtype == bool
    assert iou(gt, out.mask) >= iou(gt, alone)
    with pytest.raises(ValueError):
        engine.predict(state, Prompts(clicks=[CLICK], prior=np.zeros(state.shape, np.float32)))


def test_blob_with_only_negative_clicks_loses_its_say(state, scene) -> None:
    """A foreground blob of the map that the user clicked negative, and never
    positive, is set to 0.5 (another object of the label, or a wrong map); the
    object's own blob keeps its values."""
    _, gt = scene
    other = np.zeros_like(gt)
    other[70:90, 60:120] = True  # a background patch the map takes for the object
    prior = np.maximum(good_prior(gt), good_prior(other))
    labels = state.labels
    neg = Click(100.0, 80.0, False)
    out = model_prior(Prompts(clicks=[CLICK, neg], prior=prior), state)
    assert out is not None
    rejected = np.unique(labels[75:85, 70:110])
    kept = np.unique(labels[gt])
    assert np.allclose(out.mean[rejected], 0.5)
    assert (out.mean[kept] > 0.5).mean() > 0.8
    assert np.all(out.pixel[75:85, 70:110] == 0.5)
    # A positive click in the blob keeps it.
    both = model_prior(Prompts(clicks=[CLICK, neg, Click(70.0, 85.0, True)], prior=prior), state)
    assert both is not None and (both.mean[rejected] > 0.5).all()
