"""Prompts for the classical engine: checked, scaled to the working resolution, and
mapped onto superpixels as hard seeds, the box, the previous mask and how much of it to
trust around the newest click."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .base import Click, Prompts, Scribble
from .classical_graph import geodesic_distance
from .classical_refine import disk as _disk
from .classical_refine import rasterise_scribble as _rasterise_scribble
from .classical_state import ClassicalState

__all__ = ["ModelPrior", "Seeds", "check_prompts", "model_prior", "scale_prompts"]

#: Probabilities are clipped to [EPS, 1 - EPS] before their log-odds are taken.
EPS = 0.02


@dataclass
class Seeds:
    """Prompts mapped onto superpixels: hard labels, the box and the previous mask."""

    hard_fg: np.ndarray  # (n,) bool
    hard_bg: np.ndarray  # (n,) bool
    outside_box: np.ndarray | None  # (n,) bool, superpixels entirely outside the box
    prev: np.ndarray | None  # (n,) float in [0, 1], previous-mask fraction
    newest: Click | None
    prev_dist: float | None  # newest click's distance to the previous mask's boundary
    pixel_seeds: list[tuple[np.ndarray, np.ndarray, bool]]  # (rows, cols, positive)

    @classmethod
    def from_prompts(
        cls, prompts: Prompts, state: ClassicalState, click_radius: int = 0, seed_scale: float = 0.0
    ) -> Seeds:
        h, w = state.shape
        check_prompts(prompts, (h, w))
        n = state.n
        labels = state.labels
        hard_fg = np.zeros(n, dtype=bool)
        hard_bg = np.zeros(n, dtype=bool)
        pixel_seeds: list[tuple[np.ndarray, np.ndarray, bool]] = []
        # Older clicks first, so that a newer click on the same superpixel wins.
        for click in prompts.clicks:
            sp_id = labels[int(click.y), int(click.x)]
            rows, cols = _disk(int(click.y), int(click.x), click_radius, (h, w))
            pixel_seeds.append((rows, cols, bool(click.positive)))
            (hard_fg if click.positive else hard_bg)[sp_id] = True
            (hard_bg if click.positive else hard_fg)[sp_id] = False
        for scribble in prompts.scribbles:
            pts = np.asarray(scribble.points, dtype=float).reshape(-1, 2)
            stroke = _rasterise_scribble(pts, (h, w), 3)
            rows, cols = np.nonzero(stroke)
            pixel_seeds.append((rows, cols, bool(scribble.positive)))
            ids = np.unique(labels[stroke])
            (hard_fg if scribble.positive else hard_bg)[ids] = True
            (hard_bg if scribble.positive else hard_fg)[ids] = False
        outside_box = None
        if prompts.box is not None:
            x0, y0, x1, y1 = (float(v) for v in prompts.box)
            inside = np.zeros((h, w), dtype=bool)
            inside[
                max(int(np.floor(y0)), 0) : int(np.ceil(y1)) + 1,
                max(int(np.floor(x0)), 0) : int(np.ceil(x1)) + 1,
            ] = True
            frac_in = np.bincount(labels.ravel(), weights=inside.ravel(), minlength=n)
            outside_box = frac_in == 0
            hard_bg |= outside_box & ~hard_fg
        prev = None
        prev_dist = None
        newest = prompts.clicks[-1] if prompts.clicks else None
        if prompts.mask is not None:
            mask = np.asarray(prompts.mask).astype(bool)
            prev = np.bincount(labels.ravel(), weights=mask.ravel(), minlength=n) / state.sp_size
            if newest is not None and mask.any() and not mask.all():
                # Distance from the newest click to the nearest pixel of the other
                # label: small crop around the click would do, but edt is ~10 ms.
                cy, cx = int(newest.y), int(newest.x)
                other = mask != mask[cy, cx]
                ys, xs = np.nonzero(other)
                prev_dist = float(np.sqrt(((ys - cy) ** 2 + (xs - cx) ** 2).min()))
                radius = int(seed_scale * prev_dist)
                if newest is not None and radius > click_radius:
                    # The click sits in the middle of an error region that usually
                    # borders the previous boundary: a disk of about its distance to
                    # that boundary is error too, so it is seeded whole.
                    rows, cols = _disk(cy, cx, radius, (h, w))
                    pixel_seeds.append((rows, cols, bool(newest.positive)))
                    inside = np.bincount(labels[rows, cols], minlength=n) / state.sp_size
                    ids = inside > 0.5
                    (hard_fg if newest.positive else hard_bg)[ids] = True
                    (hard_bg if newest.positive else hard_fg)[ids] = False
        return cls(hard_fg, hard_bg, outside_box, prev, newest, prev_dist, pixel_seeds)

    def prior_trust(self, state: ClassicalState, graph: sp.csr_matrix, reach: float) -> np.ndarray:
        """Trust in the previous mask per superpixel: none near the newest click,
        full far from it, so a click edits its neighbourhood and leaves the rest of the
        last result alone. "Near" scales with the error the click corrects: its
        distance to the previous mask's boundary (a click lands in the middle of the
        error region, so that distance is about the region's inner radius)."""
        if self.newest is None or self.prev_dist is None:
            return np.ones(state.n)
        radius = max(3.0 * self.prev_dist, 25.0)
        d = np.hypot(state.sp_xy[:, 0] - self.newest.x, state.sp_xy[:, 1] - self.newest.y)
        euclid = np.clip((d - radius) / radius, 0.0, 1.0)
        if reach <= 0:
            return euclid
        # Also free what is geodesically close to the click (same colour, no edge in
        # between): an elongated missed part (a stripe, a leg) is edited as a whole.
        start = int(state.labels[int(self.newest.y), int(self.newest.x)])
        d_geo = geodesic_distance(graph, {start: 0.0})
        assert d_geo is not None
        return np.minimum(euclid, np.clip(d_geo / reach - 1.0, 0.0, 1.0))


