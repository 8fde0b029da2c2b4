"""Per-click diagnostics of the classical engine under the NoC click simulator: what
each click fixed of the error it was aimed at, and what it broke elsewhere.

    .venv/bin/python -m bench.click_trace --frames cows/00040            # one session
    .venv/bin/python -m bench.click_trace --frames cows/00040 --picture cows.png
    .venv/bin/python -m bench.click_trace --step 20 --procs 2            # summary only
    .venv/bin/python -m bench.click_trace --step 20 --option negative_seed_scale=0.5

For every click: its sign and position, the IoU before and after, the area of the
connected error region it lies in (the simulator aims at the largest one), the share of
that region the click fixed, and the correct pixels outside it that the click made wrong.
The summary groups clicks by sign and by the IoU before them. This is how the v2, v5 and
v8 changes of the engine were found (``docs/benchmarks-noc.md``): clicks that fix a small
share of their region, or break more than they fix, show which part of the engine to look
at. ``--picture`` writes the image beside the last mask: false positives red, false
negatives blue, positive clicks yellow, negative ones magenta.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy import ndimage

from bench.noc import (
    Frame,
    davis_or_none,
    engine_options,
    engine_predict_fn,
    list_frames,
    load_frame,
    make_engine,
)
from workers.engines.base import Click
from workers.evaluation import simulate
from workers.evaluation.metrics import iou

IOU_BANDS = ((0.0, 0.6), (0.6, 0.8), (0.8, 0.85), (0.85, 0.9), (0.9, 1.01))


@dataclass(frozen=True)
class ClickEffect:
    """What one click did. ``region``: pixels of the error region the click lies in;
    ``fixed``: the share of them right afterwards; ``broken``: pixels outside that
    region that were right before the click and wrong after it."""

    positive: bool
    x: float
    y: float
    iou_before: float
    iou_after: float
    region: int
    fixed: float
    broken: int


def click_effect(
    gt: np.ndarray, before: np.ndarray | None, after: np.ndarray, click: Click
) -> ClickEffect:
    """Account for ``click`` given the masks before (``None``: empty) and after it."""
    prev = np.zeros_like(gt) if before is None else before
    wrong_before = prev ^ gt
    wrong_after = after ^ gt
    labels, _ = ndimage.label(wrong_before)
    here = labels[int(click.y), int(click.x)]
    region = labels == here if here else np.zeros_like(gt)
    size = int(region.sum())
    fixed = float((region & ~wrong_after).sum() / size) if size else 0.0
    broken = int((~wrong_before & wrong_after).sum())
    return ClickEffect(
        bool(click.positive),
        float(click.x),
        float(click.y),
        iou(prev, gt),
        iou(after, gt),
        size,
        fixed,
        broken,
    )


@dataclass
class Trace:
    frame: str
    effects: list[ClickEffect]
    last_mask: np.ndarray
    clicks: list[Click]


def trace_frame(frame: Frame, options: dict[str, float], max_clicks: int) -> Trace:
    """One simulated session (every click, no early stop) with each click's effect."""
    image, gt = load_frame(frame)
    engine = make_engine("classical", options)
    predict = engine_predict_fn(engine, engine.prepare(image))
    effects: list[ClickEffect] = []
    last: dict[str, Any] = {"mask": np.zeros_like(gt), "clicks": []}

    def traced(clicks: list[Click], prev_mask: np.ndarray | None) -> np.ndarray:
        mask = predict(clicks, prev_mask)
        effects.append(click_effect(gt, prev_mask, mask, clicks[-1]))
        last["mask"], last["clicks"] = mask, list(clicks)
        return mask

    simulate(gt, traced, max_clicks=max_clicks, stop_iou=1.01, min_clicks=max_clicks)
    name = f"{frame.seq}/{Path(frame.mask_path).stem}"
    return Trace(name, effects, last["mask"], last["clicks"])


def summarise(effects: Sequence[ClickEffect]) -> list[str]:
    """Per sign and IoU band: clicks, mean share fixed, broken / region area."""
    lines = [f"{'clicks':<8} {'IoU before':<11} {'n':>4} {'fixed':>6} {'broken/region':>14}"]
    for positive in (True, False):
        for lo, hi in IOU_BANDS:
            group = [e for e in effects if e.positive == positive and lo <= e.iou_before < hi]
            if not group:
                continue
            area = sum(e.region for e in group)
            lines.append(
                f"{'positive' if positive else 'negative':<8} {f'{lo:.2f}-{min(hi, 1):.2f}':<11} "
                f"{len(group):>4} {np.mean([e.fixed for e in group]):>6.2f} "
                f"{sum(e.broken for e in group) / max(area, 1):>14.2f}"
            )
    return lines


def picture(frame: Frame, trace: Trace, out: Path) -> None:
    image, gt = load_frame(frame)
    mask = trace.last_mask
    vis = image.astype(np.float32)
    for region, colour in ((mask & ~gt, (220, 40, 40)), (gt & ~mask, (40, 60, 230))):
        vis[region] = 0.45 * vis[region] + 0.55 * np.asarray(colour, np.float32)
    both = mask & gt
    vis[both] = 0.6 * vis[both] + 0.4 * np.asarray((40, 200, 60), np.float32)
    vis8 = vis.astype(np.uint8)
    for c in trace.clicks:
        colour = (255, 230, 0) if c.positive else (255, 0, 255)
        cv2.circle(vis8, (int(c.x), int(c.y)), 5, colour, -1)
    tile = np.concatenate([image, vis8], axis=1)
    cv2.imwrite(str(out), cv2.cvtColor(tile, cv2.COLOR_RGB2BGR))


def _work(args: tuple[Frame, dict[str, float], int]) -> Trace:
    return trace_frame(*args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", default="", help="comma separated seq/NNNNN")
    parser.add_argument("--step", type=int, default=20, help="every N-th frame (20)")
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument("--procs", type=int, default=2)
    parser.add_argument("--picture", type=Path, default=None, help="PNG of the last mask")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    options = engine_options(args.option)
    root = davis_or_none()
    if root is None:
        return 2
    if args.frames:
        frames = []
        for name in args.frames.split(","):
            seq, num = name.strip().split("/")
            frames.append(
                Frame(
                    seq,
                    str(root / "JPEGImages" / "480p" / seq / f"{num}.jpg"),
                    str(root / "Annotations" / "480p" / seq / f"{num}.png"),
                )
            )
    else:
        frames = list_frames(root, args.step)
    jobs = [(f, options, args.max_clicks) for f in frames]
    if args.procs > 1 and len(jobs) > 1:
        with mp.get_context("fork").Pool(min(args.procs, 2)) as pool:
            traces = pool.map(_work, jobs, chunksize=1)
    else:
        traces = [_work(j) for j in jobs]
    if len(traces) == 1:
        for i, e in enumerate(traces[0].effects, 1):
            print(
                f"{i:>2} {'+' if e.positive else '-'} ({e.x:4.0f},{e.y:4.0f}) "
                f"region {e.region:>6} fixed {e.fixed:.2f} broken {e.broken:>6} "
                f"IoU {e.iou_before:.3f} -> {e.iou_after:.3f}"
            )
        if args.picture:
            picture(frames[0], traces[0], args.picture)
    print("\n".join(summarise([e for t in traces for e in t.effects])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
