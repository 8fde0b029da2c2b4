"""How well the classical engine's ``score`` (its estimate of the mask's IoU) tracks the
true IoU, over every click of simulated NoC sessions on DAVIS frames.

    .venv/bin/python -m bench.score --step 20                       # the fit's frames
    .venv/bin/python -m bench.score --step 10 --exclude-step 20     # frames it never saw

Prints the rank correlation (Spearman) of score and IoU over all masks, over first
clicks, and within sessions (mean of the per-session correlations); the mean absolute
error of the score as an IoU estimate against the baseline of always answering the mean
IoU of the run; and the true IoU per score bin (calibration). Sessions run all
``--max-clicks`` clicks, so masks above IoU 0.9 count too.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
from collections.abc import Sequence

import numpy as np
from scipy.stats import spearmanr

from bench.noc import Frame, davis_or_none, list_frames, load_frame, make_engine
from workers.engines.base import Prompts
from workers.evaluation import simulate
from workers.evaluation.metrics import iou

BINS = ((0.0, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.01))


def session(args: tuple[Frame, int]) -> np.ndarray:
    """``(clicks, 3)`` rows of (click number, score, true IoU) for one frame."""
    frame, max_clicks = args
    image, gt = load_frame(frame)
    engine = make_engine("classical")
    state = engine.prepare(image)
    rows: list[tuple[int, float, float]] = []

    def predict(clicks: list, prev_mask: np.ndarray | None) -> np.ndarray:
        out = engine.predict(state, Prompts(clicks=list(clicks), mask=prev_mask))
        rows.append((len(clicks), float(out.score), iou(out.mask, gt)))
        return out.mask

    simulate(gt, predict, max_clicks=max_clicks, stop_iou=1.01, min_clicks=max_clicks)
    return np.asarray(rows, dtype=float)


def report(sessions: Sequence[np.ndarray]) -> list[str]:
    rows = np.concatenate(sessions)
    score, truth = rows[:, 1], rows[:, 2]
    first = rows[:, 0] == 1
    within = [spearmanr(s[:, 1], s[:, 2])[0] for s in sessions if np.ptp(s[:, 1]) > 0]
    lines = [
        f"{len(rows)} masks from {len(sessions)} sessions",
        f"Spearman(score, IoU): all {spearmanr(score, truth)[0]:.3f}, first clicks "
        f"{spearmanr(score[first], truth[first])[0]:.3f}, within sessions (mean) "
        f"{np.nanmean(within):.3f}",
        f"mean |score - IoU| {np.abs(score - truth).mean():.3f}; always the mean IoU "
        f"({truth.mean():.3f}): {np.abs(truth.mean() - truth).mean():.3f}",
        "score bin    masks  mean IoU",
    ]
    for lo, hi in BINS:
        inside = (score >= lo) & (score < hi)
        if inside.any():
            mean = truth[inside].mean()
            lines.append(f"{lo:.1f}-{min(hi, 1.0):.1f}  {inside.sum():>9}  {mean:>8.3f}")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", type=int, default=20)
    parser.add_argument("--exclude-step", type=int, default=None)
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument("--procs", type=int, default=2)
    args = parser.parse_args(argv)
    root = davis_or_none()
    if root is None:
        return 2
    jobs = [(f, args.max_clicks) for f in list_frames(root, args.step, None, args.exclude_step)]
    with mp.get_context("fork").Pool(max(1, min(2, args.procs))) as pool:
        sessions = pool.map(session, jobs, chunksize=1)
    print("\n".join(report(sessions)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