def check_prompts(prompts: Prompts, shape: tuple[int, int]) -> None:
    """``ValueError`` unless ``prompts`` fit an image of ``shape`` ``(H, W)``."""
    h, w = shape
    if prompts.is_empty():
        raise ValueError("no prompts: give at least a click, a box, a scribble or a mask")
    for click in prompts.clicks:
        if not (0 <= click.x < w and 0 <= click.y < h):
            raise ValueError(f"click ({click.x}, {click.y}) outside the {w}x{h} image")
    for scribble in prompts.scribbles:
        pts = np.asarray(scribble.points, dtype=float).reshape(-1, 2)
        if len(pts) == 0:
            raise ValueError("empty scribble")
        if (
            (pts[:, 0] < 0).any()
            or (pts[:, 0] >= w).any()
            or (pts[:, 1] < 0).any()
            or (pts[:, 1] >= h).any()
        ):
            raise ValueError("scribble point outside the image")
    if prompts.box is not None:
        x0, y0, x1, y1 = (float(v) for v in prompts.box)
        if not (x0 <= x1 and y0 <= y1):
            raise ValueError(f"box {prompts.box} must have x0 <= x1 and y0 <= y1")
        if x1 < 0 or y1 < 0 or x0 >= w or y0 >= h:
            raise ValueError(f"box {prompts.box} outside the {w}x{h} image")
    if prompts.mask is not None and np.asarray(prompts.mask).shape != (h, w):
        raise ValueError(f"mask shape {np.asarray(prompts.mask).shape} != image shape {(h, w)}")
    if prompts.prior is not None:
        prior = np.asarray(prompts.prior)
        if prior.shape != (h, w):
            raise ValueError(f"prior shape {prior.shape} != image shape {(h, w)}")
        if prior.dtype.kind not in "fiub":
            raise ValueError(f"prior must be a float probability map, got {prior.dtype}")
        if not np.isfinite(prior).all():
            raise ValueError("prior holds NaN or infinite values")


def scale_prompts(prompts: Prompts, full: tuple[int, int], work: tuple[int, int]) -> Prompts:
    """``prompts`` in image coordinates of size ``full`` ``(H, W)`` mapped onto the
    working resolution ``work`` (pixel centres onto pixel centres, clipped inside)."""
    sy, sx = work[0] / full[0], work[1] / full[1]

    def xy(x: float, y: float) -> tuple[float, float]:
        return (
            min(max((x + 0.5) * sx - 0.5, 0.0), work[1] - 1.0),
            min(max((y + 0.5) * sy - 0.5, 0.0), work[0] - 1.0),
        )

    clicks = [Click(*xy(c.x, c.y), c.positive) for c in prompts.clicks]
    scribbles = [
        Scribble(
            np.array([xy(x, y) for x, y in np.asarray(s.points, float).reshape(-1, 2)]),
            s.positive,
        )
        for s in prompts.scribbles
    ]
    box = None
    if prompts.box is not None:
        x0, y0, x1, y1 = (float(v) for v in prompts.box)
        box = (*xy(x0, y0), *xy(x1, y1))
    mask = None
    if prompts.mask is not None:
        soft = np.asarray(prompts.mask, dtype=np.float32)
        mask = cv2.resize(soft, (work[1], work[0]), interpolation=cv2.INTER_AREA) >= 0.5
    prior = None
    if prompts.prior is not None:
        prior = cv2.resize(
            np.asarray(prompts.prior, dtype=np.float32),
            (work[1], work[0]),
            interpolation=cv2.INTER_AREA,
        )
    return Prompts(clicks=clicks, box=box, scribbles=scribbles, mask=mask, prior=prior)


