"""Per-image precomputation of the classical engine: superpixels and their graph.

See :mod:`workers.engines.classical`; this module holds the prepared state and the
expensive ``prepare`` step (SLIC superpixels, colour histograms, adjacency graph).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import scipy.sparse as sp
from skimage.segmentation import slic

#: Quantisation levels per CIELAB channel for the colour histograms (a power of two:
#: bins of 8 units on OpenCV's 8-bit CIELAB scale). 32 levels, unsmoothed, against 16
#: smoothed by one bin up to v11: NoC@90 1.4-2.1 clicks lower on every frame set, for
#: about 5% more state (``docs/benchmarks-noc.md``, v12).
LEVELS = 32
NBINS = LEVELS**3


@dataclass
class ClassicalState:
    """Per-image precomputation. ``n`` superpixels, ``E`` adjacent pairs.

    * ``labels``: ``(H, W) int32`` superpixel id of each pixel, ``0..n-1``.
    * ``bins``: ``(H, W) uint16`` quantised CIELAB colour bin of each pixel.
    * ``sp_size``: ``(n,) float32`` pixel count; ``sp_lab``: ``(n, 3) float32`` mean
      CIELAB (OpenCV 8-bit scale); ``sp_xy``: ``(n, 2) float32`` centroid ``(x, y)``.
    * ``hist_data``, ``hist_indices``, ``hist_indptr``: CSR ``(n, NBINS)`` colour
      histogram of each superpixel (pixel counts).
    * ``edges``: ``(E, 2) int32`` adjacent superpixel pairs ``i < j``;
      ``edge_len``: ``(E,) float32`` shared boundary length in pixels;
      ``edge_contrast``: ``(E,) float32`` mean gradient magnitude along it, divided
      by the image's mean gradient (so ~1 is an ordinary edge).
    * ``lab``: ``(H, W, 3) uint8`` CIELAB image (pixel-level boundary refinement);
      ``beta``: ``() float32`` 1 / (2 * mean squared neighbour colour difference), the
      contrast scale of the pixel-level pairwise term.
    * ``full_shape``: ``(2,) int64`` height and width of the image the caller gave.
      Large images are prepared at a working resolution (``H, W`` above, at most about
      ``max_pixels``); the engine maps prompts down and masks back up.
    """

    labels: np.ndarray
    bins: np.ndarray
    sp_size: np.ndarray
    sp_lab: np.ndarray
    sp_xy: np.ndarray
    hist_data: np.ndarray
    hist_indices: np.ndarray
    hist_indptr: np.ndarray
    edges: np.ndarray
    edge_len: np.ndarray
    edge_contrast: np.ndarray
    lab: np.ndarray
    beta: np.ndarray
    full_shape: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """``(H, W)`` of the working resolution."""
        return (int(self.labels.shape[0]), int(self.labels.shape[1]))

    @property
    def image_shape(self) -> tuple[int, int]:
        """``(H, W)`` of the image as given to ``prepare``."""
        return (int(self.full_shape[0]), int(self.full_shape[1]))

    @property
    def n(self) -> int:
        return int(self.sp_size.shape[0])

    def hist(self) -> sp.csr_matrix:
        return sp.csr_matrix(
            (self.hist_data, self.hist_indices, self.hist_indptr), shape=(self.n, NBINS)
        )


def gradient_magnitude(lab: np.ndarray) -> np.ndarray:
    """``(H, W) float32`` colour gradient magnitude: the largest Sobel response over the
    smoothed CIELAB channels (colour edges matter as much as intensity edges)."""
    smooth = cv2.GaussianBlur(lab, (0, 0), 1.0)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy).max(axis=2)
    return mag.astype(np.float32)


def adjacency(labels: np.ndarray, grad: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Adjacent superpixel pairs with boundary length and mean boundary gradient."""
    pairs = []
    strengths = []
    for a, b, ga, gb in (
        (labels[:, :-1], labels[:, 1:], grad[:, :-1], grad[:, 1:]),
        (labels[:-1, :], labels[1:, :], grad[:-1, :], grad[1:, :]),
    ):
        diff = a != b
        lo = np.minimum(a[diff], b[diff]).astype(np.int64)
        hi = np.maximum(a[diff], b[diff]).astype(np.int64)
        pairs.append(lo * n + hi)
        strengths.append(np.maximum(ga[diff], gb[diff]))
    codes = np.concatenate(pairs)
    strength = np.concatenate(strengths)
    uniq, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    total = np.bincount(inverse, weights=strength, minlength=len(uniq))
    edges = np.stack([uniq // n, uniq % n], axis=1).astype(np.int32)
    return edges, counts.astype(np.float32), (total / counts).astype(np.float32)


def working_size(height: int, width: int, max_pixels: float) -> tuple[int, int]:
    """``(h, w)`` of the working resolution: the image's own up to ``max_pixels``,
    else scaled down with its aspect ratio kept."""
    if height * width <= max_pixels:
        return height, width
    scale = (max_pixels / (height * width)) ** 0.5
    return max(1, round(height * scale)), max(1, round(width * scale))


def compute_state(
    image: np.ndarray, n_segments: int, compactness: float, max_pixels: float = float("inf")
) -> ClassicalState:
    """Prepare ``image`` (``(H, W, 3) uint8`` RGB): about 0.5-1 s at 854x480 on one core,
    dominated by SLIC. Images of more than ``max_pixels`` pixels are prepared at a
    working resolution of about that many (area-averaged down): SLIC and the per-click
    work grow with the pixel count, and a 12-megapixel photo would take ~15 s to prepare
    and ~2 s a click at full resolution."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got {image.shape} {image.dtype}")
    full_shape = np.asarray(image.shape[:2], dtype=np.int64)
    h, w = working_size(image.shape[0], image.shape[1], max_pixels)
    if (h, w) != image.shape[:2]:
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    # About 150 pixels per superpixel at 854x480: fine enough for boundaries,
    # coarse enough for a fast graph.
    n_seg = max(16, min(n_segments, (h * w) // 64))
    labels = slic(
        image,
        n_segments=n_seg,
        compactness=compactness,
        start_label=0,
        enforce_connectivity=True,
    ).astype(np.int32)
    # slic may leave gaps in the label range: relabel to 0..n-1.
    _, labels_flat = np.unique(labels, return_inverse=True)
    labels = labels_flat.reshape(h, w).astype(np.int32)
    n = int(labels.max()) + 1

    q = (lab // (256 // LEVELS)).astype(np.uint16)
    bins = (q[..., 0] * LEVELS + q[..., 1]) * LEVELS + q[..., 2]
    flat = labels.ravel()
    size = np.bincount(flat, minlength=n).astype(np.float32)
    lab_f = lab.reshape(-1, 3).astype(np.float64)
    sp_lab = (
        np.stack([np.bincount(flat, weights=lab_f[:, c], minlength=n) for c in range(3)], axis=1)
        / size[:, None]
    )
    ys, xs = np.indices((h, w))
    sp_xy = (
        np.stack(
            [
                np.bincount(flat, weights=xs.ravel(), minlength=n),
                np.bincount(flat, weights=ys.ravel(), minlength=n),
            ],
            axis=1,
        )
        / size[:, None]
    )
    hist = sp.csr_matrix(
        (np.ones(flat.size, dtype=np.float32), (flat, bins.ravel().astype(np.int64))),
        shape=(n, NBINS),
    )
    hist.sum_duplicates()
    grad = gradient_magnitude(lab.astype(np.float32))
    grad /= max(float(grad.mean()), 1e-6)
    edges, edge_len, edge_contrast = adjacency(labels, grad, n)
    labf = lab.astype(np.float32)
    sq = np.concatenate(
        [
            ((labf[:, 1:] - labf[:, :-1]) ** 2).sum(-1).ravel(),
            ((labf[1:] - labf[:-1]) ** 2).sum(-1).ravel(),
        ]
    )
    # A 1x1 image has no neighbour pairs: any beta will do there.
    beta = np.float32(1.0 / (2.0 * max(float(sq.mean()) if sq.size else 0.0, 1e-6)))
    return ClassicalState(
        labels=labels,
        bins=bins.astype(np.uint16),
        sp_size=size,
        sp_lab=sp_lab.astype(np.float32),
        sp_xy=sp_xy.astype(np.float32),
        hist_data=hist.data.astype(np.float32),
        hist_indices=hist.indices.astype(np.int32),
        hist_indptr=hist.indptr.astype(np.int32),
        edges=edges,
        edge_len=edge_len,
        edge_contrast=edge_contrast,
        lab=lab,
        beta=np.asarray(beta, dtype=np.float32),
        full_shape=full_shape,
    )
