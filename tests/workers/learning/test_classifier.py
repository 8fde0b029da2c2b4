from __future__ import annotations

import numpy as np
import pytest

from workers.learning.classifier import (
    PixelModel,
    TrainingFrame,
    evaluate,
    targets_from_masks,
    train,
    upsample_proba,
)
from workers.learning.features import (
    FEATURE_NAMES,
    frame_descriptor,
    frame_features,
    working_shape,
)

from .conftest import H, W, disc_image, disc_mask


def _frame(image: np.ndarray, mask: np.ndarray) -> TrainingFrame:
    return TrainingFrame(frame_features(image), targets_from_masks(mask.shape, [(mask, 1)]))


def test_working_shape_keeps_aspect_and_never_upsamples() -> None:
    assert working_shape(480, 854) == (180, 320)
    assert working_shape(100, 50) == (100, 50)


def test_features_shape_and_dtype() -> None:
    image, _ = disc_image(60, 60, 25)
    features = frame_features(image)
    assert features.shape == (*working_shape(H, W), len(FEATURE_NAMES))
    assert features.dtype == np.float32
    assert np.isfinite(features).all()
    descriptor = frame_descriptor(features)
    assert descriptor.ndim == 1 and descriptor.dtype == np.float32
    other = frame_descriptor(frame_features(np.full_like(image, 200)))
    assert np.linalg.norm(descriptor - other) > 0.1


def test_targets_from_masks_edges_scribbles_and_unknown() -> None:
    big = disc_mask(300, 200, 100, shape=(480, 640))
    targets = targets_from_masks((480, 640), [(big, 2)])
    assert targets.shape == working_shape(480, 640) == (240, 320)
    assert targets.dtype == np.int16
    assert targets[100, 150] == 2 and targets[5, 5] == 0
    assert (targets == -1).any()  # the disc's rim straddles working pixels
    assert (targets == -1).sum() < 0.2 * (targets == 2).sum()
    mask = disc_mask(80, 60, 30)
    partial = targets_from_masks(
        (H, W), [(mask, 1)], scribbles=[(np.array([[5.0, 5.0], [40.0, 5.0]]), 0)], complete=False
    )
    assert partial[60, 80] == 1
    assert partial[5, 5] == 0 and partial[5, 30] == 0
    assert partial[100, 150] == -1
    with pytest.raises(ValueError):
        targets_from_masks((H, W), [(mask[:10], 1)])


def test_classifier_learns_the_disc_and_round_trips(easy_frames) -> None:
    frames = [_frame(*f) for f in easy_frames]
    model = train(frames[:2], classes=[7], n_jobs=1)
    assert model.classes == [7]
    held = evaluate(model, frames[2:])
    assert held["frames"] == 1
    assert held["miou"] is not None and held["miou"] > 0.85
    assert set(held["per_class"]) == {7}
    proba = model.predict_proba(frames[2].features)
    assert proba.shape == (*frames[2].targets.shape, 2) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=-1), 1.0, atol=1e-5)
    again = PixelModel.from_bytes(model.to_bytes())
    np.testing.assert_array_equal(again.predict_proba(frames[2].features), proba)


def test_train_without_labels_fails() -> None:
    image, _ = disc_image(60, 60, 25)
    features = frame_features(image)
    empty = np.full(features.shape[:2], -1, np.int16)
    with pytest.raises(ValueError):
        train([TrainingFrame(features, empty)], classes=[1])


class _LeftHalf:
    """A stand-in estimator: class 1 wherever the x position channel is below 0.5."""

    classes_ = np.array([0, 1])

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        left = (x[:, -2] < 0.5).astype(np.float32)
        return np.column_stack([1 - left, left])


def test_evaluate_counts_iou_on_known_pixels_only() -> None:
    h, w = 10, 20
    features = np.zeros((h, w, len(FEATURE_NAMES)), np.float32)
    features[..., -2] = np.linspace(0, 1, w)[None, :]
    targets = np.zeros((h, w), np.int16)
    targets[:, :5] = 1  # truth: the left quarter; the model says the left half
    targets[0, :] = -1  # unknown row, not counted
    result = evaluate(PixelModel([3], _LeftHalf()), [TrainingFrame(features, targets)])
    assert result["per_class"][3] == pytest.approx(5 / 10)
    assert result["miou"] == pytest.approx(0.5)


def test_upsample_proba_shape_and_sum() -> None:
    proba = np.random.default_rng(0).dirichlet([1, 1, 1], size=(6, 8)).astype(np.float32)
    up = upsample_proba(proba, 30, 40)
    assert up.shape == (30, 40, 3) and up.dtype == np.float32
    np.testing.assert_allclose(up.sum(axis=-1), 1.0, atol=1e-5)
