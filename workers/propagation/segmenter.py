"""The weight-free default segmenter: re-decides a band around the carried mask with a
pixel graph cut whose unary combines the carried mask (as a signed-distance prior) and
the object's colour model, and whose pairwise term follows image edges.

It implements :class:`~workers.propagation.Segmenter`: ``(index, image, prompts) ->
Prediction``, where ``prompts.mask`` is the mask carried by the flow, ``prompts.clicks``
its interior points (positive) and negative ring (hard constraints), and
``prompts.box`` its box. Work happens at ``work_scale`` of the image size."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import cv2
import numpy as np

from workers.engines.base import Engine, Prediction, Prompts
from workers.engines.classical_refine import grid_cut

from .colour import ColourModel, colour_index


class Segmenter(Protocol):
    """Re-segments one frame from prompts derived from the carried mask. The runtime
    passes one built on the configured engine (SAM: its embedding of that frame, the
    carried box, points, and previous low-res logits); ``None`` means the package's own
    weight-free default (:class:`BandCutSegmenter`)."""

    def __call__(self, index: int, image: np.ndarray, prompts: Prompts) -> Prediction: ...


#: Pixels of the working resolution when no scale is given: half of DAVIS's 854x480,
#: where every pixel-valued option was tuned (docs/benchmarks.md, "Propagation").
WORK_PIXELS = 427 * 240


def work_size(shape: tuple[int, ...], scale: float | None = None) -> tuple[int, int]:
    """``(w, h)`` of an ``(H, W, ...)`` image at ``scale`` (at least 1x1); ``None``:
    the scale that brings it to about ``WORK_PIXELS`` pixels, never above its own size
    (854x480 -> 427x240, 1920x1080 -> 427x240, 320x240 stays)."""
    if scale is None:
        scale = min(1.0, float(np.sqrt(WORK_PIXELS / max(shape[0] * shape[1], 1))))
    return max(1, round(shape[1] * scale)), max(1, round(shape[0] * scale))


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A bool mask resampled to ``size`` = ``(w, h)`` (area-averaged or bilinear, then
    thresholded at one half, so edges do not creep either way)."""
    if (mask.shape[1], mask.shape[0]) == size:
        return mask.astype(bool)
    shrink = size[0] < mask.shape[1]
    soft = cv2.resize(
        mask.astype(np.float32),
        size,
        interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR,
    )
    out: np.ndarray = soft >= 0.5
    return out


def contrast_beta(lab: np.ndarray) -> float:
    """1 / (2 * mean squared colour difference of horizontal and vertical neighbours)."""
    dx = np.diff(lab, axis=1) ** 2
    dy = np.diff(lab, axis=0) ** 2
    pairs = dx.shape[0] * dx.shape[1] + dy.shape[0] * dy.shape[1]
    mean = (float(dx.sum()) + float(dy.sum())) / max(pairs, 1)
    return 1.0 / (2.0 * max(mean, 1e-6))


