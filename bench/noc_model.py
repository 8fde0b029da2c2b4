"""NoC of the classical engine with the project model's prior against the engine alone.

Usage (from the repository root)::

    .venv/bin/python -m bench.noc_model                     # both halves
    .venv/bin/python -m bench.noc_model --half tune --per-frame
    .venv/bin/python -m bench.noc_model --sequences dog --prior synthetic
    .venv/bin/python -m bench.noc_model --option model_weight=1.5

Protocol (issue 17, "later frames of a project take fewer clicks"): per DAVIS sequence,
every ``--step``-th annotated frame is the pool; the project model
(``workers.learning``: multi-scale filter features and a pixel classifier) is trained on
the true masks of ``--train`` pool frames spread over the sequence (first, last and
evenly between) and the other pool frames are segmented interactively, each twice with
the same prepared state and the same click simulator (``bench.noc``,
``workers.evaluation``): by the engine alone, and with the model's probability map as
``Prompts.prior``. Halves as in ``bench.propagation``: tune on ``tune``, report
``check`` apart. ``--prior flipped`` (the model's map upside down and mirrored: a
wrong prior), ``--prior synthetic`` (the true mask blurred, with noise and false
blobs) and ``--prior flat`` (0.5 everywhere) exercise the engine without the model.
Data: ``${SEG_BENCH_DATA:-../shared/data}/davis``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from bench.noc import Frame, davis_or_none, engine_options, list_frames, load_frame
from bench.propagation import HALVES
from workers.engines.base import Click, Prompts
from workers.engines.classical import ClassicalEngine
from workers.evaluation import PredictFn, noc, simulate, summarize

PRIORS = ("model", "flipped", "synthetic", "flat")


@dataclass
class SeqResult:
    """Per-frame IoU curves and per-click seconds of one sequence, both arms."""

    seq: str
    frames: list[str] = field(default_factory=list)
    alone: list[list[float]] = field(default_factory=list)
    with_prior: list[list[float]] = field(default_factory=list)
    alone_s: list[float] = field(default_factory=list)
    prior_s: list[float] = field(default_factory=list)
    model_s: float = 0.0  # features + training + prediction for the whole sequence


def train_indices(n: int, k: int) -> list[int]:
    """``k`` pool positions spread over ``n`` (first, last and evenly between)."""
    if n <= k:
        return list(range(n))
    return sorted({int(round(v)) for v in np.linspace(0, n - 1, k)})


def synthetic_prior(gt: np.ndarray, seed: int) -> np.ndarray:
    """A plausible, imperfect model map: the true mask blurred (soft, shifted edges),
    scaled into [0.1, 0.85], noise, and two false-positive blobs."""
    rng = np.random.default_rng(seed)
    h, w = gt.shape
    soft = cv2.GaussianBlur(gt.astype(np.float32), (0, 0), 8.0)
    prior = 0.1 + 0.75 * soft + rng.normal(0.0, 0.1, (h, w)).astype(np.float32)
    for _ in range(2):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.03, 0.08) * w
        blob = np.zeros((h, w), np.float32)
        cv2.circle(blob, (int(cx), int(cy)), int(r), 0.6, -1)
        prior = np.maximum(prior, cv2.GaussianBlur(blob, (0, 0), r / 3))
    return np.clip(prior, 0.0, 1.0).astype(np.float32)


def model_priors(
    train: list[tuple[np.ndarray, np.ndarray]], images: list[np.ndarray]
) -> list[np.ndarray]:
    """The project model trained on ``train`` (image, true mask) pairs; its
    ``(H, W) float32`` foreground probability on each of ``images``."""
    from workers.learning import classifier, features, proposals

    frames = []
    for image, gt in train:
        feats = features.frame_features(image)
        targets = classifier.targets_from_masks(gt.shape, [(gt, 1)])
        frames.append(classifier.TrainingFrame(features=feats, targets=targets))
    model = classifier.train(frames, classes=[1], seed=0)
    out = []
    for image in images:
        proba = model.predict_proba(features.frame_features(image))
        full = classifier.upsample_proba(proba, image.shape[0], image.shape[1])
        out.append(np.asarray(proposals.prior_for(full, 1), dtype=np.float32))
    return out


def predict_fn(engine: ClassicalEngine, state: Any, prior: np.ndarray | None) -> PredictFn:
    """The simulator's ``predict(clicks, prev_mask)`` for ``engine`` with ``prior``."""

    def predict(clicks: list[Click], prev: np.ndarray | None) -> np.ndarray:
        return engine.predict(state, Prompts(clicks=list(clicks), mask=prev, prior=prior)).mask

    return predict


def run_sequence(
    args: tuple[str, list[Frame], int, str, dict[str, Any], int, bool],
) -> SeqResult:
    seq, pool, n_train, prior_kind, options, max_clicks, baseline = args
    engine = ClassicalEngine(**options)
    loaded = [load_frame(f) for f in pool]
    picks = train_indices(len(pool), n_train)
    rest = [i for i in range(len(pool)) if i not in picks]
    result = SeqResult(seq)
    start = time.perf_counter()
    if prior_kind in ("model", "flipped"):
        priors = model_priors([loaded[i] for i in picks], [loaded[i][0] for i in rest])
        if prior_kind == "flipped":  # a wrong map: the model's, upside down and mirrored
            priors = [np.ascontiguousarray(p[::-1, ::-1]) for p in priors]
    elif prior_kind == "synthetic":
        priors = [synthetic_prior(loaded[i][1], seed=i) for i in rest]
    else:
        priors = [np.full(loaded[i][1].shape, 0.5, np.float32) for i in rest]
    result.model_s = time.perf_counter() - start
    for i, prior in zip(rest, priors, strict=True):
        image, gt = loaded[i]
        state = engine.prepare(image)
        for arm, p in (("alone", None), ("prior", prior)):
            if arm == "alone" and not baseline:
                result.alone.append([0.0])
                result.alone_s.append(0.0)
                continue
            res = simulate(gt, predict_fn(engine, state, p), max_clicks=max_clicks, stop_iou=0.9)
            if arm == "alone":
                result.alone.append(res.ious)
                result.alone_s.extend(res.predict_s)
            else:
                result.with_prior.append(res.ious)
                result.prior_s.extend(res.predict_s)
        result.frames.append(f"{seq}/{Path(pool[i].mask_path).stem}")
    return result


