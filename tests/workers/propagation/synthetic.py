"""Synthetic videos for the propagation tests: a textured disc over a textured
background, whose centre, radius and visibility change frame by frame."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import cv2
import numpy as np

WIDTH, HEIGHT = 160, 120


def texture(seed: int, base: tuple[int, int, int], spread: int = 40) -> np.ndarray:
    """``(HEIGHT, WIDTH, 3) uint8`` smooth noise around colour ``base``."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, 1.0, (HEIGHT, WIDTH, 3)).astype(np.float32)
    smooth = np.asarray(cv2.GaussianBlur(noise, (0, 0), 2.0), dtype=np.float32)
    smooth /= max(float(smooth.std()), 1e-6)
    return np.clip(np.array(base, np.float32) + spread * smooth, 0, 255).astype(np.uint8)


BACKGROUND = texture(1, (70, 140, 80))
OBJECT = texture(2, (200, 60, 50))


def disc(cx: float, cy: float, radius: float) -> np.ndarray:
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH]
    out: np.ndarray = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius**2
    return out


def frame(mask: np.ndarray, offset: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """The background with the object's texture, moved by ``offset`` = ``(dx, dy)``
    (it travels with the object), where ``mask`` is set."""
    dx, dy = round(offset[0]), round(offset[1])
    image = BACKGROUND.copy()
    image[mask] = np.roll(OBJECT, (dy, dx), axis=(0, 1))[mask]
    return image


Path = Callable[[int], tuple[float, float, float]]


def video(
    n: int, path: Path, visible: Callable[[int], bool] = lambda i: True
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """``n`` frames of ``(index, image, true mask)``; ``path(i)`` gives the disc's
    ``(cx, cy, radius)``; an invisible frame shows the background alone."""
    out = []
    cx0, cy0, _ = path(0)
    for i in range(n):
        cx, cy, radius = path(i)
        mask = disc(cx, cy, radius) if visible(i) else np.zeros((HEIGHT, WIDTH), dtype=bool)
        out.append((i, frame(mask, (cx - cx0, cy - cy0)), mask))
    return out


def frames_of(clip: list[tuple[int, np.ndarray, np.ndarray]]) -> Iterator[tuple[int, np.ndarray]]:
    for index, image, _ in clip:
        yield index, image


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = int((a | b).sum())
    return int((a & b).sum()) / union if union else 1.0
