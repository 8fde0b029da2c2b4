"""The propagation loop: flow carries the mask, the segmenter re-decides it, drift
control chooses what to keep, and each frame gets a confidence."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .colour import ColourModel, colour_index
from .confidence import Evidence, confidence, frame_evidence
from .flow import FlowPair, edge_motion, finest_scale, grey
from .prompts import carried_prompts
from .redetect import relocate
from .refine import guided_upsample
from .segmenter import BandCutSegmenter, Segmenter, resize_mask, work_size

#: Frames whose confidence is below this are flagged ``needs_review`` (see
#: docs/benchmarks.md, "Propagation", for how it was chosen).
DEFAULT_REVIEW_THRESHOLD = 0.45


@dataclass
class FrameResult:
    """One propagated frame: ``mask`` ``(H, W) bool``, ``confidence`` in [0, 1], and
    the evidence behind it: the segmenter's ``score``, the share of the carried mask
    whose flow was consistent (``flow_consistency``), the area over the previous
    frame's (``area_ratio``), the IoU of the segmenter's result with the carried mask
    (``agreement``), ``fallback`` when drift control kept the carried mask instead of
    the segmenter's result, ``redetected`` when the lost object was looked for by its
    colours and the mask moved (:mod:`.redetect`), and ``steps``: how many frames the
    mask was carried from its keyframe (1 next to it; 0: unknown)."""

    index: int
    mask: np.ndarray
    confidence: float
    score: float = 0.0
    flow_consistency: float = 0.0
    area_ratio: float = 1.0
    agreement: float = 0.0
    fallback: bool = False
    redetected: bool = False
    steps: int = 0


@dataclass
class Tuning:
    """Options of :func:`propagate` (keyword arguments of the same names).

    ``flow_scale``: resolution of the flow relative to the frame (``None``: about
    427x240 pixels, see :func:`~.segmenter.work_size`); ``flow_preset``: DIS
    preset; ``flow_finest_scale``: its finest pyramid level (default: see
    :func:`~.flow.finest_scale`); ``consistent_px``: forward-backward error (flow
    pixels) under which the flow counts as reliable; ``min_agreement``: a segmenter
    result whose IoU with the carried mask is lower is not trusted (drift control keeps
    the carried mask); ``max_growth``: the same for a result whose area changed by more
    than this factor from the previous frame's; ``positives`` / ``negatives`` /
    ``ring``: the prompts (see :func:`~.prompts.carried_prompts`);
    ``reliability_window``: size of the box over which the share of consistent flow is
    averaged for the default segmenter (see :meth:`BandCutSegmenter.segment`);
    ``redetect``: look for a lost object (:mod:`.redetect`) when the carried mask is
    empty or the last ``redetect_after`` frames were not trusted (their evidence under
    ``trusted_evidence``, or drift control stepped in), moving the mask when the
    keyframe's colours fit the last trusted shape elsewhere by ``redetect_margin``
    (log-likelihood ratio, mean per pixel) better than where it is; ``refine``: radius
    (pixels of the frame) of the guided filter that gives the default segmenter's
    masks, decided at working resolution, the frame's own edges (0: plain upsampling;
    see :func:`~.refine.guided_upsample`), ``refine_eps`` its regulariser."""

    flow_scale: float | None = None
    flow_preset: str = "ultrafast"
    flow_finest_scale: int | None = None
    consistent_px: float = 1.0
    min_agreement: float = 0.4
    max_growth: float = 1.5
    positives: int = 3
    negatives: int = 4
    ring: float = 0.15
    reliability_window: int = 7
    redetect: bool = True
    redetect_after: int = 4
    redetect_margin: float = 1.0
    trusted_evidence: float = 0.3
    refine: int = 4
    refine_eps: float = 1e-3


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.count_nonzero(a | b))
    return int(np.count_nonzero(a & b)) / union if union else 1.0


def _check_frame(image: Any, shape: tuple[int, int], what: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(
            f"{what} must be an (H, W, 3) uint8 RGB array, got {arr.dtype} {arr.shape}"
        )
    if arr.shape[:2] != shape:
        raise ValueError(
            f"{what} is {arr.shape[1]}x{arr.shape[0]}, the first frame {shape[1]}x{shape[0]}"
        )
    return arr


def split_tuning(tuning: dict[str, Any]) -> tuple[Tuning, dict[str, Any]]:
    """``**tuning`` -> the loop's :class:`Tuning` and the default segmenter's options
    (``segmenter_*`` keys, prefix removed). Unknown keys raise ``TypeError``."""
    own = {k: v for k, v in tuning.items() if not k.startswith("segmenter_")}
    seg = {k.removeprefix("segmenter_"): v for k, v in tuning.items() if k.startswith("segmenter_")}
    return Tuning(**own), seg


def propagate(
    frames: Iterable[tuple[int, np.ndarray]],
    first_mask: np.ndarray,
    *,
    segmenter: Segmenter | None = None,
    **tuning: Any,
) -> Iterator[FrameResult]:
    """Carry ``first_mask`` through ``frames``.

    ``frames``: ``(index, (H, W, 3) uint8 RGB)`` in the order to walk (forward or
    backward); the first item is the keyframe whose mask is ``first_mask`` (not
    yielded again). Streams: holds O(1) frames in memory and yields one
    :class:`FrameResult` per later frame. ``segmenter``: re-segments each frame from
    the carried prompts; ``None`` builds the weight-free :class:`BandCutSegmenter` on
    the keyframe. ``tuning``: :class:`Tuning` fields and ``segmenter_<option>`` for the
    default segmenter. Raises ``ValueError`` for an empty ``frames``, an empty first
    mask, or a keyframe whose size differs from the mask's (at the call: the keyframe
    is read then), and for a later frame that is not ``(H, W, 3) uint8`` of the same
    size (when the iteration reaches it)."""
    opts, seg_opts = split_tuning(tuning)
    mask0 = np.asarray(first_mask)
    if mask0.ndim != 2:
        raise ValueError(f"first_mask must be a 2-D (H, W) mask, got shape {mask0.shape}")
    mask0 = mask0.astype(bool)
    if not mask0.any():
        raise ValueError("first_mask is empty: there is nothing to propagate")
    stream = iter(frames)
    try:
        _, image0 = next(stream)
    except StopIteration:
        raise ValueError("frames is empty: the keyframe is missing") from None
    image0 = _check_frame(image0, mask0.shape, "the keyframe")
    if segmenter is None:
        segmenter = BandCutSegmenter(image0, mask0, **seg_opts)
    return _walk(stream, image0, mask0, segmenter, opts)


def _walk(
    frames: Iterator[tuple[int, np.ndarray]],
    image0: np.ndarray,
    mask0: np.ndarray,
    segmenter: Segmenter,
    opts: Tuning,
) -> Iterator[FrameResult]:
    """The loop behind :func:`propagate` (the keyframe already read and checked)."""
    shape = mask0.shape
    size = work_size(image0.shape, opts.flow_scale)
    finest = opts.flow_finest_scale
    flow = FlowPair(
        opts.flow_preset, finest_scale(size[0], opts.flow_preset) if finest is None else finest
    )
    full = (shape[1], shape[0])
    prev_grey = grey(image0, size)
    prev = resize_mask(mask0, size)
    if not prev.any():  # an object smaller than a working pixel: keep what it touches
        prev = cv2.resize(mask0.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0
    prev_area = float(prev.sum())
    key_area = prev_area
    logits: np.ndarray | None = None
    state = Evidence.initial()
    colours = ColourModel(cv2.resize(image0, size, interpolation=cv2.INTER_AREA), prev, anchor=1.0)
    trusted, trouble = prev, 0
    for index, frame in frames:
        image = _check_frame(frame, shape, f"frame {index}")
        cur_grey = grey(image, size)
        backward, forward = flow.compute(prev_grey, cur_grey)
        carried = flow.warp(prev.astype(np.float32), backward) >= 0.5
        reliable = flow.consistency_error(backward, forward) <= opts.consistent_px
        redetected = False
        if opts.redetect and (trouble >= opts.redetect_after or not carried.any()):
            small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
            moved = relocate(
                colours.llr(colour_index(small)), trusted, carried, opts.redetect_margin
            )
            if moved is not None:  # the old low-res logits describe the old place
                carried, trouble, redetected, logits = moved, 0, True, None
        consistency = float(reliable[carried].mean()) if carried.any() else 0.0
        prompts = carried_prompts(
            carried,
            reliable,
            full,
            positives=opts.positives,
            negatives=opts.negatives,
            ring=opts.ring,
            logits=logits,
        )
        carried_full = np.asarray(prompts.mask, dtype=bool)
        if carried.any():
            if isinstance(segmenter, BandCutSegmenter):
                rel = cv2.blur(reliable.astype(np.float32), (opts.reliability_window,) * 2)
                motion = edge_motion(carried, backward) * full[0] / size[0]
                pred = segmenter.segment(index, image, prompts, rel, motion)
            else:
                pred = segmenter(index, image, prompts)
            seg_mask = np.asarray(pred.mask, dtype=bool)
            if seg_mask.shape != shape:
                seg_mask = resize_mask(seg_mask, full)
            score = float(np.clip(pred.score, 0.0, 1.0))
            logits = pred.low_res_logits
        else:
            seg_mask, score = carried_full, 0.0
        seg_small = resize_mask(seg_mask, size)
        agreement = _iou(seg_small, carried)
        area = float(seg_small.sum())
        growth = area / max(prev_area, 1.0)
        fallback = bool(
            carried.any()
            and (
                agreement < opts.min_agreement
                or growth > opts.max_growth
                or growth < 1.0 / opts.max_growth
            )
        )
        if fallback:
            out_mask, out_small = carried_full, carried
            area = float(carried.sum())
            logits = None
        else:
            out_mask, out_small = seg_mask, seg_small
        if opts.refine > 0 and isinstance(segmenter, BandCutSegmenter) and out_small.any():
            out_mask = guided_upsample(out_small, image, opts.refine, opts.refine_eps)
        area_ratio = area / max(prev_area, 1.0)
        state = state.step(
            consistency,
            score,
            agreement,
            area_ratio,
            fallback or redetected,
            bool(out_small.any()),
            kept_area=area / key_area,
        )
        yield FrameResult(
            index=int(index),
            mask=out_mask,
            confidence=confidence(state),
            score=score,
            flow_consistency=consistency,
            area_ratio=area_ratio,
            agreement=agreement,
            fallback=fallback,
            redetected=redetected,
            steps=state.age,
        )
        prev, prev_grey, prev_area = out_small, cur_grey, area
        # Trust (for re-detection) judges the frame alone, not its shrinking from the
        # keyframe: a mask may shrink with its object, and still be the best template.
        plain = frame_evidence(consistency, score, agreement, area_ratio, fallback or redetected)
        if out_small.any() and plain >= opts.trusted_evidence and not fallback:
            trusted, trouble = out_small, 0
        else:
            trouble += 1
