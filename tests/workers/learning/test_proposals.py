from __future__ import annotations

import numpy as np
import pytest

from workers.engines.classical import ClassicalEngine
from workers.learning.classifier import TrainingFrame, targets_from_masks, train, upsample_proba
from workers.learning.features import frame_features
from workers.learning.proposals import derive_prompts, model_mask, prior_for, propose

from .conftest import H, W, disc_image


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


@pytest.fixture(scope="module")
def proba_and_truth(easy_frames):
    frames = [
        TrainingFrame(frame_features(im), targets_from_masks(m.shape, [(m, 1)]))
        for im, m in easy_frames
    ]
    model = train(frames, classes=[1], n_jobs=1)
    image, truth = disc_image(95, 65, 30, seed=9)
    proba = upsample_proba(model.predict_proba(frame_features(image)), H, W)
    return image, proba, truth


def test_prior_for_a_class_and_any_foreground() -> None:
    proba = np.zeros((4, 5, 3), np.float32)
    proba[..., 0], proba[..., 1], proba[..., 2] = 0.5, 0.2, 0.3
    assert prior_for(proba, 2) == pytest.approx(np.full((4, 5), 0.3))
    assert prior_for(proba, None) == pytest.approx(np.full((4, 5), 0.5))
    assert prior_for(proba, None).dtype == np.float32


def test_model_mask_drops_speckle() -> None:
    proba = np.zeros((50, 50, 2), np.float32)
    proba[..., 0] = 1.0
    proba[10:30, 10:30] = [0.1, 0.9]
    proba[40, 40] = [0.1, 0.9]
    mask = model_mask(proba, 1, min_area=20)
    assert mask[20, 20] and not mask[40, 40]


def test_prompts_point_inside_and_outside(proba_and_truth) -> None:
    _, proba, truth = proba_and_truth
    prompts = derive_prompts(proba, 1, model_mask(proba, 1, 50))
    assert prompts.box is not None and prompts.prior is not None
    positives = [c for c in prompts.clicks if c.positive]
    assert positives and all(truth[int(c.y), int(c.x)] for c in positives)
    assert not any(truth[int(c.y), int(c.x)] for c in prompts.clicks if not c.positive)


def test_propose_finds_and_refines_the_disc(proba_and_truth) -> None:
    image, proba, truth = proba_and_truth
    raw = propose(image, proba, None, None, min_area=50)
    assert len(raw) == 1 and raw[0].label_index == 1 and not raw[0].refined
    assert _iou(raw[0].mask, truth) > 0.8
    engine = ClassicalEngine()
    refined = propose(image, proba, engine, engine.prepare(image), min_area=50)
    assert len(refined) == 1
    assert _iou(refined[0].mask, truth) > 0.85
    assert 0.5 < refined[0].score <= 1.0


def test_nothing_proposed_on_an_empty_map() -> None:
    image, _ = disc_image(60, 60, 20)
    proba = np.zeros((H, W, 2), np.float32)
    proba[..., 0] = 1.0
    assert propose(image, proba, None, None) == []
    with pytest.raises(ValueError):
        propose(image, proba[:10], None, None)