@dataclass
class ModelPrior:
    """The project model's probability map (``Prompts.prior``) on the superpixels.

    ``pixel``: ``(h, w) float32`` in [0, 1]; ``mean``: ``(n,)`` mean per superpixel;
    ``logit``: ``(n,)`` its log-odds; ``weight``: trust in [0, 1], the product of
    how decided the map is (1 - mean binary entropy: a flat 0.5 map says nothing) and
    how well it agrees with the clicks (a map of another object, or of a model that
    has not learned this one, is low where the user clicked positive)."""

    pixel: np.ndarray
    mean: np.ndarray
    logit: np.ndarray
    weight: float


def model_prior(
    prompts: Prompts, state: ClassicalState, agree_at: float = 0.8, distrust: bool = True
) -> ModelPrior | None:
    """``prompts.prior`` (already checked and at the working resolution) mapped onto
    the superpixels of ``state``; ``None`` without one.

    Agreement with the clicks: the map's probability of each click's label at its
    superpixel, averaged; trust grows linearly to full at ``agree_at``. Later clicks
    land on errors, often the map's own, so a good map is not asked to agree with all.
    With ``distrust``, a connected foreground blob of the map (superpixels above 0.5)
    that holds a negative click and no positive one is set to 0.5 (no say): the user
    said it is not the object (another object of the label, or a wrong map)."""
    if prompts.prior is None:
        return None
    pixel = np.clip(np.asarray(prompts.prior, dtype=np.float32), 0.0, 1.0)
    labels = state.labels
    mean = np.bincount(labels.ravel(), weights=pixel.ravel(), minlength=state.n) / state.sp_size
    p = np.clip(mean.astype(np.float64), EPS, 1.0 - EPS)
    # How decided: 1 - the mean binary entropy (bits) per superpixel, area-weighted.
    entropy = -(p * np.log2(p) + (1.0 - p) * np.log2(1.0 - p))
    decided = float(1.0 - (entropy * state.sp_size).sum() / max(float(state.sp_size.sum()), 1.0))
    agree = 1.0
    clicked = [int(labels[int(c.y), int(c.x)]) for c in prompts.clicks]
    if prompts.clicks:
        at = [
            p[i] if c.positive else 1.0 - p[i] for i, c in zip(clicked, prompts.clicks, strict=True)
        ]
        agree = float(np.clip(np.mean(at) / max(agree_at, 1e-6), 0.0, 1.0))
    if distrust and any(not c.positive for c in prompts.clicks):
        wrong = _rejected_blobs(state, mean > 0.5, clicked, prompts.clicks)
        if wrong.any():
            mean = np.where(wrong, 0.5, mean)
            p = np.where(wrong, 0.5, p)
            pixel = np.where(wrong[labels], np.float32(0.5), pixel)
    weight = float(np.clip(decided, 0.0, 1.0) * agree)
    return ModelPrior(pixel=pixel, mean=mean, logit=np.log(p / (1.0 - p)), weight=weight)


def _rejected_blobs(
    state: ClassicalState, fg: np.ndarray, clicked: list[int], clicks: list[Click]
) -> np.ndarray:
    """``(n,) bool``: the superpixels of the connected components of ``fg`` (over the
    adjacency graph) that hold a negative click and no positive one."""
    e = state.edges
    both = fg[e[:, 0]] & fg[e[:, 1]]
    n = state.n
    adj = sp.csr_matrix((np.ones(int(both.sum())), (e[both, 0], e[both, 1])), shape=(n, n))
    _, comp = connected_components(adj, directed=False)
    pos = {int(comp[i]) for i, c in zip(clicked, clicks, strict=True) if c.positive and fg[i]}
    neg = {int(comp[i]) for i, c in zip(clicked, clicks, strict=True) if not c.positive and fg[i]}
    bad = sorted(neg - pos)
    return fg & np.isin(comp, bad) if bad else np.zeros(n, dtype=bool)
