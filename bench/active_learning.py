"""Active learning on DAVIS: proposal mIoU after each simulated label, per queue strategy.

Usage (from the repository root)::

    .venv/bin/python -m bench.active_learning                   # all sequences, 5 labels
    .venv/bin/python -m bench.active_learning --half tune --procs 2
    .venv/bin/python -m bench.active_learning --sequences cows --labels 3 --strategies combined
    .venv/bin/python -m bench.active_learning --train-option use_position=0

Data: ``${SEG_BENCH_DATA:-../shared/data}/davis`` relative to the repository root.
Protocol, per sequence: every 10th frame is the pool the queue picks from; a simulated
annotator labels each pick with its true mask. After each label (1..``--labels``) the
project model (:mod:`workers.learning`) is trained on the labelled frames and proposes
masks (refined by the classical engine) on every unlabelled frame of a 5-frame stride
(the pool's unlabelled frames and the frames half way between them, so a 5-frame pool
still leaves frames to judge after 5 labels). The figure is the mIoU of the union of a
frame's proposals against the true mask, averaged over those frames, then over
sequences. Strategies run in the same process on the same cached features: ``random``
over 3 seeds (the baseline) and every strategy of :data:`STRATEGIES`. The first pick
has no model, so the uncertainty strategies fall back to diversity (random stays
random). Also reported: the raw model (argmax mask, no refinement) beside the refined
proposals, the Spearman correlation of the proposal score with its true IoU, and the
seconds of train + propose per step (features and the engine's per-frame prepare are
cached per frame in production and timed apart).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from bench.propagation import (
    HALVES,
    davis_root,
    iou,
    list_sequences,
    parse_number,
    read_mask,
    read_rgb,
)
from workers.engines.classical import ClassicalEngine
from workers.learning.classifier import (
    PixelModel,
    TrainingFrame,
    targets_from_masks,
    train,
    upsample_proba,
)
from workers.learning.features import frame_descriptor, frame_features
from workers.learning.proposals import propose
from workers.learning.selection import STRATEGIES, frame_scores, rank

RANDOM_SEEDS = (0, 1, 2)
POOL_STEP = 10
EVAL_STEP = 5


@dataclass
class Frame:
    index: int
    image: np.ndarray
    truth: np.ndarray
    features: np.ndarray
    targets: np.ndarray
    descriptor: np.ndarray
    state: Any = None


@dataclass
class Step:
    """One model (one labelled set) judged on the unlabelled frames."""

    model: PixelModel
    refined: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def miou(self) -> float:
        return float(np.mean(self.refined)) if self.refined else float("nan")

    @property
    def raw_miou(self) -> float:
        return float(np.mean(self.raw)) if self.raw else float("nan")


class SequenceRun:
    """A sequence's frames with features and engine states cached, and one
    :class:`Step` per labelled set (strategies that agree on the labels share it)."""

    def __init__(self, name: str, train_options: dict[str, Any], refine: bool) -> None:
        root = davis_root()
        images = sorted((root / "JPEGImages" / "480p" / name).glob("*.jpg"))
        masks = sorted((root / "Annotations" / "480p" / name).glob("*.png"))
        self.name = name
        self.train_options = train_options
        self.engine = ClassicalEngine() if refine else None
        self.frames: dict[int, Frame] = {}
        self.feature_seconds = 0.0
        self.prepare_seconds = 0.0
        for i in range(0, len(images), EVAL_STEP):
            image = read_rgb(images[i])
            truth = read_mask(masks[i])
            start = time.perf_counter()
            features = frame_features(image)
            self.feature_seconds += time.perf_counter() - start
            targets = targets_from_masks(truth.shape, [(truth, 1)])
            self.frames[i] = Frame(i, image, truth, features, targets, frame_descriptor(features))
        self.pool = [i for i in self.frames if i % POOL_STEP == 0]
        self.steps: dict[frozenset[int], Step] = {}
        self.frame_scores: dict[tuple[frozenset[int], int], dict[str, float]] = {}

    def state(self, frame: Frame) -> Any:
        if self.engine is not None and frame.state is None:
            start = time.perf_counter()
            frame.state = self.engine.prepare(frame.image)
            self.prepare_seconds += time.perf_counter() - start
        return frame.state

    def step(self, labelled: Sequence[int]) -> Step:
        key = frozenset(labelled)
        if key in self.steps:
            return self.steps[key]
        for frame in self.frames.values():  # prepare outside the timed part
            self.state(frame)
        start = time.perf_counter()
        model = train(
            [TrainingFrame(self.frames[i].features, self.frames[i].targets) for i in labelled],
            [1],
            **self.train_options,
        )
        step = Step(model)
        for i, frame in self.frames.items():
            if i in key:
                continue
            h, w = frame.truth.shape
            proba = upsample_proba(model.predict_proba(frame.features), h, w)
            refined = propose(frame.image, proba, self.engine, frame.state)
            paused = time.perf_counter()
            raw = propose(frame.image, proba, None, None)
            step.refined.append(iou(_union(refined, (h, w)), frame.truth))
            step.raw.append(iou(_union(raw, (h, w)), frame.truth))
            step.scores.append(max((p.score for p in refined), default=0.0))
            start += time.perf_counter() - paused
        step.seconds = time.perf_counter() - start
        self.steps[key] = step
        return step

    def pick(self, strategy: str, labelled: list[int], seed: int) -> int:
        candidates = [i for i in self.pool if i not in labelled]
        model = self.steps[frozenset(labelled)].model if labelled else None
        needs = strategy in ("entropy", "margin", "sensitivity", "combined")
        scores = [self._scores(model if needs else None, labelled, i, seed) for i in candidates]
        ranked = rank(
            scores,
            np.stack([self.frames[i].descriptor for i in candidates]),
            np.stack([self.frames[i].descriptor for i in labelled])
            if labelled
            else np.zeros((0, len(self.frames[candidates[0]].descriptor))),
            seed=seed,
        )
        # Ties (all 0 without a model) go to diversity's order.
        best = max(
            range(len(candidates)), key=lambda k: (ranked[k][strategy], ranked[k]["diversity"])
        )
        return candidates[best]

    def _scores(
        self, model: PixelModel | None, labelled: list[int], i: int, seed: int
    ) -> dict[str, float]:
        if model is None:
            return frame_scores(None, self.frames[i].features, self.frames[i].image, seed)
        key = (frozenset(labelled), i)
        if key not in self.frame_scores:
            frame = self.frames[i]
            self.frame_scores[key] = frame_scores(model, frame.features, frame.image, seed)
        return self.frame_scores[key]


def _union(proposals: list[Any], shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, bool)
    for p in proposals:
        out |= p.mask
    return out


def run_sequence(job: tuple[str, list[str], int, dict[str, Any], bool]) -> dict[str, Any]:
    """Every strategy run on one sequence: ``{run name: [per-step dict]}`` and timings."""
    name, strategies, labels, train_options, refine = job
    seq = SequenceRun(name, train_options, refine)
    runs: dict[str, list[dict[str, Any]]] = {}
    plan = [(f"random#{s}", "random", s) for s in RANDOM_SEEDS] + [
        (s, s, 0) for s in strategies if s != "random"
    ]
    for run_name, strategy, seed in plan:
        labelled: list[int] = []
        steps = []
        for _ in range(min(labels, len(seq.pool))):
            labelled.append(seq.pick(strategy, labelled, seed))
            step = seq.step(labelled)
            steps.append(
                {
                    "miou": step.miou,
                    "raw": step.raw_miou,
                    "seconds": step.seconds,
                    "frames": len(step.refined),
                    "pairs": list(zip(step.scores, step.refined, strict=True)),
                    "picked": labelled[-1],
                }
            )
        runs[run_name] = steps
    print(
        f"{name}: pool {len(seq.pool)}, frames {len(seq.frames)}, "
        + ", ".join(f"{k} {[round(s['miou'], 3) for s in v]}" for k, v in runs.items()),
        file=sys.stderr,
        flush=True,
    )
    return {
        "name": name,
        "runs": runs,
        "frames": len(seq.frames),
        "feature_seconds": seq.feature_seconds / len(seq.frames),
        "prepare_seconds": seq.prepare_seconds / len(seq.frames),
    }


def _curve(results: list[dict[str, Any]], strategy: str, labels: int, key: str) -> list[float]:
    """Mean over sequences (random: over its seeds first) of ``key`` per label count."""
    out = []
    for k in range(labels):
        per_seq = []
        for r in results:
            names = [n for n in r["runs"] if n == strategy or n.startswith(strategy + "#")]
            values = [r["runs"][n][k][key] for n in names if len(r["runs"][n]) > k]
            if values:
                per_seq.append(float(np.mean(values)))
        out.append(float(np.mean(per_seq)) if per_seq else float("nan"))
    return out


def table(results: list[dict[str, Any]], strategies: list[str], labels: int, title: str) -> str:
    head = f"{title:<22}" + "".join(f"{k:>7}" for k in range(1, labels + 1))
    lines = [head + f"{'raw@' + str(labels):>9}{'s/step':>8}"]
    for strategy in strategies:
        curve = _curve(results, strategy, labels, "miou")
        raw = _curve(results, strategy, labels, "raw")[-1]
        secs = np.median(
            [
                s["seconds"]
                for r in results
                for n, v in r["runs"].items()
                for s in v
                if n.split("#")[0] == strategy
            ]
        )
        label = "random (3 seeds)" if strategy == "random" else strategy
        lines.append(
            f"  {label:<20}" + "".join(f"{v:>7.3f}" for v in curve) + f"{raw:>9.3f}{secs:>8.1f}"
        )
    target = _curve(results, "random", labels, "miou")[-1]
    for strategy in strategies:
        if strategy == "random":
            continue
        curve = _curve(results, strategy, labels, "miou")
        reach = next((k + 1 for k, v in enumerate(curve) if v >= target - 1e-9), None)
        lines.append(
            f"  {strategy} reaches random@{labels} ({target:.3f}) with "
            + (f"{reach} labels" if reach else f"more than {labels} labels")
        )
    pairs = [p for r in results for v in r["runs"].values() for s in v for p in s["pairs"]]
    if len(pairs) > 2:
        score, true = np.array(pairs).T
        rho = spearmanr(score, true).statistic
        lines.append(
            f"  proposal score vs true IoU: Spearman {rho:.3f} over {len(pairs)} proposals"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequences", help="comma-separated names (default: all)")
    parser.add_argument("--half", choices=[*sorted(HALVES), "all"], default="all")
    parser.add_argument("--labels", type=int, default=5, help="labels per sequence")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--procs", type=int, default=1, help="sequences in parallel")
    parser.add_argument("--no-refine", action="store_true", help="model masks only (fast)")
    parser.add_argument("--train-option", action="append", default=[], help="train key=value")
    args = parser.parse_args(argv)
    root = davis_root()
    if not root.is_dir():
        print(f"no DAVIS data at {root}", file=sys.stderr)
        return 2
    names = list_sequences(root)
    if args.half != "all":
        names = [n for n in names if n in HALVES[args.half]]
    if args.sequences:
        names = [n for n in names if n in args.sequences.split(",")]
    strategies = args.strategies.split(",")
    if "random" not in strategies:
        strategies.insert(0, "random")
    unknown = set(strategies) - set(STRATEGIES)
    if unknown:
        parser.error(f"unknown strategies: {', '.join(sorted(unknown))}")
    options: dict[str, Any] = {
        k: parse_number(v) for k, v in (p.split("=", 1) for p in args.train_option)
    }
    options.setdefault("n_jobs", 1 if args.procs > 1 else 2)
    jobs = [(n, strategies, args.labels, options, not args.no_refine) for n in names]
    start = time.perf_counter()
    if args.procs > 1:
        with mp.get_context("spawn").Pool(args.procs) as pool:
            results = pool.map(run_sequence, jobs, chunksize=1)
    else:
        results = [run_sequence(j) for j in jobs]
    print(f"proposal mIoU after n labels (options {options}, refine {not args.no_refine})")
    groups = [(h, [r for r in results if r["name"] in HALVES[h]]) for h in ("tune", "check")]
    groups = [(h, g) for h, g in groups if g]
    if len(groups) != 1:
        groups.append(("all", results))
    for half, group in groups:
        print(table(group, strategies, args.labels, f"{half} ({len(group)} seq)"))
    steps = [s for r in results for v in r["runs"].values() for s in v]
    per20 = np.median([s["seconds"] / max(s["frames"], 1) * 20 for s in steps])
    print(
        f"timing: train+propose median {np.median([s['seconds'] for s in steps]):.1f} s/step, "
        f"{per20:.1f} s per 20 proposed frames; features "
        f"{np.mean([r['feature_seconds'] for r in results]):.2f} s/frame, engine prepare "
        f"{np.mean([r['prepare_seconds'] for r in results]):.2f} s/frame (cached per frame); "
        f"wall {time.perf_counter() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
