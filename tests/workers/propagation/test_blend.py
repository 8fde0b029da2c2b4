"""blend(): forward and backward runs between two keyframes."""

from __future__ import annotations

import numpy as np
import pytest

from workers.propagation import FrameResult, blend, propagate

from .synthetic import disc, frames_of, iou, video


def result(index: int, mask: np.ndarray, confidence: float) -> FrameResult:
    return FrameResult(index=index, mask=mask, confidence=confidence)


def test_blend_picks_the_side_nearer_its_keyframe_at_equal_confidence() -> None:
    a_mask, b_mask = disc(40, 60, 15), disc(120, 60, 15)
    forward = [result(i, a_mask, 0.8) for i in range(1, 10)]
    backward = [result(i, b_mask, 0.8) for i in range(9, 0, -1)]  # any order
    out = blend(forward, backward)
    assert [r.index for r in out] == list(range(1, 10))
    for r in out:
        expected = a_mask if r.index <= 5 else b_mask  # a tie at the middle: forward
        assert np.array_equal(r.mask, expected), r.index
    assert all(r.confidence == pytest.approx(0.8) for r in out)
    # The two sides disagree completely.
    assert all(r.agreement == 0.0 for r in out)


def test_blend_prefers_the_confident_side() -> None:
    a_mask, b_mask = disc(40, 60, 15), disc(120, 60, 15)
    forward = [result(i, a_mask, 0.3) for i in range(1, 10)]  # doubtful all along
    backward = [result(i, b_mask, 0.9) for i in range(1, 10)]
    out = blend(forward, backward)
    # Next to A the doubtful forward run still wins (frame 2: 0.3 * 0.8 > 0.9 * 0.2),
    # from frame 3 on the confident backward run does (0.3 * 0.7 < 0.9 * 0.3).
    assert [np.array_equal(r.mask, b_mask) for r in out] == [False, False] + [True] * 7
    assert out[5].confidence > 0.75


def test_blend_of_real_runs_beats_either_side_far_from_its_keyframe() -> None:
    clip = video(21, lambda i: (30 + 5 * i, 60 + (i % 5), 16 + 0.3 * i))
    forward = list(propagate(frames_of(clip[:20]), clip[0][2]))
    backward = list(propagate(frames_of(clip[1:][::-1]), clip[20][2]))
    out = blend(forward, backward)
    assert [r.index for r in out] == list(range(1, 20))
    truth = {i: m for i, _, m in clip}
    blended = np.mean([iou(r.mask, truth[r.index]) for r in out])
    fwd = np.mean([iou(r.mask, truth[r.index]) for r in forward])
    bwd = np.mean([iou(r.mask, truth[r.index]) for r in backward])
    assert blended >= max(fwd, bwd) - 0.01
    assert blended > 0.8


def test_blend_rejects_runs_over_different_frames() -> None:
    mask = disc(60, 60, 10)
    with pytest.raises(ValueError, match="different frames"):
        blend([result(1, mask, 1.0)], [result(2, mask, 1.0)])
    with pytest.raises(ValueError, match="twice"):
        blend([result(1, mask, 1.0), result(1, mask, 1.0)], [result(1, mask, 1.0)])
    with pytest.raises(ValueError, match="size"):
        blend([result(1, mask, 1.0)], [result(1, mask[:50], 1.0)])
    assert blend([], []) == []


def test_blend_over_the_last_stretch_uses_the_carried_distances() -> None:
    """The runtime blends only the frames just before B: the forward run's masks there
    were carried far from A, and its steps say so."""
    a_mask, b_mask = disc(40, 60, 15), disc(120, 60, 15)
    # Keyframes A = 0 and B = 100; frames 95..99 only.
    forward = [FrameResult(i, a_mask, 0.8, steps=i) for i in range(95, 100)]
    backward = [FrameResult(i, b_mask, 0.8, steps=100 - i) for i in range(95, 100)]
    out = blend(forward, backward)
    assert all(np.array_equal(r.mask, b_mask) for r in out)
    assert [r.steps for r in out] == [5, 4, 3, 2, 1]
    # Without steps the stretch's own ends stand in for A and B (94 and 100).
    bare = blend(
        [result(r.index, a_mask, 0.8) for r in forward],
        [result(r.index, b_mask, 0.8) for r in backward],
    )
    assert [np.array_equal(r.mask, a_mask) for r in bare] == [True, True, True, False, False]


def test_propagate_counts_steps_from_the_keyframe() -> None:
    clip = video(5, lambda i: (60 + 2 * i, 60, 15))
    assert [r.steps for r in propagate(frames_of(clip), clip[0][2])] == [1, 2, 3, 4]
