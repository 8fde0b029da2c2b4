"""Per-frame confidence of a propagated mask, from the evidence the loop gathers:
forward-backward flow consistency over the carried mask, the segmenter's score, the
agreement of its result with the carried mask, the change of area (from the previous
frame, and shrinking from the keyframe's), whether drift control or re-detection had to
step in, and how many frames the mask has been carried since the keyframe.

Errors accumulate along a propagation, so the confidence combines the frame's own
evidence with a running memory of earlier frames' (an exponential average), and decays
with the distance to the keyframe towards half its value. The exponents, rates and
scales were fitted on the benchmark's five tuning sequences for the rank correlation
with the true IoU and checked on the other five (docs/benchmarks.md, "Propagation")."""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Memory rate of the running average; frames over which the age factor falls by 1/e;
#: the age factor's floor.
MEMORY_RATE = 0.1
AGE_SCALE = 100.0
AGE_FLOOR = 0.5
#: Weight of the shrinking from the keyframe's area (see :func:`frame_evidence`).
SHRINK_POWER = 0.25


@dataclass(frozen=True)
class Evidence:
    """The latest frame's evidence (``local`` in [0, 1]), the running ``memory``, the
    number of frames carried since the keyframe (``age``), and whether the mask is
    empty."""

    local: float
    memory: float
    age: int = 0
    empty: bool = False

    @staticmethod
    def initial() -> Evidence:
        return Evidence(local=1.0, memory=1.0)

    def step(
        self,
        consistency: float,
        score: float,
        agreement: float,
        area_ratio: float,
        fallback: bool,
        present: bool,
        kept_area: float = 1.0,
    ) -> Evidence:
        """The evidence after one more frame (see :func:`frame_evidence`)."""
        local = (
            frame_evidence(consistency, score, agreement, area_ratio, fallback, kept_area)
            if present
            else 0.0
        )
        memory = (1 - MEMORY_RATE) * self.memory + MEMORY_RATE * local
        return Evidence(local=local, memory=memory, age=self.age + 1, empty=not present)


def frame_evidence(
    consistency: float,
    score: float,
    agreement: float,
    area_ratio: float,
    fallback: bool,
    kept_area: float = 1.0,
) -> float:
    """One frame's evidence in [0, 1]: high when the flow was consistent over the
    object, the segmenter was sure, its result agreed with the carried mask, the area
    barely changed from the previous frame and did not shrink far below the keyframe's
    (``kept_area``: area over the keyframe's, counted to the power ``SHRINK_POWER``
    below 1: a mask that dwindles to a fragment has usually lost the object); a quarter
    of that when drift control had to step in or the
    mask was moved by re-detection (``fallback``)."""
    area_change = abs(math.log(max(area_ratio, 1e-6)))
    value = (
        math.sqrt(max(consistency, 0.0))
        * (0.5 + 0.5 * score)
        * max(agreement, 0.0)
        * math.exp(-4.0 * area_change)
        * min(max(kept_area, 0.0), 1.0) ** SHRINK_POWER
    )
    if fallback:
        value *= 0.25
    return float(min(max(value, 0.0), 1.0))


def confidence(state: Evidence) -> float:
    """The frame's confidence: the geometric mean of its own evidence and the memory,
    times the age factor. 0 for an empty mask (the object is lost or gone)."""
    if state.empty:
        return 0.0
    age = AGE_FLOOR + (1.0 - AGE_FLOOR) * math.exp(-state.age / AGE_SCALE)
    return float(math.sqrt(max(state.local, 0.0) * max(state.memory, 0.0)) * age)
