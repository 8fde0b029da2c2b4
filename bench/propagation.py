"""Video mask propagation on DAVIS (semi-supervised protocol), with two baselines.

Usage (from the repository root)::

    .venv/bin/python -m bench.propagation                        # all sequences
    .venv/bin/python -m bench.propagation --half tune            # the 5 tuning sequences
    .venv/bin/python -m bench.propagation --sequences dog,cows --max-frames 30
    .venv/bin/python -m bench.propagation --option min_agreement=0.5 --json /tmp/p.json

Data: ``${SEG_BENCH_DATA:-../shared/data}/davis`` relative to the repository root
(``JPEGImages/480p/<seq>/NNNNN.jpg``, ``Annotations/480p/<seq>/NNNNN.png``, 0/255).
Protocol: frame 0's true mask is given, every later frame is predicted; J of a sequence
is the mean IoU over frames 1..N-1, J mean the mean over sequences. Methods, all in the
same run: ``propagate`` (:func:`workers.propagation.propagate`, weight-free default),
``copy`` (the first mask on every frame) and ``warp`` (the previous mask pulled along
DIS flow, the same preset and resolution as ``propagate``, nothing else). Frames are
decoded as a stream; frames per second count the method's own work per frame (the
JPEG decode, the same for every method, is timed apart). Confidence is judged against
the true IoU: Spearman rank correlation over all frames, and the precision and recall
of the frames flagged below the review threshold as frames with IoU < 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from scipy.stats import spearmanr

from workers.engines import build_engine
from workers.propagation import DEFAULT_REVIEW_THRESHOLD, EngineSegmenter, propagate
from workers.propagation.flow import FlowPair, finest_scale, grey
from workers.propagation.segmenter import resize_mask, work_size

REPO_ROOT = Path(__file__).resolve().parent.parent
METHODS = ("propagate", "copy", "warp")
#: Two halves of the 10 sequences: one to tune on, one to check the gain holds.
HALVES = {
    "tune": ("blackswan", "breakdance", "cows", "drift-straight", "libby"),
    "check": ("bmx-trees", "car-roundabout", "dog", "horsejump-high", "paragliding-launch"),
}


def davis_root() -> Path:
    base = Path(os.environ.get("SEG_BENCH_DATA", "../shared/data"))
    if not base.is_absolute():
        base = REPO_ROOT / base
    return base / "davis"


def list_sequences(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "Annotations" / "480p").iterdir() if p.is_dir())


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_mask(path: Path) -> np.ndarray:
    grey_mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if grey_mask is None:
        raise ValueError(f"cannot read {path}")
    return grey_mask > 127


@dataclass
class Sequence_:
    name: str
    images: list[Path]
    masks: list[Path]

    @classmethod
    def load(cls, root: Path, name: str, max_frames: int | None) -> Sequence_:
        images = sorted((root / "JPEGImages" / "480p" / name).glob("*.jpg"))
        masks = sorted((root / "Annotations" / "480p" / name).glob("*.png"))
        if not images or len(images) != len(masks):
            raise ValueError(f"{name}: {len(images)} frames but {len(masks)} masks")
        if max_frames:
            images, masks = images[:max_frames], masks[:max_frames]
        return cls(name, images, masks)


@dataclass
class Timer:
    """Seconds spent decoding frames, to subtract from a method's wall time."""

    decode: float = 0.0

    def frames(self, paths: Sequence[Path]) -> Iterator[tuple[int, np.ndarray]]:
        for i, path in enumerate(paths):
            start = time.perf_counter()
            image = read_rgb(path)
            self.decode += time.perf_counter() - start
            yield i, image


@dataclass
class Run:
    """One method on one sequence: IoU and confidence per predicted frame, seconds."""

    method: str
    sequence: str
    ious: list[float] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    seconds: float = 0.0
    decode_seconds: float = 0.0

    @property
    def j(self) -> float:
        return float(np.mean(self.ious)) if self.ious else float("nan")

    @property
    def fps(self) -> float:
        return len(self.ious) / self.seconds if self.seconds > 0 else float("nan")


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    union = int(np.count_nonzero(pred | truth))
    return int(np.count_nonzero(pred & truth)) / union if union else 1.0


