"""NoC benchmark of the interactive engines on DAVIS frames (RITM / f-BRS protocol).

Usage (from the repository root)::

    .venv/bin/python -m bench.noc                       # every 10th frame, all engines
    .venv/bin/python -m bench.noc --step 20 --limit 10  # a quick run
    .venv/bin/python -m bench.noc --engines classical --max-clicks 20 --procs 2
    .venv/bin/python -m bench.noc --engines classical --step 20 --all-clicks  # setbacks

Data: ``${SEG_BENCH_DATA:-../shared/data}/davis`` relative to the repository root, laid
out as ``JPEGImages/480p/<seq>/NNNNN.jpg`` and ``Annotations/480p/<seq>/NNNNN.png``
(0/255 masks). Every object mask (all non-zero pixels) of a chosen frame is one
session. Engines: ``classical`` (workers.engines.classical) and ``grabcut``, a plain
OpenCV GrabCut baseline driven the same way. The session loop takes a
``predict(clicks, prev_mask) -> mask`` callable, so other drivers (e.g. the HTTP API)
plug in through :func:`run_sessions`.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from workers.engines.base import Click, Prompts
from workers.evaluation import PredictFn, simulate, summarize

REPO_ROOT = Path(__file__).resolve().parent.parent
ENGINES = ("classical", "grabcut")


def davis_root() -> Path:
    base = Path(os.environ.get("SEG_BENCH_DATA", "../shared/data"))
    if not base.is_absolute():
        base = REPO_ROOT / base
    return base / "davis"


@dataclass(frozen=True)
class Frame:
    seq: str
    image_path: str
    mask_path: str


def davis_or_none() -> Path | None:
    """The DAVIS folder, or ``None`` (after saying so on stderr) when it is not there."""
    root = davis_root()
    if root.is_dir():
        return root
    print(f"no DAVIS data at {root}", file=sys.stderr)
    return None


def engine_options(pairs: Sequence[str]) -> dict[str, float]:
    """``["key=value", ...]`` (repeated ``--option``) -> classical engine options."""
    return {k: float(v) for k, v in (pair.split("=", 1) for pair in pairs)}


def list_frames(
    root: Path, step: int = 10, limit: int | None = None, exclude_step: int | None = None
) -> list[Frame]:
    """Every ``step``-th annotated frame of every sequence, sorted, at most ``limit``;
    without every ``exclude_step``-th (to evaluate on frames a tuning run did not see,
    e.g. ``step=10, exclude_step=20``)."""
    frames: list[Frame] = []
    ann_root = root / "Annotations" / "480p"
    for seq_dir in sorted(p for p in ann_root.iterdir() if p.is_dir()):
        pngs = sorted(seq_dir.glob("*.png"))
        for index, png in enumerate(pngs):
            if index % step or (exclude_step and index % exclude_step == 0):
                continue
            jpg = root / "JPEGImages" / "480p" / seq_dir.name / (png.stem + ".jpg")
            if jpg.exists():
                frames.append(Frame(seq_dir.name, str(jpg), str(png)))
    return frames[:limit] if limit else frames


def load_frame(frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """``(H, W, 3) uint8`` RGB image and ``(H, W) bool`` object mask."""
    bgr = cv2.imread(frame.image_path, cv2.IMREAD_COLOR)
    ann = cv2.imread(frame.mask_path, cv2.IMREAD_GRAYSCALE)
    if bgr is None or ann is None:
        raise FileNotFoundError(frame.image_path)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), ann > 0


class GrabCutBaseline:
    """Plain OpenCV GrabCut: rectangle = box around the positive clicks grown by a
    margin, clicks as hard FG/BG disks, a few iterations, no memory of earlier masks."""

    name = "grabcut"
    model_id = "grabcut-baseline"

    def __init__(self, iterations: int = 3, margin: float = 0.1, radius: int = 5) -> None:
        self.iterations = iterations
        self.margin = margin
        self.radius = radius

    def prepare(self, image: np.ndarray) -> np.ndarray:
        return cv2.cvtColor(image, cv2.COLOR_RGB2BGR)

    def predict(self, state: np.ndarray, prompts: Prompts) -> np.ndarray:
        h, w = state.shape[:2]
        pos = np.array([(c.x, c.y) for c in prompts.clicks if c.positive], dtype=float)
        if len(pos) == 0:
            return np.zeros((h, w), dtype=bool)
        pad = self.margin * max(h, w)
        x0, y0 = np.maximum(pos.min(0) - pad, 0).astype(int)
        x1, y1 = np.minimum(pos.max(0) + pad, [w - 1, h - 1]).astype(int)
        gc = np.full((h, w), cv2.GC_BGD, dtype=np.uint8)
        gc[y0 : y1 + 1, x0 : x1 + 1] = cv2.GC_PR_FGD
        for c in prompts.clicks:
            label = cv2.GC_FGD if c.positive else cv2.GC_BGD
            cv2.circle(gc, (int(c.x), int(c.y)), self.radius, label, -1)
        bgd = np.zeros((1, 65), np.float64)
        fgd = np.zeros((1, 65), np.float64)
        # Degenerate models (e.g. no background sample) raise: keep the seeds then.
        with contextlib.suppress(cv2.error):
            cv2.grabCut(state, gc, (0, 0, 0, 0), bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
        return (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)


def make_engine(name: str, options: dict[str, Any] | None = None) -> Any:
    if name == "grabcut":
        return GrabCutBaseline(**(options or {}))
    from workers.engines import build_engine

    return build_engine(name, **(options or {}))


def engine_predict_fn(engine: Any, state: Any) -> PredictFn:
    """Adapt an engine (or the baseline) to ``predict(clicks, prev_mask) -> mask``."""

    def predict(clicks: list[Click], prev_mask: np.ndarray | None) -> np.ndarray:
        out = engine.predict(state, Prompts(clicks=list(clicks), mask=prev_mask))
        return out if isinstance(out, np.ndarray) else out.mask

    return predict


@dataclass
class SessionRecord:
    engine: str
    frame: str
    ious: list[float]
    predict_s: list[float]
    prepare_s: float


def run_sessions(
    jobs: Sequence[tuple[str, np.ndarray, np.ndarray]],
    make_predict: Callable[[np.ndarray], tuple[PredictFn, float]],
    engine: str,
    max_clicks: int,
    all_clicks: bool = False,
) -> list[SessionRecord]:
    """Run one session per ``(frame_id, image, gt)``; ``make_predict(image)`` returns the
    predict callable for that image and the seconds its preparation took. Sessions stop
    once IoU >= 0.90 after 10 clicks (NoC is unaffected), unless ``all_clicks``."""
    records = []
    stop_iou = None if all_clicks else 0.90
    for frame_id, image, gt in jobs:
        predict, prepare_s = make_predict(image)
        res = simulate(gt, predict, max_clicks=max_clicks, stop_iou=stop_iou, min_clicks=10)
        records.append(SessionRecord(engine, frame_id, res.ious, res.predict_s, prepare_s))
    return records


_WORKER_ENGINES: dict[str, Any] = {}


def _work(args: tuple[str, Frame, int, dict[str, Any], bool]) -> SessionRecord:
    engine_name, frame, max_clicks, options, all_clicks = args
    if engine_name not in _WORKER_ENGINES:
        _WORKER_ENGINES[engine_name] = make_engine(engine_name, options)
    engine = _WORKER_ENGINES[engine_name]
    image, gt = load_frame(frame)

    def make_predict(img: np.ndarray) -> tuple[PredictFn, float]:
        start = time.perf_counter()
        state = engine.prepare(img)
        return engine_predict_fn(engine, state), time.perf_counter() - start

    frame_id = f"{frame.seq}/{Path(frame.mask_path).stem}"
    jobs = [(frame_id, image, gt)]
    return run_sessions(jobs, make_predict, engine_name, max_clicks, all_clicks)[0]


def format_table(records: Sequence[SessionRecord], engines: Sequence[str], max_clicks: int) -> str:
    rows = []
    header = (
        f"| {'engine':<10} | {'frames':>6} | {'NoC@85':>6} | {'NoC@90':>6} | {'never90':>7} "
        f"| {'mIoU@1':>6} | {'mIoU@3':>6} | {'mIoU@5':>6} | {'mIoU@10':>7} "
        f"| {'p50 ms':>6} | {'p90 ms':>6} | {'prep s':>6} |"
    )
    rows.append(header)
    rows.append("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    summaries: dict[str, dict[str, float]] = {}
    for name in engines:
        recs = [r for r in records if r.engine == name]
        if not recs:
            continue
        s = summarize([r.ious for r in recs], max_clicks=max_clicks)
        summaries[name] = s
        times = np.concatenate([r.predict_s for r in recs]) * 1000
        prep = np.median([r.prepare_s for r in recs])
        rows.append(
            f"| {name:<10} | {len(recs):>6} | {s['noc@85']:>6.2f} | {s['noc@90']:>6.2f} "
            f"| {int(s['never@90']):>7} | {s['miou@1']:>6.3f} | {s['miou@3']:>6.3f} "
            f"| {s['miou@5']:>6.3f} | {s['miou@10']:>7.3f} | {np.median(times):>6.0f} "
            f"| {np.percentile(times, 90):>6.0f} | {prep:>6.2f} |"
        )
    if "classical" in summaries and "grabcut" in summaries:
        c, g = summaries["classical"], summaries["grabcut"]
        rows.append("")
        rows.append(
            f"classical / grabcut clicks: NoC@85 {c['noc@85'] / g['noc@85']:.2f}, "
            f"NoC@90 {c['noc@90'] / g['noc@90']:.2f}"
        )
    return "\n".join(rows)


def setbacks(records: Sequence[SessionRecord], engines: Sequence[str]) -> str:
    """One line per engine: the clicks that lowered the IoU by more than 0.05 (their
    total drop) and by more than 0.2, and the mean IoU after each session's last click.
    Comparable between runs only with ``--all-clicks`` (no session stops early)."""
    lines = []
    for name in engines:
        recs = [r for r in records if r.engine == name]
        drops = [
            a - b for r in recs for a, b in zip(r.ious, r.ious[1:], strict=False) if a - b > 0.05
        ]
        last = float(np.mean([r.ious[-1] for r in recs])) if recs else float("nan")
        lines.append(
            f"{name} setbacks: {len(drops)} clicks lowered the IoU by > 0.05 (total "
            f"{sum(drops):.2f}), {sum(d > 0.2 for d in drops)} by > 0.2; mean IoU after the "
            f"last click {last:.3f}"
        )
    return "\n".join(lines)


def per_sequence(records: Sequence[SessionRecord], engines: Sequence[str], max_clicks: int) -> str:
    """One line per engine: mean NoC@90 of each sequence, easiest first."""
    from workers.evaluation import noc

    lines = []
    for name in engines:
        by_seq: dict[str, list[int]] = {}
        for r in records:
            if r.engine == name:
                by_seq.setdefault(r.frame.split("/")[0], []).append(noc(r.ious, 0.9, max_clicks))
        means = sorted((float(np.mean(v)), seq) for seq, v in by_seq.items())
        lines.append(f"{name} NoC@90 per sequence: " + ", ".join(f"{s} {m:.1f}" for m, s in means))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", type=int, default=10, help="every N-th frame (10)")
    parser.add_argument("--limit", type=int, default=None, help="at most N frames")
    parser.add_argument(
        "--exclude-step",
        type=int,
        default=None,
        metavar="K",
        help="leave out every K-th frame (held-out runs: --step 10 --exclude-step 20)",
    )
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma separated")
    parser.add_argument("--procs", type=int, default=2, help="worker processes (max 2)")
    parser.add_argument("--per-frame", action="store_true", help="print per-frame NoC@90")
    parser.add_argument(
        "--all-clicks",
        action="store_true",
        help="run every session to --max-clicks (no early stop at IoU 0.90), for setbacks",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="classical engine option (float), repeatable",
    )
    args = parser.parse_args(argv)
    options = engine_options(args.option)
    root = davis_or_none()
    if root is None:
        return 2
    frames = list_frames(root, args.step, args.limit, args.exclude_step)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    jobs = [
        (e, f, args.max_clicks, options if e == "classical" else {}, args.all_clicks)
        for e in engines
        for f in frames
    ]
    procs = max(1, min(2, args.procs))
    start = time.perf_counter()
    if procs == 1:
        records = [_work(j) for j in jobs]
    else:
        with mp.get_context("fork").Pool(procs) as pool:
            records = pool.map(_work, jobs, chunksize=1)
    print(
        f"{len(frames)} frames, step {args.step}, max {args.max_clicks} clicks, "
        f"{procs} procs, {time.perf_counter() - start:.0f} s"
    )
    if args.per_frame:
        from workers.evaluation import noc

        for r in records:
            # NoC from the exact IoUs: recomputing it from the printed (rounded) ones
            # counts 0.895 as 0.90.
            print(
                f"{r.engine:<10} {r.frame:<28} NoC@85 {noc(r.ious, 0.85, args.max_clicks):>2} "
                f"NoC@90 {noc(r.ious, 0.9, args.max_clicks):>2} "
                f"ious {' '.join(f'{v:.3f}' for v in r.ious)}"
            )
        print(per_sequence(records, engines, args.max_clicks))
    print(setbacks(records, engines))
    print(format_table(records, engines, args.max_clicks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
