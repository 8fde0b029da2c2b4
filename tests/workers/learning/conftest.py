"""Synthetic frames for the learning tests: a striped red disc on a smooth green ground."""

from __future__ import annotations

import numpy as np
import pytest

H, W = 120, 160


def disc_mask(cx: float, cy: float, r: float, shape: tuple[int, int] = (H, W)) -> np.ndarray:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.asarray((xs - cx) ** 2 + (ys - cy) ** 2 <= r**2)


def disc_image(
    cx: float, cy: float, r: float, seed: int = 0, contrast: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """``(image, mask)``: ``contrast`` 1 is an easy frame, near 0 the disc fades into the
    ground (an ambiguous frame)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    ground = np.stack([40 + 10 * np.sin(xs / 25), 120 + 15 * np.cos(ys / 20), 50 + 0 * xs], axis=-1)
    stripes = 0.5 + 0.5 * np.sin(xs / 1.5)
    disc = np.stack([150 + 80 * stripes, 40 + 20 * stripes, 40 + 0 * xs], axis=-1)
    mask = disc_mask(cx, cy, r)
    blend = ground + contrast * (disc - ground)
    image = np.where(mask[..., None], blend, ground) + rng.normal(0, 4, (H, W, 3))
    return np.clip(image, 0, 255).astype(np.uint8), mask


@pytest.fixture(scope="module")
def easy_frames() -> list[tuple[np.ndarray, np.ndarray]]:
    return [disc_image(50 + 30 * i, 55 + 5 * i, 28, seed=i) for i in range(3)]