Method = Callable[
    [Iterator[tuple[int, np.ndarray]], np.ndarray], Iterator[tuple[np.ndarray, float]]
]


def method_propagate(options: dict[str, Any], engine: str | None = None) -> Method:
    """:func:`propagate` with its default segmenter, or with ``engine`` (a name of
    ``workers.engines``, every frame prepared on the spot) through
    :class:`~workers.propagation.EngineSegmenter`."""

    def run(
        frames: Iterator[tuple[int, np.ndarray]], mask: np.ndarray
    ) -> Iterator[tuple[np.ndarray, float]]:
        segmenter = EngineSegmenter(build_engine(engine)) if engine else None
        for result in propagate(frames, mask, segmenter=segmenter, **options):
            yield result.mask, result.confidence

    return run


def method_copy(
    frames: Iterator[tuple[int, np.ndarray]], mask: np.ndarray
) -> Iterator[tuple[np.ndarray, float]]:
    next(frames)
    for _ in frames:
        yield mask, 1.0


def method_warp(options: dict[str, Any]) -> Method:
    """Plain flow warping of the previous mask at ``propagate``'s flow settings."""
    scale = options.get("flow_scale")
    preset = str(options.get("flow_preset", "ultrafast"))
    finest = options.get("flow_finest_scale")

    def run(
        frames: Iterator[tuple[int, np.ndarray]], mask: np.ndarray
    ) -> Iterator[tuple[np.ndarray, float]]:
        _, first = next(frames)
        size = work_size(first.shape, None if scale is None else float(scale))
        level = finest_scale(size[0], preset) if finest is None else int(finest)
        flow = FlowPair(preset, level)
        full = (first.shape[1], first.shape[0])
        prev_grey, prev = grey(first, size), resize_mask(mask, size)
        for _, image in frames:
            cur = grey(image, size)
            backward = flow.one_way(cur, prev_grey)
            prev = flow.warp(prev.astype(np.float32), backward) >= 0.5
            prev_grey = cur
            yield resize_mask(prev, full), 1.0

    return run


def run_method(name: str, method: Method, seq: Sequence_) -> Run:
    timer = Timer()
    run = Run(name, seq.name)
    first = read_mask(seq.masks[0])
    start = time.perf_counter()
    for k, (pred, conf) in enumerate(method(timer.frames(seq.images), first), start=1):
        # Reading the truth happens outside the method's time.
        pause = time.perf_counter()
        run.ious.append(iou(pred, read_mask(seq.masks[k])))
        run.confidences.append(float(conf))
        start += time.perf_counter() - pause
    run.seconds = time.perf_counter() - start - timer.decode
    run.decode_seconds = timer.decode
    return run


def confidence_report(runs: Sequence[Run], threshold: float) -> dict[str, float]:
    ious = np.array([v for r in runs for v in r.ious])
    conf = np.array([v for r in runs for v in r.confidences])
    flagged = conf < threshold
    bad = ious < 0.5
    rho = (
        float(spearmanr(conf, ious).statistic) if len(ious) > 2 and conf.std() > 0 else float("nan")
    )
    return {
        "spearman": rho,
        "flagged": int(flagged.sum()),
        "bad": int(bad.sum()),
        "frames": len(ious),
        "precision": float((flagged & bad).sum() / flagged.sum())
        if flagged.any()
        else float("nan"),
        "recall": float((flagged & bad).sum() / bad.sum()) if bad.any() else float("nan"),
    }


