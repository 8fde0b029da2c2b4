"""ilastik-style pixel features: a fixed bank of multi-scale filters, computed once per frame.

A pixel classifier is only as good as what it sees around each pixel; ilastik's answer,
followed here, is a fixed bank of smoothed intensities, edges and blob / ridge responses at
several scales, so a small forest can tell textures apart without learned weights.

Per sigma in :data:`SIGMAS`, on the luminance channel (CIELAB L in [0, 1]): Gaussian
smoothing, gradient magnitude, Laplacian of Gaussian, difference of Gaussians (with the
previous scale), the two structure-tensor eigenvalues and the two Hessian eigenvalues.
Colour: CIELAB (L, a, b) smoothed at :data:`COLOUR_SIGMAS`. Last, the pixel's normalised
``(x, y)`` position in [0, 1]: within a project's sequence the object keeps to a region
of the frame, and the forest uses that (``bench/active_learning.py`` measures it).

Everything is computed at :func:`working_shape` (long side :data:`WORK_LONG_SIDE`),
``float32``, so a frame costs a fraction of a second and its features fit a cache.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage
from skimage.feature import (
    hessian_matrix,
    hessian_matrix_eigvals,
    structure_tensor,
    structure_tensor_eigenvalues,
)

__all__ = [
    "FEATURE_VERSION",
    "FEATURE_NAMES",
    "WORK_LONG_SIDE",
    "frame_descriptor",
    "frame_features",
    "working_shape",
]

#: Bump whenever the bank, the scales or the working size change (feature cache key).
FEATURE_VERSION = "pixel-v1"
#: Long side of the working image, pixels. DAVIS 854x480 -> 320x180.
WORK_LONG_SIDE = 320
#: Scales of the luminance filters, working pixels (ilastik's defaults from 1.0 up).
SIGMAS = (1.0, 1.6, 3.5, 5.0, 10.0)
#: Scales of the smoothed CIELAB colour.
COLOUR_SIGMAS = (1.0, 3.5, 10.0)

FEATURE_NAMES: tuple[str, ...] = (
    *(
        f"{name}@{sigma}"
        for sigma in SIGMAS
        for name in ("gauss", "gradmag", "log", "dog", "st1", "st2", "hess1", "hess2")
    ),
    *(f"{c}@{sigma}" for sigma in COLOUR_SIGMAS for c in ("L", "a", "b")),
    "x",
    "y",
)
#: Channels of :func:`frame_features` that are position, not appearance.
POSITION_CHANNELS = 2
#: The colour histogram of :func:`frame_descriptor` bins (a, b) at the middle scale.
_A_INDEX = FEATURE_NAMES.index(f"a@{COLOUR_SIGMAS[len(COLOUR_SIGMAS) // 2]}")


def working_shape(height: int, width: int) -> tuple[int, int]:
    """``(h, w)`` features are computed at: long side :data:`WORK_LONG_SIDE`, aspect kept.

    Images smaller than that stay at their own size (never upsampled)."""
    scale = min(1.0, WORK_LONG_SIDE / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _lab(image: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    """``(h, w, 3)`` CIELAB at the working size, scaled to about [0, 1] / [-1, 1]."""
    h, w = shape_hw
    if image.shape[:2] != (h, w):
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    lab = np.asarray(cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB), np.float32)
    return lab / np.array([100.0, 128.0, 128.0], np.float32)


def _luminance_bank(lum: np.ndarray) -> list[np.ndarray]:
    """The eight filters per sigma of the module docstring, on a float32 image."""
    out: list[np.ndarray] = []
    previous = lum
    for sigma in SIGMAS:
        smooth = ndimage.gaussian_filter(lum, sigma, mode="reflect")
        grad = ndimage.gaussian_gradient_magnitude(lum, sigma, mode="reflect")
        # Scale-normalised (sigma^2) so responses at every scale have a like range.
        log = ndimage.gaussian_laplace(lum, sigma, mode="reflect") * sigma**2
        dog = smooth - previous
        previous = smooth
        st1, st2 = structure_tensor_eigenvalues(
            structure_tensor(lum, sigma=sigma / 2.0 + 0.5, mode="reflect", order="rc")
        )
        h1, h2 = hessian_matrix_eigvals(
            hessian_matrix(
                lum, sigma=sigma, mode="reflect", order="rc", use_gaussian_derivatives=True
            )
        )
        out += [smooth, grad, log, dog, st1, st2, h1 * sigma**2, h2 * sigma**2]
    return out


def frame_features(image: np.ndarray) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB -> ``(h, w, F) float32`` at :func:`working_shape`.

    ``F = len(FEATURE_NAMES)``; the last :data:`POSITION_CHANNELS` are ``x, y`` in [0, 1].
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got {image.shape}")
    h, w = working_shape(image.shape[0], image.shape[1])
    lab = _lab(image, (h, w))
    channels = _luminance_bank(np.ascontiguousarray(lab[..., 0]))
    for sigma in COLOUR_SIGMAS:
        for c in range(3):
            channels.append(ndimage.gaussian_filter(lab[..., c], sigma, mode="reflect"))
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    channels.append(xs / max(w - 1, 1))
    channels.append(ys / max(h - 1, 1))
    return np.stack(channels, axis=-1).astype(np.float32, copy=False)


def frame_descriptor(features: np.ndarray) -> np.ndarray:
    """``(D,) float32``: what a frame looks like as a whole, for k-center diversity.

    Mean and standard deviation of every appearance channel plus a coarse (a, b) colour
    histogram of the smoothed colour, each part scaled to a like range so no block
    dominates the Euclidean distance. Position channels are left out (they are the same
    for every frame of a size)."""
    appearance = features[..., : features.shape[-1] - POSITION_CHANNELS]
    flat = appearance.reshape(-1, appearance.shape[-1])
    stats = np.concatenate([flat.mean(axis=0), flat.std(axis=0)])
    stats = stats / (np.sqrt(np.mean(stats**2)) + 1e-6)
    ab = flat[:, [_A_INDEX, _A_INDEX + 1]]
    hist, _, _ = np.histogram2d(ab[:, 0], ab[:, 1], bins=6, range=[[-0.5, 0.5], [-0.5, 0.5]])
    hist = np.sqrt(hist.ravel() / max(flat.shape[0], 1))  # Hellinger: L2 suits k-center
    return np.concatenate([stats, hist]).astype(np.float32)
