"""Mask propagation through a video: numpy in, numpy out.

:func:`propagate` carries a keyframe's mask through a stream of frames: dense optical
flow (OpenCV DIS) warps the previous mask onto the next frame, a segmenter re-decides it
from prompts derived from the carried mask (box, interior points, a negative ring, the
mask as prior), drift control keeps the carried mask when the segmenter's answer
departs too far from it, a lost object is looked for again by its keyframe colours
(``redetect``), and each frame gets a confidence from forward-backward flow
consistency, the segmenter's score, and area and shape change. :func:`blend` merges a
forward and a backward run between two keyframes. The weight-free default segmenter is
:class:`BandCutSegmenter` (its masks get the frame's own edges at full resolution by a
guided filter, :mod:`.refine`); the worker runtime may pass one built on SAM instead.
"""

from __future__ import annotations

from .blend import blend
from .propagate import DEFAULT_REVIEW_THRESHOLD, FrameResult, Tuning, propagate
from .segmenter import BandCutSegmenter, EngineSegmenter, Segmenter

__all__ = [
    "DEFAULT_REVIEW_THRESHOLD",
    "BandCutSegmenter",
    "EngineSegmenter",
    "FrameResult",
    "Segmenter",
    "Tuning",
    "blend",
    "propagate",
]
