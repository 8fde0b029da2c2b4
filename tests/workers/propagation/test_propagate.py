"""propagate() on synthetic videos: tracking, confidence, streaming, bad input."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from workers.engines.base import Prediction, Prompts
from workers.propagation import DEFAULT_REVIEW_THRESHOLD, FrameResult, propagate

from .synthetic import HEIGHT, WIDTH, disc, frames_of, iou, video


def run(clip: list[tuple[int, np.ndarray, np.ndarray]], **kwargs: object) -> list[FrameResult]:
    return list(propagate(frames_of(clip), clip[0][2], **kwargs))  # type: ignore[arg-type]


def test_tracks_a_moving_textured_disc() -> None:
    clip = video(24, lambda i: (40 + 3 * i, 55 + i, 20))
    results = run(clip)
    assert [r.index for r in results] == list(range(1, 24))
    ious = [iou(r.mask, truth) for r, (_, _, truth) in zip(results, clip[1:], strict=True)]
    assert min(ious) > 0.85, ious
    # A clean track is not flagged.
    assert all(r.confidence >= DEFAULT_REVIEW_THRESHOLD for r in results)
    assert all(0.0 <= r.confidence <= 1.0 and r.mask.dtype == bool for r in results)


def test_tracks_a_growing_disc() -> None:
    clip = video(20, lambda i: (80, 60, 14 + 1.2 * i))
    results = run(clip)
    assert iou(results[-1].mask, clip[-1][2]) > 0.8
    grown = results[-1].mask.sum() / clip[0][2].sum()
    assert grown > 2.5  # (14 + 22.8)^2 / 14^2 = 6.9: it grew with the object, not stuck


def test_backward_walk_over_descending_indices() -> None:
    clip = video(12, lambda i: (40 + 4 * i, 60, 18))[::-1]
    results = run(clip)
    assert [r.index for r in results] == list(range(10, -1, -1))
    assert iou(results[-1].mask, clip[-1][2]) > 0.85


def test_confidence_falls_when_the_object_vanishes() -> None:
    clip = video(20, lambda i: (50 + 2 * i, 60, 20), visible=lambda i: i < 10)
    results = run(clip)
    seen = [r.confidence for r in results[:8]]
    gone = [r.confidence for r in results[11:]]
    assert min(seen) >= DEFAULT_REVIEW_THRESHOLD
    assert max(gone) < DEFAULT_REVIEW_THRESHOLD
    assert max(gone) < 0.5 * min(seen)


def test_confidence_falls_under_an_occluder() -> None:
    clip = video(18, lambda i: (40 + 3 * i, 60, 20))
    occluded = []
    for i, image, mask in clip:
        if 8 <= i < 14:  # a grey wall slides over the object
            image = image.copy()
            image[:, 30 + 3 * i - 40 : 30 + 3 * i + 40] = 128
            mask = np.zeros_like(mask)
        occluded.append((i, image, mask))
    results = run(occluded)
    before = min(r.confidence for r in results[:6])
    during = [r.confidence for r in results if 9 <= r.index < 14]
    assert max(during) < before
    assert min(during) < DEFAULT_REVIEW_THRESHOLD


def test_streams_frames_lazily() -> None:
    clip = video(10, lambda i: (50 + 2 * i, 60, 18))
    pulled: list[int] = []

    def source() -> Iterator[tuple[int, np.ndarray]]:
        for index, image, _ in clip:
            pulled.append(index)
            yield index, image

    results = propagate(source(), clip[0][2])
    assert pulled == [0]  # the keyframe is read (and checked) at the call, nothing else
    first = next(results)
    assert first.index == 1 and pulled == [0, 1]
    next(results)
    assert pulled == [0, 1, 2]


def test_custom_segmenter_gets_prompts_from_the_carried_mask() -> None:
    clip = video(6, lambda i: (60 + 3 * i, 60, 20))
    seen: list[Prompts] = []
    logits = np.zeros((1, 256, 256), dtype=np.float32)

    def segmenter(index: int, image: np.ndarray, prompts: Prompts) -> Prediction:
        seen.append(prompts)
        return Prediction(mask=clip[index][2], score=0.9, low_res_logits=logits + index)

    results = run(clip, segmenter=segmenter)
    assert len(seen) == 5
    for k, prompts in enumerate(seen, start=1):
        truth = clip[k][2]
        assert prompts.mask is not None and prompts.mask.shape == (HEIGHT, WIDTH)
        assert iou(prompts.mask, truth) > 0.8
        assert prompts.box is not None
        x0, y0, x1, y1 = prompts.box
        assert x0 < 60 + 3 * k < x1 and y0 < 60 < y1
        positives = [c for c in prompts.clicks if c.positive]
        negatives = [c for c in prompts.clicks if not c.positive]
        assert positives and negatives
        assert all(truth[int(c.y), int(c.x)] for c in positives)
        assert not any(truth[int(c.y), int(c.x)] for c in negatives)
    # The previous prediction's low-res logits are passed on.
    assert seen[0].logits is None
    assert seen[1].logits is not None and float(seen[1].logits.max()) == 1.0
    assert all(iou(r.mask, clip[r.index][2]) == 1.0 for r in results)


def test_drift_control_rejects_a_segmenter_gone_wild() -> None:
    clip = video(8, lambda i: (50 + 2 * i, 60, 18))

    def flood(index: int, image: np.ndarray, prompts: Prompts) -> Prediction:
        return Prediction(mask=np.ones((HEIGHT, WIDTH), dtype=bool), score=0.95)

    results = run(clip, segmenter=flood)
    assert all(r.fallback for r in results)
    # The carried mask is kept (the flood's IoU would be 0.05); plain flow alone drifts a
    # little on this small, smooth texture.
    assert all(iou(r.mask, clip[r.index][2]) > 0.6 for r in results)
    assert all(r.confidence < DEFAULT_REVIEW_THRESHOLD for r in results[2:])


def test_bad_inputs_raise_value_error() -> None:
    clip = video(3, lambda i: (60, 60, 15))
    mask = clip[0][2]
    with pytest.raises(ValueError, match="empty"):
        propagate(frames_of(clip), np.zeros_like(mask))
    with pytest.raises(ValueError, match="160x120"):
        propagate(frames_of(clip), np.ones((60, 80), dtype=bool))
    with pytest.raises(ValueError, match="2-D"):
        propagate(frames_of(clip), np.ones((120, 160, 3), dtype=bool))
    with pytest.raises(ValueError, match="keyframe is missing"):
        propagate(iter([]), mask)
    with pytest.raises(ValueError, match="uint8"):
        propagate([(0, clip[0][1].astype(np.float32))], mask)
    # A later frame of another size fails when the walk reaches it.
    stream = propagate([(0, clip[0][1]), (1, np.zeros((100, 100, 3), np.uint8))], mask)
    with pytest.raises(ValueError, match="frame 1"):
        next(stream)
    with pytest.raises(TypeError):
        propagate(frames_of(clip), mask, no_such_option=1)
    with pytest.raises(ValueError, match="flow preset"):
        next(propagate(frames_of(clip), mask, flow_preset="warp9"))


def test_mask_sizes_match_the_frames() -> None:
    clip = video(3, lambda i: (60, 60, 15))
    assert disc(60, 60, 15).shape == (HEIGHT, WIDTH)
    for r in run(clip):
        assert r.mask.shape == (HEIGHT, WIDTH)


def test_a_tiny_object_is_not_lost_at_the_working_resolution() -> None:
    clip = video(4, lambda i: (60 + i, 60, 0.8))  # one pixel (and its 4 neighbours)
    assert 1 <= clip[0][2].sum() <= 5
    results = run(clip)
    assert results[0].mask.any()


def test_a_lost_object_is_found_again_by_its_colours() -> None:
    """The disc hides for 6 frames and comes back 60 px away: the stuck mask is
    flagged, then re-detection moves it onto the disc."""

    def place(i: int) -> tuple[float, float, float]:
        return (40.0, 60.0, 16.0) if i < 8 else (100.0, 60.0, 16.0)

    clip = video(22, place, visible=lambda i: not 8 <= i < 14)
    results = run(clip)
    assert any(r.redetected for r in results)
    hidden = [r for r in results if 9 <= r.index < 14]
    assert all(r.confidence < DEFAULT_REVIEW_THRESHOLD for r in hidden)
    assert iou(results[-1].mask, clip[-1][2]) > 0.8
    off = list(propagate(frames_of(clip), clip[0][2], redetect=False))
    assert iou(off[-1].mask, clip[-1][2]) < 0.2
