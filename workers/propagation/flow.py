"""Dense optical flow between consecutive frames (OpenCV's DIS) and what is built on it:
warping a mask from the previous frame onto the current one, and the forward-backward
consistency of the two flows."""

from __future__ import annotations

import cv2
import numpy as np

#: DIS presets by name (``ultrafast`` is what the benchmark chose, see docs/benchmarks.md).
PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


#: The flow's finest pyramid level is kept at least this wide (see :func:`finest_scale`).
MIN_FINEST_WIDTH = 100


def finest_scale(width: int, preset: str) -> int:
    """The DIS finest scale for frames ``width`` pixels wide: the preset's own
    (ultrafast and fast stop at 1/4 of the size, medium at 1/2) unless that level would
    be narrower than ``MIN_FINEST_WIDTH`` pixels, then finer. On small frames the
    preset's level is too coarse to see the motion (a 2 px step at 160 px wide is
    measured as 1 px at level 2, as 2 px at level 0)."""
    level = 1 if preset == "medium" else 2
    while level > 0 and width / 2**level < MIN_FINEST_WIDTH:
        level -= 1
    return level


def grey(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB -> ``(h, w) uint8`` luminance at ``size`` = ``(w, h)``."""
    if (image.shape[1], image.shape[0]) != size:
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


class FlowPair:
    """Backward flow (current -> previous frame, to pull the previous mask onto the
    current frame) and forward flow (previous -> current), on ``(h, w)`` grids.

    ``backward[y, x]`` is the displacement from current pixel ``(x, y)`` to where it was
    in the previous frame; ``forward`` the other way round."""

    def __init__(self, preset: str = "ultrafast", finest_scale: int | None = None) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown flow preset {preset!r}; use one of {sorted(PRESETS)}")
        self._dis = cv2.DISOpticalFlow.create(PRESETS[preset])
        if finest_scale is not None:
            # The presets stop at a quarter (ultrafast, fast) or half (medium) of the
            # size they are given: on a half-size frame that is 1/8 of the video.
            self._dis.setFinestScale(int(finest_scale))
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    def grid(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinate maps ``(xs, ys)`` of ``shape``, cached."""
        if self._grid is None or self._grid[0].shape != shape:
            ys, xs = np.indices(shape, dtype=np.float32)
            self._grid = (xs, ys)
        return self._grid

    def compute(self, prev: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(backward, forward)`` flows, each ``(h, w, 2) float32``, between two grey
        frames of the same size."""
        return self.one_way(cur, prev), self.one_way(prev, cur)

    def one_way(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """``(h, w, 2) float32`` flow with ``src[p] ~ dst[p + flow[p]]``. (OpenCV's
        stubs do not admit ``None`` for the output, which DIS takes for "allocate".)"""
        return np.asarray(self._dis.calc(src, dst, None), dtype=np.float32)  # type: ignore[call-overload]

    def warp(self, values: np.ndarray, backward: np.ndarray, border: float = 0.0) -> np.ndarray:
        """``values`` of the previous frame (``(h, w)`` float32) pulled onto the
        current frame along ``backward`` (bilinear; outside the frame: ``border``)."""
        xs, ys = self.grid(values.shape[:2])
        return cv2.remap(
            values,
            xs + backward[..., 0],
            ys + backward[..., 1],
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=border,
        )

    def consistency_error(self, backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
        """``(h, w)`` forward-backward error in pixels at each current pixel: go back
        along ``backward``, forward again along ``forward`` (sampled there), and measure
        how far from the start that lands. Large where the flow is wrong or the pixel
        was occluded in the previous frame."""
        xs, ys = self.grid(backward.shape[:2])
        map_x = xs + backward[..., 0]
        map_y = ys + backward[..., 1]
        fwd = cv2.remap(forward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        dx = backward[..., 0] + fwd[..., 0]
        dy = backward[..., 1] + fwd[..., 1]
        return np.sqrt(dx * dx + dy * dy)


def edge_motion(mask: np.ndarray, flow: np.ndarray) -> float:
    """Median length (pixels of the flow's grid) of ``flow`` (``(h, w, 2)``) on the
    edge pixels of the ``(h, w) bool`` ``mask``; 0 for an empty mask."""
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    edge = mask & ~inner
    if not edge.any():
        return 0.0
    return float(np.median(np.hypot(flow[..., 0][edge], flow[..., 1][edge])))
