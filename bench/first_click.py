"""The classical engine's first click with and without ``first_click_spread``: mean IoU
after the simulator's first click on DAVIS frames, and a picture of a few of them.

    .venv/bin/python -m bench.first_click [--step 10] [--out first-click.jpg]

Each frame's first click is the standard simulator's (the object's interior point
farthest from its boundary); both settings answer the same click on one prepared
state. The picture shows the ground-truth outline in white, the mask in green and
the click in yellow.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from bench.noc import Frame, davis_or_none, list_frames, load_frame
from workers.engines.base import Click, Prompts
from workers.engines.classical import ClassicalEngine
from workers.evaluation.clicker import Clicker
from workers.evaluation.metrics import iou

SETTINGS = (("spread 0 (v6)", 0.0), ("spread 0.04 (v7)", 0.04))
PICTURED = ("cows/00040", "dog/00040", "libby/00000")


def first_click_masks(frame: Frame) -> tuple[np.ndarray, np.ndarray, list[np.ndarray], Click]:
    """Image, ground truth, one first-click mask per setting, and the click."""
    image, gt = load_frame(frame)
    click = Clicker(gt).next_click(None)
    if click is None:
        raise ValueError(f"{frame.mask_path}: empty object mask")
    # The option only changes predict: one prepared state serves both settings.
    state = ClassicalEngine().prepare(image)
    masks = [
        ClassicalEngine(first_click_spread=spread).predict(state, Prompts(clicks=[click])).mask
        for _, spread in SETTINGS
    ]
    return image, gt, masks, click


def tile(
    image: np.ndarray, gt: np.ndarray, mask: np.ndarray, click: Click, text: str
) -> np.ndarray:
    out = image.astype(np.float32)
    out[mask] = 0.45 * out[mask] + 0.55 * np.array([40, 200, 60], dtype=np.float32)
    out8 = out.astype(np.uint8)
    contours, _ = cv2.findContours(gt.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out8, contours, -1, (255, 255, 255), 2)
    cv2.circle(out8, (int(click.x), int(click.y)), 7, (255, 255, 0), -1)
    cv2.putText(out8, text, (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (255, 255, 0), 2)
    return out8


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", type=int, default=10, help="every N-th frame (10)")
    parser.add_argument("--out", type=Path, help="write the picture (JPEG) here")
    args = parser.parse_args(argv)
    root = davis_or_none()
    if root is None:
        return 2
    ious: list[list[float]] = [[] for _ in SETTINGS]
    rows = []
    for frame in list_frames(root, args.step):
        image, gt, masks, click = first_click_masks(frame)
        for values, mask in zip(ious, masks, strict=True):
            values.append(iou(gt, mask))
        name = f"{frame.seq}/{Path(frame.image_path).stem}"
        if name in PICTURED:
            rows.append(
                np.concatenate(
                    [
                        tile(image, gt, m, click, f"{label}: IoU {iou(gt, m):.2f}")
                        for (label, _), m in zip(SETTINGS, masks, strict=True)
                    ],
                    axis=1,
                )
            )
    for (label, _), values in zip(SETTINGS, ious, strict=True):
        print(
            f"{label:<18} {len(values)} frames  mIoU@1 {statistics.mean(values):.3f}  "
            f"median {statistics.median(values):.3f}"
        )
    if args.out is not None and rows:
        picture = cv2.resize(np.concatenate(rows, axis=0), None, fx=0.5, fy=0.5)
        cv2.imwrite(
            str(args.out), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80]
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