def table(results: Sequence[SeqResult], max_clicks: int, prior_kind: str) -> str:
    header = (
        "| half  | arm               | frames | NoC@85 | NoC@90 | never90 | mIoU@1 | mIoU@3 "
        "| mIoU@5 | p50 ms | p90 ms |"
    )
    rows = [header, "|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|"]
    ratios = []
    for half in ("tune", "check", "all"):
        recs = [r for r in results if half == "all" or r.seq in HALVES[half]]
        if not recs:
            continue
        noc90 = {}
        for arm in ("alone", "prior"):
            curves = [c for r in recs for c in (r.alone if arm == "alone" else r.with_prior)]
            times = np.array(
                [t for r in recs for t in (r.alone_s if arm == "alone" else r.prior_s)]
            )
            s = summarize(curves, max_clicks=max_clicks)
            noc90[arm] = s["noc@90"]
            name = "engine alone" if arm == "alone" else f"+ {prior_kind} prior"
            rows.append(
                f"| {half:<5} | {name:<17} | {len(curves):>6} | {s['noc@85']:>6.2f} "
                f"| {s['noc@90']:>6.2f} | {int(s['never@90']):>7} | {s['miou@1']:>6.3f} "
                f"| {s['miou@3']:>6.3f} | {s['miou@5']:>6.3f} | {np.median(times) * 1e3:>6.0f} "
                f"| {np.percentile(times, 90) * 1e3:>6.0f} |"
            )
        ratio = noc90["prior"] / max(noc90["alone"], 1e-9)
        pairs = [
            (noc(a, 0.9, max_clicks), noc(b, 0.9, max_clicks))
            for r in recs
            for a, b in zip(r.alone, r.with_prior, strict=True)
            if max(a + b) >= 0.9
        ]
        line = f"{half} {ratio:.3f}"
        if pairs:
            # Frames neither arm takes to 0.90 in max_clicks count max_clicks in both
            # and cap the ratio; the same ratio without them:
            alone, prior = np.mean(pairs, axis=0)
            line += (
                f" (on the {len(pairs)} frames either arm takes to 0.90: "
                f"{alone:.2f} -> {prior:.2f}, {prior / alone:.3f})"
            )
        ratios.append(line)
    return "\n".join(rows) + "\n\nNoC@90 with / without prior: " + "; ".join(ratios)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--half", choices=("tune", "check", "all"), default="all")
    parser.add_argument("--sequences", default="", help="comma separated (overrides --half)")
    parser.add_argument("--step", type=int, default=10, help="pool: every N-th frame (10)")
    parser.add_argument("--train", type=int, default=3, help="pool frames the model learns from")
    parser.add_argument("--max-clicks", type=int, default=20)
    parser.add_argument("--prior", choices=PRIORS, default="model")
    parser.add_argument("--procs", type=int, default=1, help="worker processes (max 2)")
    parser.add_argument("--per-frame", action="store_true", help="print per-frame NoC@90")
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="skip the engine-alone sessions (quick tuning runs; its rows are then void)",
    )
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="engine option"
    )
    args = parser.parse_args(argv)
    root = davis_or_none()
    if root is None:
        return 2
    if args.sequences:
        seqs = [s.strip() for s in args.sequences.split(",") if s.strip()]
    elif args.half == "all":
        seqs = [*HALVES["tune"], *HALVES["check"]]
    else:
        seqs = list(HALVES[args.half])
    frames = list_frames(root, args.step)
    options: dict[str, Any] = engine_options(args.option)
    jobs = [
        (
            s,
            [f for f in frames if f.seq == s],
            args.train,
            args.prior,
            options,
            args.max_clicks,
            not args.no_baseline,
        )
        for s in seqs
    ]
    start = time.perf_counter()
    procs = max(1, min(2, args.procs))
    if procs == 1:
        results = [run_sequence(j) for j in jobs]
    else:
        with mp.get_context("fork").Pool(procs) as pool:
            results = pool.map(run_sequence, jobs, chunksize=1)
    print(
        f"{sum(len(r.frames) for r in results)} frames of {len(results)} sequences, step "
        f"{args.step}, model on {args.train} frames each, prior {args.prior}, "
        f"{time.perf_counter() - start:.0f} s; model (features, training, prediction) "
        f"{np.mean([r.model_s for r in results]):.1f} s per sequence",
        file=sys.stderr,
    )
    if args.per_frame:
        for r in results:
            for name, a, b in zip(r.frames, r.alone, r.with_prior, strict=True):
                print(
                    f"{name:<26} NoC@90 alone {noc(a, 0.9, args.max_clicks):>2} "
                    f"prior {noc(b, 0.9, args.max_clicks):>2}  IoU@1 {a[0]:.3f} -> {b[0]:.3f}"
                )
    print(table(results, args.max_clicks, args.prior))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
