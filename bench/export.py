"""Benchmark: streaming COCO export vs. a naive encode-everything-then-dump script.

Synthetic project: 640x480 images with 20 random-ellipse masks each. Every measurement
runs in a fresh subprocess so that ``ru_maxrss`` (peak RSS) belongs to that run alone;
timings come from runs without tracemalloc, tracemalloc peaks from separate runs.

Kinds of run:

* ``generate`` - draw + RLE-encode every mask, discard it (cost shared by both sides);
* ``baseline`` - draw + encode, keep a list of annotation dicts, ``json.dumps`` the list;
* ``writer``   - draw + encode lazily into ``ExportAnnotation`` records fed to the COCO
  writer (``build_writer("coco", ...)``) writing a deflated zip.

Usage: ``.venv/bin/python bench/export.py`` (prints one table; ~2 min on 2 cores).
``x base`` is CPU time relative to the baseline at the same mask count.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from formats.rle import encode_mask  # noqa: E402
from workers.export import (  # noqa: E402 - needs the path above when run as a script
    ExportAnnotation,
    ExportCategory,
    ExportImage,
    build_writer,
)

HEIGHT, WIDTH, PER_IMAGE = 480, 640, 20
CATEGORIES = [ExportCategory(i + 1, f"class{i}", "#" + f"{40 * i:02x}8040") for i in range(4)]


def masks(n_masks: int, seed: int = 0) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(image index, mask index, (480, 640) uint8 mask)`` lazily, 20 per image."""
    rng = np.random.default_rng(seed)
    canvas = np.zeros((HEIGHT, WIDTH), np.uint8)
    for k in range(n_masks):
        canvas[:] = 0
        center = (int(rng.integers(0, WIDTH)), int(rng.integers(0, HEIGHT)))
        axes = (int(rng.integers(5, 120)), int(rng.integers(5, 90)))
        cv2.ellipse(canvas, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        yield k // PER_IMAGE, k, canvas


def run_generate(n_masks: int, out_dir: Path) -> None:
    for _image, _k, mask in masks(n_masks):
        encode_mask(mask)


def run_baseline(n_masks: int, out_dir: Path) -> None:
    annotations: list[dict[str, Any]] = []
    for image, k, mask in masks(n_masks):
        rle = encode_mask(mask)
        annotations.append(
            {"id": k + 1, "image_id": image + 1, "category_id": k % 4 + 1, "segmentation": rle}
        )
    (out_dir / "baseline.json").write_text(json.dumps(annotations))


def run_writer(n_masks: int, out_dir: Path) -> None:
    with zipfile.ZipFile(out_dir / "export.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        writer = build_writer("coco", zf, CATEGORIES, include_images=False)
        current = -1
        for image, k, mask in masks(n_masks):
            if image != current:
                current = image
                writer.add_image(
                    ExportImage(
                        image + 1, image + 1, f"images/{image + 1}.jpg", WIDTH, HEIGHT, None, None
                    )
                )
            writer.add_annotation(
                ExportAnnotation(
                    k + 1,
                    image + 1,
                    k % 4 + 1,
                    encode_mask(mask),
                    "model",
                    0.9,
                    "pending",
                    None,
                    1,
                    "2024-01-01T00:00:00+00:00",
                    None,
                )
            )
        writer.close()


RUNS = {"generate": run_generate, "baseline": run_baseline, "writer": run_writer}


def child(kind: str, n_masks: int, trace: bool) -> dict[str, Any]:
    """Body of one subprocess: run once, report seconds, RSS and (if traced) Python peak."""
    with tempfile.TemporaryDirectory() as tmp:
        start = resource.getrusage(resource.RUSAGE_SELF)
        start_rss_kib = start.ru_maxrss
        if trace:
            tracemalloc.start()
        t0 = time.perf_counter()
        RUNS[kind](n_masks, Path(tmp))
        seconds = time.perf_counter() - t0
        end = resource.getrusage(resource.RUSAGE_SELF)
        peak = tracemalloc.get_traced_memory()[1] if trace else None
        output = sum(p.stat().st_size for p in Path(tmp).iterdir())
    return {
        "seconds": seconds,
        # CPU time is what the comparison uses: the 2 cores are shared, wall time is noisy.
        "cpu_seconds": end.ru_utime + end.ru_stime - start.ru_utime - start.ru_stime,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_growth_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start_rss_kib)
        / 1024,
        "tracemalloc_peak_mib": None if peak is None else peak / 2**20,
        "output_mib": output / 2**20,
    }


def measure(kind: str, n_masks: int, trace: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", kind, str(n_masks)] + (["--trace"] if trace else [])
    result = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per row (best kept)")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.trace)))
        return

    rows = []
    for n_masks in (1_000, 10_000):
        for kind in ("generate", "baseline", "writer"):
            timed = min(
                (measure(kind, n_masks, False) for _ in range(args.repeat)),
                key=lambda r: r["cpu_seconds"],
            )
            traced = measure(kind, n_masks, True)
            rows.append((kind, n_masks, timed, traced["tracemalloc_peak_mib"]))

    print(
        f"{'run':<9} {'masks':>6} {'wall s':>7} {'cpu s':>6} {'x base':>6} {'maxrss MiB':>10} "
        f"{'rss growth':>10} {'py peak MiB':>11} {'out MiB':>7}"
    )
    base = {n: r["cpu_seconds"] for kind, n, r, _ in rows if kind == "baseline"}
    for kind, n_masks, r, peak in rows:
        print(
            f"{kind:<9} {n_masks:>6} {r['seconds']:>7.2f} {r['cpu_seconds']:>6.2f} "
            f"{r['cpu_seconds'] / base[n_masks]:>6.2f} {r['maxrss_mib']:>10.1f} "
            f"{r['rss_growth_mib']:>10.1f} {peak:>11.2f} {r['output_mib']:>7.2f}"
        )


if __name__ == "__main__":
    main()
