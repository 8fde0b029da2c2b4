from __future__ import annotations

import numpy as np

from workers.learning.classifier import TrainingFrame, targets_from_masks, train
from workers.learning.features import frame_features
from workers.learning.selection import STRATEGIES, frame_scores, rank

from .conftest import disc_image


def test_no_model_scores_are_zero_and_combined_is_diversity() -> None:
    image, _ = disc_image(60, 60, 25)
    scores = frame_scores(None, frame_features(image), image, seed=0)
    assert scores["entropy"] == scores["margin"] == scores["sensitivity"] == 0.0
    descriptors = np.array([[0.0, 0.0], [0.2, 0.0], [3.0, 3.0]])
    ranked = rank([scores] * 3, descriptors, np.zeros((0, 2)))
    assert [set(r) for r in ranked] == [set(STRATEGIES)] * 3
    assert [r["combined"] for r in ranked] == [r["diversity"] for r in ranked]


def test_k_center_picks_the_far_away_frame() -> None:
    zero = {"entropy": 0.0, "margin": 0.0, "sensitivity": 0.0}
    descriptors = np.array([[0.1, 0.0], [0.0, 0.2], [5.0, 5.0], [0.3, 0.1]])
    ranked = rank([zero] * 4, descriptors, np.array([[0.0, 0.0]]), seed=3)
    diversity = [r["diversity"] for r in ranked]
    assert int(np.argmax(diversity)) == 2
    assert len({r["random"] for r in ranked}) == 4


def test_an_ambiguous_frame_ranks_before_an_easy_one(easy_frames) -> None:
    frames = [
        TrainingFrame(frame_features(im), targets_from_masks(m.shape, [(m, 1)]))
        for im, m in easy_frames[:2]
    ]
    model = train(frames, classes=[1], n_jobs=1)
    easy, _ = disc_image(90, 60, 28, seed=5)
    hard, _ = disc_image(90, 60, 28, seed=6, contrast=0.35)
    scores = [frame_scores(model, frame_features(im), im, seed=0) for im in (easy, hard)]
    assert scores[1]["entropy"] > scores[0]["entropy"]
    assert scores[1]["margin"] > scores[0]["margin"]
    ranked = rank(scores, np.array([[0.0], [0.0]]), np.array([[1.0]]))
    assert ranked[1]["combined"] > ranked[0]["combined"]
    assert ranked[1]["entropy"] > ranked[0]["entropy"]
