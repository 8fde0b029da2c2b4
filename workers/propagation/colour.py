"""Colour model of the tracked object: foreground and nearby-background histograms of
quantised RGB, learned on the keyframe and slowly updated on confident frames.

The keyframe's model is kept as an anchor: a run of bad frames can shift the running
model, never replace what the annotator's own mask showed."""

from __future__ import annotations

import cv2
import numpy as np

#: Bits kept per RGB channel: 4 -> 16 levels, 4096 bins.
BITS = 4
NBINS = 1 << (3 * BITS)


def colour_index(image: np.ndarray) -> np.ndarray:
    """``(h, w) int64`` histogram bin of each pixel of an ``(h, w, 3) uint8`` image."""
    q = (image >> (8 - BITS)).astype(np.int64)
    return (q[..., 0] << (2 * BITS)) | (q[..., 1] << BITS) | q[..., 2]


def context_ring(mask: np.ndarray, reach: float) -> np.ndarray:
    """Background pixels within ``reach`` times the object's size (square root of its
    area, at least 8 px) of ``mask``: the background the object is likely to meet."""
    radius = max(8.0, reach * float(np.sqrt(max(int(mask.sum()), 1))))
    outside = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    ring: np.ndarray = (outside > 0) & (outside <= radius)
    return ring


def _histogram(bins: np.ndarray, where: np.ndarray) -> np.ndarray:
    counts = np.bincount(bins[where], minlength=NBINS).astype(np.float64)
    return counts / max(counts.sum(), 1.0)


class ColourModel:
    """Log-likelihood ratio of foreground vs nearby background per colour bin.

    ``reach``: size of the background ring (see :func:`context_ring`); ``anchor``: share
    of the keyframe's histograms in the model; ``prior``: pseudo-count added to every
    bin (as a probability), so unseen colours are neutral; ``limit``: the ratio is
    clipped to +-limit."""

    def __init__(
        self,
        image: np.ndarray,
        mask: np.ndarray,
        reach: float = 0.5,
        anchor: float = 0.5,
        prior: float = 2e-4,
        limit: float = 4.0,
    ) -> None:
        self.reach = reach
        self.anchor = anchor
        self.prior = prior
        self.limit = limit
        bins = colour_index(image)
        self.key_fg = _histogram(bins, mask)
        self.key_bg = _histogram(bins, context_ring(mask, reach))
        self.fg = self.key_fg.copy()
        self.bg = self.key_bg.copy()
        self._table = self._llr_table()

    def _llr_table(self) -> np.ndarray:
        fg = self.anchor * self.key_fg + (1 - self.anchor) * self.fg + self.prior
        bg = self.anchor * self.key_bg + (1 - self.anchor) * self.bg + self.prior
        return np.clip(np.log(fg / bg), -self.limit, self.limit).astype(np.float32)

    def llr(self, bins: np.ndarray) -> np.ndarray:
        """Per-pixel log-likelihood ratio (foreground over background) of ``bins``."""
        out: np.ndarray = self._table[bins]
        return out

    def update(self, bins: np.ndarray, mask: np.ndarray, rate: float) -> None:
        """Move the running histograms ``rate`` of the way to this frame's."""
        if rate <= 0 or not mask.any():
            return
        self.fg = (1 - rate) * self.fg + rate * _histogram(bins, mask)
        self.bg = (1 - rate) * self.bg + rate * _histogram(bins, context_ring(mask, self.reach))
        self._table = self._llr_table()
