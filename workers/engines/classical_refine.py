"""Pixel-level boundary refinement of the classical engine: a contrast-sensitive graph
cut restricted to a narrow band around the superpixel result's boundary."""

from __future__ import annotations

import cv2
import maxflow
import numpy as np

from .classical_colour import nearest_colour_llr
from .classical_state import ClassicalState

#: Width in pixels of the rings just inside and just outside the band whose pixels
#: teach the band colour model (:func:`band_colour_llr`), and the stride of the grid
#: they are sampled on.
RING = 6.0
STRIDE = 2


def disk(row: int, col: int, radius: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the pixels within ``radius`` of ``(row, col)``."""
    r = np.arange(-radius, radius + 1)
    dr, dc = np.meshgrid(r, r, indexing="ij")
    inside = dr**2 + dc**2 <= radius**2
    rows = row + dr[inside]
    cols = col + dc[inside]
    ok = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    return rows[ok], cols[ok]


def rasterise_scribble(points: np.ndarray, shape: tuple[int, int], width: int) -> np.ndarray:
    """``(H, W) bool`` pixels under a polyline of ``(N, 2)`` ``(x, y)`` points."""
    canvas = np.zeros(shape, dtype=np.uint8)
    pts = np.round(points).astype(np.int32).reshape(-1, 1, 2)
    if len(pts) == 1:
        cv2.circle(canvas, tuple(int(v) for v in pts[0, 0]), max(width // 2, 0), 1, -1)
    else:
        cv2.polylines(canvas, [pts], False, 1, thickness=max(width, 1))
    return canvas.astype(bool)


def grid_cut(
    unary: np.ndarray,
    lab: np.ndarray,
    beta: float,
    smoothness: float,
    active: np.ndarray,
    labels: np.ndarray,
    hard_fg: np.ndarray,
    hard_bg: np.ndarray,
) -> np.ndarray:
    """Binary graph cut of the ``active`` pixels of a grid (PyMaxflow's
    Boykov-Kolmogorov solver); the others keep ``labels`` and act as boundary conditions.

    ``unary``: ``(h, w)`` cost of labelling a pixel background (negative: of labelling
    it foreground); pairwise: ``smoothness * exp(-beta |dLab|^2) / distance`` on the
    8-neighbourhood of the ``(h, w, 3)`` CIELAB ``lab``; ``hard_fg`` / ``hard_bg``
    active pixels are fixed. Only active pixels become nodes, so the cost follows the
    band, not its bounding box. Returns ``(h, w) bool`` foreground."""
    h, w = unary.shape
    idx = np.full((h, w), -1, dtype=np.int64)
    n = int(active.sum())
    idx[active] = np.arange(n)
    to_src = np.maximum(unary[active], 0.0)
    to_snk = np.maximum(-unary[active], 0.0)
    labf = lab.astype(np.float32)
    graph = maxflow.Graph[float](n, 4 * n)
    nodes = graph.add_grid_nodes((n,))
    edge_i: list[np.ndarray] = []
    edge_j: list[np.ndarray] = []
    edge_w: list[np.ndarray] = []
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
        ys, yd = slice(0, h - dy), slice(dy, h)
        d2 = ((labf[ys, xs] - labf[yd, xd]) ** 2).sum(-1)
        weight = smoothness / float(np.hypot(dy, dx)) * np.exp(-beta * d2)
        a_act, b_act = active[ys, xs], active[yd, xd]
        a_idx, b_idx = idx[ys, xs], idx[yd, xd]
        both = a_act & b_act
        edge_i.append(a_idx[both])
        edge_j.append(b_idx[both])
        edge_w.append(weight[both])
        # An active pixel next to a fixed one is pulled towards the fixed one's label.
        for here, there_label, node in (
            (a_act & ~b_act, labels[yd, xd], a_idx),
            (b_act & ~a_act, labels[ys, xs], b_idx),
        ):
            ids = node[here]
            wv = weight[here]
            lbl = there_label[here]
            np.add.at(to_src, ids[lbl], wv[lbl])
            np.add.at(to_snk, ids[~lbl], wv[~lbl])
    ew = np.concatenate(edge_w)
    graph.add_edges(np.concatenate(edge_i), np.concatenate(edge_j), ew, ew)
    hard = 1e9
    fg_fixed = hard_fg[active]
    bg_fixed = hard_bg[active]
    to_src = np.where(fg_fixed, hard, np.where(bg_fixed, 0.0, to_src))
    to_snk = np.where(bg_fixed, hard, np.where(fg_fixed, 0.0, to_snk))
    graph.add_grid_tedges(nodes, to_src, to_snk)
    graph.maxflow()
    out = labels.copy()
    # get_grid_segments is True on the sink (background) side.
    out[active] = ~np.asarray(graph.get_grid_segments(nodes), dtype=bool)
    return out


def band_colour_llr(
    lab: np.ndarray,
    proposal: np.ndarray,
    in_band: np.ndarray,
    d_in: np.ndarray,
    d_out: np.ndarray,
    band: float,
    scale: float,
) -> np.ndarray:
    """``(H, W)`` log-odds that each ``in_band`` pixel is foreground, learned from the
    pixels beside the band (:func:`~.classical_colour.nearest_colour_llr`, ``scale``
    pixels per CIELAB unit; 0 outside the band).

    The samples are the ``proposal`` pixels up to ``RING`` pixels deeper than the band
    on either side (``d_in`` / ``d_out``: ``(H, W)`` distance to the proposal's
    background / foreground), every ``STRIDE``-th row and column: labels the band's
    cut keeps, close enough to the band to know its local colours. Only the band's
    bounding box, grown by the ring, is looked at."""
    h, w = proposal.shape
    ys, xs = np.nonzero(in_band)
    grow = int(np.ceil(band + RING)) + 1
    y0, y1 = max(int(ys.min()) - grow, 0), min(int(ys.max()) + grow + 1, h)
    x0, x1 = max(int(xs.min()) - grow, 0), min(int(xs.max()) + grow + 1, w)
    crop = (slice(y0, y1), slice(x0, x1))
    grid = (np.arange(y0, y1)[:, None] % STRIDE == 0) & (np.arange(x0, x1)[None, :] % STRIDE == 0)
    prop = proposal[crop]
    inner, outer = d_in[crop], d_out[crop]
    foreground = grid & prop & (inner > band) & (inner <= band + RING)
    background = grid & ~prop & (outer > band) & (outer <= band + RING)
    out = np.zeros((h, w), dtype=np.float64)
    out[crop] = nearest_colour_llr(lab[crop], foreground, background, in_band[crop], scale)
    return out


def refine_band(
    state: ClassicalState,
    proposal: np.ndarray,
    evidence: np.ndarray,
    llr_bins: np.ndarray,
    pixel_seeds: list[tuple[np.ndarray, np.ndarray, bool]],
    band: float,
    smoothness: float,
    colour_weight: float,
    evidence_weight: float,
    band_colour: float = 0.0,
    band_colour_scale: float = 1.0,
    extra: np.ndarray | None = None,
) -> np.ndarray:
    """Pixel-level graph cut in a band of ``band`` pixels around the boundary of the
    superpixel ``proposal`` (superpixels straddle edges by a few pixels).

    Pixels outside the band keep their proposal label and act as boundary conditions;
    inside, the unary is the superpixel ``evidence`` (``(H, W)``) plus the per-pixel
    colour log-likelihood ratio ``llr_bins`` of each pixel's colour bin, plus
    ``band_colour`` times the band colour model's log-odds (:func:`band_colour_llr`,
    ``band_colour_scale`` pixels per CIELAB unit); the pairwise term is the
    contrast-sensitive one of :func:`grid_cut`. ``pixel_seeds`` (rows, cols,
    positive) are hard; ``extra``, an ``(H, W)`` unary of the same sign convention, is
    added (the project model's prior, see ``classical``)."""
    if band <= 0 or not proposal.any() or proposal.all():
        return proposal
    h, w = proposal.shape
    p8 = proposal.astype(np.uint8)
    d_in = cv2.distanceTransform(p8, cv2.DIST_L2, 3)
    d_out = cv2.distanceTransform(1 - p8, cv2.DIST_L2, 3)
    in_band = (proposal & (d_in <= band)) | (~proposal & (d_out <= band))
    ys, xs = np.nonzero(in_band)
    y0, y1 = max(int(ys.min()) - 1, 0), min(int(ys.max()) + 2, h)
    x0, x1 = max(int(xs.min()) - 1, 0), min(int(xs.max()) + 2, w)
    crop_band = in_band[y0:y1, x0:x1]
    crop_prop = proposal[y0:y1, x0:x1]
    bins = state.bins[y0:y1, x0:x1].astype(np.int64)
    # The superpixel evidence is constant across a superpixel that straddles the true
    # edge, so inside the band it only breaks ties; pixel colour and edges decide.
    unary = evidence_weight * np.clip(evidence[y0:y1, x0:x1], -2, 2)
    unary = unary + colour_weight * np.clip(llr_bins[bins], -3, 3)
    if band_colour > 0:
        near = band_colour_llr(state.lab, proposal, in_band, d_in, d_out, band, band_colour_scale)
        unary = unary + band_colour * near[y0:y1, x0:x1]
    if extra is not None:
        unary = unary + extra[y0:y1, x0:x1]
    hard_fg = np.zeros_like(crop_band)
    hard_bg = np.zeros_like(crop_band)
    ch, cw = crop_band.shape
    for rows, cols, positive in pixel_seeds:
        r = rows - y0
        c = cols - x0
        ok = (r >= 0) & (r < ch) & (c >= 0) & (c < cw)
        (hard_fg if positive else hard_bg)[r[ok], c[ok]] = True
        (hard_bg if positive else hard_fg)[r[ok], c[ok]] = False
    cut = grid_cut(
        unary,
        state.lab[y0:y1, x0:x1],
        float(state.beta),
        smoothness,
        crop_band,
        crop_prop,
        hard_fg,
        hard_bg,
    )
    out = proposal.copy()
    out[y0:y1, x0:x1] = cut
    return out
