"""Colour models of the classical engine: a global one over quantised CIELAB bins and a
local one that compares each superpixel only with the foreground and background of its
own neighbourhood.

The global model answers "does this colour belong to the object anywhere in the
image"; it fails where the object and the background share colours in different
places (a horse's legs and the sand of the arena, a car and the shadow beside it): one
positive click on a leg teaches it that sand is foreground and the arena floods. The
local model asks the question per neighbourhood: a superpixel counts as foreground
when, among the superpixels of nearly the same colour around it (Gaussian of
``sigma`` pixels in space, ``tau`` CIELAB units in colour), the foreground ones carry
more weight than the background ones. Measured with ``bench/noc.py`` (see
``docs/benchmarks-noc.md``, classical-v5).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from .classical_state import LEVELS, NBINS, ClassicalState

#: Neighbours per superpixel of the local model (about 1.5 sigma at the default 4500
#: superpixels of an 854x480 image).
NEIGHBOURS = 256
#: Added to both local densities: a colour seen on neither side around a superpixel
#: gives a ratio near 1 (no evidence) rather than a ratio of two tiny numbers.
LOCAL_PRIOR = 0.02
#: Labelled samples each pixel of the boundary band is compared with
#: (:func:`nearest_colour_llr`).
BAND_NEIGHBOURS = 12


def mixture(hist: sp.csr_matrix, parts: list[np.ndarray | None]) -> np.ndarray:
    """Equal-weight mixture of the normalised colour histograms of each weighting:
    ``hist`` ``(n, NBINS)`` per-superpixel histograms, each part ``(n,)`` superpixel
    weights (``None`` or all zero: skipped). Returns ``(LEVELS, LEVELS, LEVELS)``."""
    out = np.zeros(NBINS)
    for weights in parts:
        if weights is None or weights.sum() <= 0:
            continue
        h = np.asarray(hist.T @ weights).ravel()
        out += h / max(h.sum(), 1e-12)
    return out.reshape(LEVELS, LEVELS, LEVELS)


def colour_llr_bins(
    hist: sp.csr_matrix, fg_parts: list[np.ndarray | None], bg_parts: list[np.ndarray | None]
) -> np.ndarray:
    """``(NBINS,)`` log-likelihood ratio log p(c|fg) / p(c|bg) of each colour bin, from
    mixtures of superpixel histograms (one weighting per part).

    Not smoothed across bins: spreading each side's colours into the neighbouring bins
    (a Gaussian of one 16-unit bin, up to v11) gave background of a nearby colour the
    object's evidence. Without it, and with bins half as wide, NoC@90 fell by 1.4-2.1
    clicks on every frame set (``docs/benchmarks-noc.md``, v12)."""
    fg_h = mixture(hist, fg_parts)
    bg_h = mixture(hist, bg_parts)
    fg_p = fg_h / max(fg_h.sum(), 1e-9) + 1e-6
    bg_p = bg_h / max(bg_h.sum(), 1e-9) + 1e-6
    return np.log(fg_p / bg_p).ravel()


@dataclass(frozen=True)
class Neighbourhoods:
    """The ``k`` spatially nearest superpixels of each superpixel and the kernel
    weights of the local colour model, all ``(n, k)``: ``index`` (``uint16`` when
    ``n`` fits, else ``int32``), ``spatial`` = Gaussian of the centroid distance times
    the neighbour's pixel count, ``joint`` = ``spatial`` times the Gaussian of the
    mean-colour difference (both ``float16``: 6 bytes per pair in all, 6.9 MB at 4500
    superpixels)."""

    index: np.ndarray
    spatial: np.ndarray
    joint: np.ndarray

    @property
    def nbytes(self) -> int:
        return int(self.index.nbytes + self.spatial.nbytes + self.joint.nbytes)


def neighbourhoods(state: ClassicalState, sigma: float, tau: float) -> Neighbourhoods:
    """The local model's neighbourhoods of ``state``, computed once (~0.1 s at 4500
    superpixels) and kept on the state object for later clicks."""
    cache: dict[tuple[float, float], Neighbourhoods] = state.__dict__.setdefault(
        "_neighbourhoods", {}
    )
    key = (float(sigma), float(tau))
    if key not in cache:
        cache.clear()  # one setting per engine; do not let a state grow
        cache[key] = _compute_neighbourhoods(state, sigma, tau)
    return cache[key]


def cached_nbytes(state: ClassicalState) -> int:
    """Bytes held by the neighbourhoods cached on ``state`` (for the cache's bound)."""
    return sum(nb.nbytes for nb in state.__dict__.get("_neighbourhoods", {}).values())


def _compute_neighbourhoods(state: ClassicalState, sigma: float, tau: float) -> Neighbourhoods:
    n = state.n
    k = min(n, NEIGHBOURS)
    xy = state.sp_xy.astype(np.float32)
    dist, index = cKDTree(xy).query(xy, k=k)
    index = index.reshape(n, k)
    dist = dist.reshape(n, k).astype(np.float32)
    spatial = np.exp(-(dist**2) / np.float32(2 * sigma**2)) * state.sp_size[index]
    lab = state.sp_lab.astype(np.float32)
    diff = lab[index] - lab[:, None, :]
    colour = np.exp(-np.einsum("ijk,ijk->ij", diff, diff) / np.float32(2 * tau**2))
    index = index.astype(np.uint16 if n <= np.iinfo(np.uint16).max else np.int32)
    # Weights are relative: scale into float16's range before rounding.
    spatial = spatial / max(float(spatial.max()), 1e-12)
    return Neighbourhoods(
        index=index,
        spatial=spatial.astype(np.float16),
        joint=(spatial * colour).astype(np.float16),
    )


def local_colour_llr(
    state: ClassicalState, foreground: np.ndarray, sigma: float, tau: float
) -> np.ndarray:
    """``(n,)`` local log-likelihood ratio of each superpixel's mean colour.

    ``foreground``: ``(n,)`` membership in ``[0, 1]`` (1: foreground, 0: background;
    the previous mask's share with the hard seeds set). For superpixel ``i`` with
    neighbours ``j``: ``p_fg(i) = sum_j joint_ij f_j / sum_j spatial_ij f_j`` (how
    much of the nearby foreground has ``i``'s colour), ``p_bg`` likewise with
    ``1 - f_j``; returns ``log((p_fg + c) / (p_bg + c))`` with ``c = LOCAL_PRIOR``."""
    nb = neighbourhoods(state, sigma, tau)
    f = np.asarray(foreground, dtype=np.float32)[nb.index]
    spatial = nb.spatial.astype(np.float32)
    joint = nb.joint.astype(np.float32)
    p_fg = (joint * f).sum(1) / np.maximum((spatial * f).sum(1), 1e-9)
    p_bg = (joint * (1.0 - f)).sum(1) / np.maximum((spatial * (1.0 - f)).sum(1), 1e-9)
    return np.log((p_fg + LOCAL_PRIOR) / (p_bg + LOCAL_PRIOR)).astype(np.float64)


def nearest_colour_llr(
    lab: np.ndarray,
    foreground: np.ndarray,
    background: np.ndarray,
    query: np.ndarray,
    scale: float,
    k: int = BAND_NEIGHBOURS,
) -> np.ndarray:
    """``(h, w)`` log-odds that each ``query`` pixel is foreground, from the labels of
    its ``k`` nearest labelled pixels (0 at the other pixels, and everywhere when a
    side has fewer than ``k`` samples).

    ``lab``: ``(h, w, 3)`` CIELAB image; ``foreground``, ``background``, ``query``:
    ``(h, w) bool``. Distances are taken in the joint space of position and colour,
    ``(x / scale, y / scale, L, a, b)``: ``scale`` is how many pixels weigh as much as
    one CIELAB unit. With ``f`` foreground among the ``k`` neighbours, the odds are
    ``(f + 1) / (k - f + 1)``.

    The pixel cut of the boundary band (``classical_refine``) asks it with the pixels
    just inside and just outside the band as samples: a pixel whose colour matches the
    object's along the same stretch of boundary counts as object even where the same
    colour is background elsewhere in the image, which the global bins cannot tell apart
    (``docs/benchmarks-noc.md``, v13)."""
    out = np.zeros(query.shape, dtype=np.float64)
    n_fg, n_bg = int(foreground.sum()), int(background.sum())
    if n_fg < k or n_bg < k or not query.any():
        return out
    lab32 = lab.astype(np.float32)
    inv = np.float32(1.0 / scale)

    def features(where: np.ndarray) -> np.ndarray:
        ys, xs = np.nonzero(where)
        pos = np.column_stack([xs, ys]).astype(np.float32) * inv
        return np.hstack([pos, lab32[ys, xs]])

    samples = np.vstack([features(foreground), features(background)])
    is_fg = np.concatenate([np.ones(n_fg, np.float32), np.zeros(n_bg, np.float32)])
    _, index = cKDTree(samples).query(features(query), k=k)
    f = is_fg[index].sum(axis=1)
    out[query] = np.log((f + 1.0) / (k - f + 1.0))
    return out
