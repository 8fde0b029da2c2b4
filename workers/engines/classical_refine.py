"""Pixel-level boundary refinement of the classical engine: a contrast-sensitive graph
cut restricted to a narrow band around the superpixel result's boundary."""

from __future__ import annotations

import cv2
import numpy as np

from .classical_graph import min_cut
from .classical_state import ClassicalState


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
) -> np.ndarray:
    """Pixel-level graph cut in a band of ``band`` pixels around the boundary of the
    superpixel ``proposal`` (superpixels straddle edges by a few pixels).

    Pixels outside the band keep their proposal label and act as boundary conditions;
    inside, the unary is the superpixel ``evidence`` (``(H, W)``, broadcast) plus the
    per-pixel colour log-likelihood ratio, and the pairwise term is the classic
    contrast-sensitive ``exp(-beta |dLab|^2)`` on the 4-neighbourhood."""
    if not proposal.any() or proposal.all() or band <= 0:
        return proposal
    h, w = proposal.shape
    p8 = proposal.astype(np.uint8)
    d_in = cv2.distanceTransform(p8, cv2.DIST_L2, 3)
    d_out = cv2.distanceTransform(1 - p8, cv2.DIST_L2, 3)
    in_band = (proposal & (d_in <= band)) | (~proposal & (d_out <= band))
    ys, xs = np.nonzero(in_band)
    y0, y1 = max(ys.min() - 1, 0), min(ys.max() + 2, h)
    x0, x1 = max(xs.min() - 1, 0), min(xs.max() + 2, w)
    crop_band = in_band[y0:y1, x0:x1]
    crop_prop = proposal[y0:y1, x0:x1]
    lab = state.lab[y0:y1, x0:x1].astype(np.float32)
    ch, cw = crop_band.shape
    idx = np.full((ch, cw), -1, dtype=np.int64)
    nb = int(crop_band.sum())
    idx[crop_band] = np.arange(nb)

    bins = state.bins[y0:y1, x0:x1][crop_band].astype(np.int64)
    # The superpixel evidence is constant across a superpixel that straddles the true
    # edge, so inside the band it only breaks ties; pixel colour and edges decide.
    unary = evidence_weight * np.clip(evidence[y0:y1, x0:x1][crop_band], -2, 2)
    unary = unary + colour_weight * np.clip(llr_bins[bins], -3, 3)
    to_src = np.maximum(unary, 0.0)
    to_snk = np.maximum(-unary, 0.0)

    beta = float(state.beta)
    n_rows: list[np.ndarray] = []
    n_cols: list[np.ndarray] = []
    n_caps: list[np.ndarray] = []
    for da, db, la, lb, pa, pb, ia, ib in (
        (
            crop_band[:, :-1],
            crop_band[:, 1:],
            lab[:, :-1],
            lab[:, 1:],
            crop_prop[:, :-1],
            crop_prop[:, 1:],
            idx[:, :-1],
            idx[:, 1:],
        ),
        (
            crop_band[:-1],
            crop_band[1:],
            lab[:-1],
            lab[1:],
            crop_prop[:-1],
            crop_prop[1:],
            idx[:-1],
            idx[1:],
        ),
    ):
        wgt = smoothness * np.exp(-beta * ((la - lb) ** 2).sum(-1))
        both = da & db
        n_rows.append(ia[both])
        n_cols.append(ib[both])
        n_caps.append(wgt[both])
        # A band pixel next to a fixed pixel is pulled to the fixed pixel's label.
        for inside, fixed_label, wsel, iin in (
            (da & ~db, pb, wgt, ia),
            (db & ~da, pa, wgt, ib),
        ):
            node = iin[inside]
            wv = wsel[inside]
            lbl = fixed_label[inside]
            np.add.at(to_src, node[lbl], wv[lbl])
            np.add.at(to_snk, node[~lbl], wv[~lbl])
    hard_fg = np.zeros(nb, dtype=bool)
    hard_bg = np.zeros(nb, dtype=bool)
    for rows, cols, positive in pixel_seeds:
        r = rows - y0
        c = cols - x0
        ok = (r >= 0) & (r < ch) & (c >= 0) & (c < cw)
        ids = idx[r[ok], c[ok]]
        ids = ids[ids >= 0]
        (hard_fg if positive else hard_bg)[ids] = True
        (hard_bg if positive else hard_fg)[ids] = False
    edges = np.stack([np.concatenate(n_rows), np.concatenate(n_cols)], axis=1)
    pair = np.concatenate(n_caps)
    cut = min_cut(nb, edges, pair, to_src - to_snk, hard_fg, hard_bg)
    out = proposal.copy()
    sub = out[y0:y1, x0:x1]
    sub[crop_band] = cut
    return out
