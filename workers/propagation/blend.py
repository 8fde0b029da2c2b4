"""Blending a forward and a backward propagation between two keyframes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .propagate import FrameResult


def blend(forward: Sequence[FrameResult], backward: Sequence[FrameResult]) -> list[FrameResult]:
    """Between two keyframes A < B: ``forward`` = the run from A (frames A+1..B-1, or
    any stretch of them), ``backward`` = the run from B (same frames, any order). Each
    frame's two masks are weighed by confidence times temporal closeness to the side's
    keyframe (a mask carried over fewer frames has drifted less; sparse-keyframe
    labelling, as in AVA): the forward side weighs ``confidence * s_b / (s_f + s_b)``
    where ``s_f`` / ``s_b`` are the frames each side carried its mask
    (:attr:`FrameResult.steps`; when a result does not say, A and B are taken to be
    just outside the frames given);
    the heavier side's mask is kept. Returns one
    :class:`FrameResult` per frame in increasing index order, with the weighted
    confidence. Raises ``ValueError`` when the two runs do not cover the same frames."""
    fwd = {r.index: r for r in forward}
    bwd = {r.index: r for r in backward}
    if len(fwd) != len(forward) or len(bwd) != len(backward):
        raise ValueError("a run lists the same frame twice")
    if set(fwd) != set(bwd):
        missing = sorted(set(fwd) ^ set(bwd))
        raise ValueError(f"forward and backward runs cover different frames: {missing[:10]}")
    if not fwd:
        return []
    indices = sorted(fwd)
    a, b = indices[0] - 1, indices[-1] + 1
    out: list[FrameResult] = []
    for i in indices:
        f, k = fwd[i], bwd[i]
        if f.mask.shape != k.mask.shape:
            raise ValueError(f"frame {i}: the two masks differ in size")
        # Temporal weight: 1 next to a side's keyframe, falling linearly to 0 at the other.
        sf = f.steps if f.steps > 0 else i - a
        sb = k.steps if k.steps > 0 else b - i
        wf = max(f.confidence, 1e-3) * sb / (sf + sb)
        wb = max(k.confidence, 1e-3) * sf / (sf + sb)
        winner = f if wf >= wb else k
        mask = winner.mask.copy()
        conf = (wf * f.confidence + wb * k.confidence) / (wf + wb)
        out.append(
            FrameResult(
                index=i,
                mask=mask,
                confidence=float(conf),
                score=winner.score,
                flow_consistency=winner.flow_consistency,
                area_ratio=winner.area_ratio,
                agreement=_agreement(f.mask, k.mask),
                fallback=winner.fallback,
                steps=min(sf, sb),
            )
        )
    return out


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    union = int(np.count_nonzero(a | b))
    return int(np.count_nonzero(a & b)) / union if union else 1.0