def summary(runs: Sequence[Run], sequences: Sequence[str], methods: Sequence[str]) -> str:
    lines = [f"{'sequence':<20}" + "".join(f"{m:>11}" for m in methods) + f"{'frames':>8}"]
    by = {(r.method, r.sequence): r for r in runs}
    for seq in sequences:
        row = "".join(f"{by[(m, seq)].j:>11.3f}" for m in methods)
        lines.append(f"{seq:<20}{row}{len(by[(methods[0], seq)].ious):>8}")
    for half, names in (("J mean", sequences), *((f"J {h}", HALVES[h]) for h in HALVES)):
        chosen = [n for n in names if n in sequences]
        if not chosen or (half != "J mean" and len(chosen) == len(sequences)):
            continue
        row = "".join(f"{np.mean([by[(m, s)].j for s in chosen]):>11.3f}" for m in methods)
        lines.append(f"{half:<20}{row}{len(chosen):>8}")
    fps = "".join(f"{np.median([by[(m, s)].fps for s in sequences]):>11.1f}" for m in methods)
    lines.append(f"{'fps (median seq)':<20}{fps}")
    decode = np.median(
        [
            by[(methods[0], s)].decode_seconds / max(len(by[(methods[0], s)].ious), 1)
            for s in sequences
        ]
    )
    lines.append(f"decode: {1000 * decode:.1f} ms/frame (not counted above)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sequences", help="comma-separated names (default: all)")
    parser.add_argument("--half", choices=sorted(HALVES), help="one of the two fixed halves")
    parser.add_argument("--max-frames", type=int, help="first N frames of each sequence")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    parser.add_argument("--option", action="append", default=[], help="propagate key=value")
    parser.add_argument("--engine", help="segment with this engine (e.g. classical) instead")
    parser.add_argument("--threshold", type=float, default=DEFAULT_REVIEW_THRESHOLD)
    parser.add_argument("--json", type=Path, help="write per-frame results here")
    args = parser.parse_args(argv)
    root = davis_root()
    if not root.is_dir():
        print(f"no DAVIS data at {root}", file=sys.stderr)
        return 2
    names = list_sequences(root)
    if args.half:
        names = [n for n in names if n in HALVES[args.half]]
    if args.sequences:
        wanted = args.sequences.split(",")
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            parser.error(f"unknown sequences: {', '.join(unknown)}")
        names = [n for n in names if n in wanted]
    options = {k: parse_number(v) for k, v in (pair.split("=", 1) for pair in args.option)}
    methods = args.methods.split(",")
    builders: dict[str, Method] = {
        "propagate": method_propagate(options, args.engine),
        "copy": method_copy,
        "warp": method_warp(options),
    }
    runs: list[Run] = []
    for name in names:
        seq = Sequence_.load(root, name, args.max_frames)
        for method in methods:
            runs.append(run_method(method, builders[method], seq))
        print(
            f"{name}: "
            + ", ".join(f"{r.method} J={r.j:.3f} {r.fps:.1f} fps" for r in runs[-len(methods) :]),
            file=sys.stderr,
        )
    print(summary(runs, names, methods))
    ours = [r for r in runs if r.method == "propagate"]
    report = confidence_report(ours, args.threshold)
    if ours:
        groups = [("all", ours)] + [
            (half, [r for r in ours if r.sequence in HALVES[half]]) for half in HALVES
        ]
        for label, group in groups:
            if not group or (label != "all" and len(group) == len(ours)):
                continue
            rep = confidence_report(group, args.threshold)
            print(
                f"confidence vs IoU ({label}): spearman {rep['spearman']:.3f}; "
                f"flagged < {args.threshold}: {rep['flagged']}/{rep['frames']} frames, "
                f"precision {rep['precision']:.2f} recall {rep['recall']:.2f} "
                f"for IoU < 0.5 ({rep['bad']} such frames)"
            )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"options": options, "confidence": report, "runs": [asdict(r) for r in runs]},
                indent=1,
            )
        )
    return 0


def parse_number(text: str) -> Any:
    """A ``--option key=value`` value: an int, a float, or the text as given."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


if __name__ == "__main__":
    raise SystemExit(main())