class BandCutSegmenter:
    """Graph cut of a band around the carried mask (see the module docstring).

    Options: ``work_scale`` (resolution of the cut relative to the image; ``None``:
    about ``WORK_PIXELS``, see :func:`work_size`),
    ``band`` (half width of the re-decided band, as a share of the object's size, the
    square root of its area) with ``min_band`` / ``max_band`` in work pixels,
    ``prior_weight`` and ``prior_scale`` (the carried mask's pull: ``prior_weight *
    clip(d / prior_scale, -1, 1)`` at signed distance ``d`` work pixels from its
    boundary), ``colour_weight`` (weight of the colour log-likelihood ratio),
    ``smoothness`` (edge-following pairwise weight), ``update_rate`` (how fast the
    colour model follows accepted frames; the keyframe's share stays ``anchor``),
    ``reach`` (size of the background ring the colour model learns from),
    ``motion_band`` (the band's half width is at least this many times the motion of
    the carried mask's edge, see :meth:`segment`, still within ``max_band``),
    ``unreliable_prior`` (see :meth:`segment`; 1 turns it off) and ``outer`` (the band's
    reach outside the carried mask relative to its reach inside). The last two were
    measured and left off (docs/benchmarks.md, "Propagation", tried, not kept)."""

    def __init__(
        self,
        first_image: np.ndarray,
        first_mask: np.ndarray,
        *,
        work_scale: float | None = None,
        band: float = 0.12,
        min_band: float = 4.0,
        max_band: float = 24.0,
        prior_weight: float = 1.5,
        prior_scale: float = 6.0,
        colour_weight: float = 1.0,
        smoothness: float = 3.0,
        update_rate: float = 0.1,
        anchor: float = 0.5,
        reach: float = 0.5,
        unreliable_prior: float = 1.0,
        outer: float = 1.0,
        motion_band: float = 3.0,
    ) -> None:
        self.work_scale = work_scale
        self.band = band
        self.min_band = min_band
        self.max_band = max_band
        self.prior_weight = prior_weight
        self.prior_scale = prior_scale
        self.colour_weight = colour_weight
        self.smoothness = smoothness
        self.update_rate = update_rate
        self.unreliable_prior = unreliable_prior
        self.outer = outer
        self.motion_band = motion_band
        size = work_size(first_image.shape, work_scale)
        small = cv2.resize(first_image, size, interpolation=cv2.INTER_AREA)
        self.colour = ColourModel(small, resize_mask(first_mask, size), reach=reach, anchor=anchor)

    def __call__(self, index: int, image: np.ndarray, prompts: Prompts) -> Prediction:
        return self.segment(index, image, prompts)

    def segment(
        self,
        index: int,
        image: np.ndarray,
        prompts: Prompts,
        reliability: np.ndarray | None = None,
        motion: float = 0.0,
    ) -> Prediction:
        """:meth:`__call__` with the flow's ``reliability`` (``(h, w)`` float in [0, 1],
        any size: share of consistent flow around each pixel) and ``motion`` (how far
        the carried mask's edge moved from the previous frame, in pixels of the image:
        the flow's error grows with it, so the band widens). Where the flow was
        unreliable the carried mask's pull drops to ``unreliable_prior`` of its weight,
        so colour and edges decide there."""
        if prompts.mask is None:
            raise ValueError("the band-cut segmenter needs the carried mask as prompts.mask")
        height, width = image.shape[:2]
        size = work_size(image.shape, self.work_scale)
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        carried = resize_mask(np.asarray(prompts.mask, dtype=bool), size)
        if not carried.any():
            return Prediction(mask=np.zeros((height, width), dtype=bool), score=0.0)
        bins = colour_index(small)
        trust = None
        if reliability is not None and self.unreliable_prior < 1.0:
            rel = cv2.resize(reliability.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
            trust = self.unreliable_prior + (1.0 - self.unreliable_prior) * np.clip(rel, 0, 1)
        reach = self.motion_band * motion * size[0] / width
        cut, score = self._cut(small, bins, carried, prompts, (width, height), trust, reach)
        self.colour.update(bins, cut, self.update_rate * score)
        return Prediction(mask=resize_mask(cut, (width, height)), score=score)

    def _cut(
        self,
        small: np.ndarray,
        bins: np.ndarray,
        carried: np.ndarray,
        prompts: Prompts,
        full: tuple[int, int],
        trust: np.ndarray | None,
        reach: float = 0.0,
    ) -> tuple[np.ndarray, float]:
        h, w = carried.shape
        c8 = carried.astype(np.uint8)
        d_in = cv2.distanceTransform(c8, cv2.DIST_L2, 3)
        d_out = cv2.distanceTransform(1 - c8, cv2.DIST_L2, 3)
        signed = np.where(carried, d_in, -d_out)
        size = float(np.sqrt(carried.sum()))
        half = float(np.clip(max(self.band * size, reach), self.min_band, self.max_band))
        active = (signed <= half) & (signed >= -self.outer * half)
        ys, xs = np.nonzero(active)
        y0, y1 = max(int(ys.min()) - 1, 0), min(int(ys.max()) + 2, h)
        x0, x1 = max(int(xs.min()) - 1, 0), min(int(xs.max()) + 2, w)
        crop = (slice(y0, y1), slice(x0, x1))
        llr = self.colour.llr(bins[crop])
        prior = np.clip(signed[crop] / self.prior_scale, -1.0, 1.0)
        if trust is not None:
            prior = prior * trust[crop]
        unary = self.prior_weight * prior + self.colour_weight * llr
        lab = cv2.cvtColor(small[crop], cv2.COLOR_RGB2LAB).astype(np.float32)
        hard_fg = np.zeros(active[crop].shape, dtype=bool)
        hard_bg = np.zeros_like(hard_fg)
        sx, sy = w / full[0], h / full[1]
        for click in prompts.clicks:
            r, c = int(click.y * sy) - y0, int(click.x * sx) - x0
            if 0 <= r < y1 - y0 and 0 <= c < x1 - x0:
                (hard_fg if click.positive else hard_bg)[r, c] = True
        cut = grid_cut(
            unary,
            lab,
            contrast_beta(lab),
            self.smoothness,
            active[crop],
            carried[crop],
            hard_fg,
            hard_bg,
        )
        out = carried.copy()
        out[crop] = cut
        score = self._score(llr, cut, active[crop])
        return out, score

    @staticmethod
    def _score(llr: np.ndarray, cut: np.ndarray, active: np.ndarray) -> float:
        """How well the colour model agrees with the cut inside the band: the mean
        probability it gives the cut's labels there (0.5: no information)."""
        p = 1.0 / (1.0 + np.exp(-llr[active]))
        agree = np.where(cut[active], p, 1.0 - p)
        return float(agree.mean()) if agree.size else 0.0


class EngineSegmenter:
    """A :class:`Segmenter` on any interactive engine of ``workers.engines``
    (``prepare`` then ``predict``). ``state_for(index, image)`` returns the engine's
    prepared state of a frame (the runtime's cached embedding); without it every frame
    is prepared here. The classical engine is not the default: its ``prepare`` alone
    takes 0.5-1 s per 854x480 frame (docs/benchmarks.md, "Propagation")."""

    def __init__(
        self, engine: Engine, state_for: Callable[[int, np.ndarray], Any] | None = None
    ) -> None:
        self.engine = engine
        self.state_for = state_for

    def __call__(self, index: int, image: np.ndarray, prompts: Prompts) -> Prediction:
        state = self.state_for(index, image) if self.state_for else self.engine.prepare(image)
        return self.engine.predict(state, prompts)
