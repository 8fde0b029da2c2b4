"""The learning loop through the public API, as an outside harness drives it.

Per DAVIS sequence and strategy, a fresh project holds every 10th frame as an image
upload (the pool). Then, for each of ``--labels`` rounds: ``queue/next?strategy=``
hands a frame, the simulated annotator posts its true mask and ``complete``s the item,
``model/train`` trains a version, ``proposals`` writes the model's masks on the frames
without annotations, and those are read back and scored (mIoU over the unlabelled pool
frames, a frame without a proposal counting as an empty mask). Random (``--seeds``
projects) and ``combined`` (the default) run in the same invocation, so the table holds
the baseline beside the strategy; ``bench/active_learning.py`` measures the algorithm
alone with every strategy.

    .venv/bin/python -m bench.active_learning_api                       # all sequences
    .venv/bin/python -m bench.active_learning_api --sequences dog,cows --labels 3
    .venv/bin/python -m bench.active_learning_api --url http://host:8000 --token T
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from bench.noc import davis_root
from bench.noc_api import encode
from bench.propagation_api import iou, sequences
from bench.stack import Client, Stack


def pool_of(root: Path, name: str, step: int) -> list[tuple[Path, np.ndarray]]:
    images = sorted((root / "JPEGImages" / "480p" / name).glob("*.jpg"))[::step]
    return [
        (
            path,
            np.asarray(
                Image.open(root / "Annotations" / "480p" / name / f"{path.stem}.png").convert("L")
            )
            > 0,
        )
        for path in images
    ]


def _ok(status: int, body: Any, expected: int, what: str) -> Any:
    if status != expected:
        raise RuntimeError(f"{what}: {status} {body}")
    return body


def _generated(client: Client, asset_id: int, shape: tuple[int, int]) -> np.ndarray:
    _, body = client.request("GET", f"/api/assets/{asset_id}/annotations/?source=generated")
    rows = body["results"] if isinstance(body, dict) else body
    mask = np.zeros(shape, bool)
    for row in rows:
        rle = dict(row["mask"])
        rle["counts"] = rle["counts"].encode()
        mask |= mask_utils.decode(rle).astype(bool)
    return mask


def run_project(
    client: Client, name: str, pool: list[tuple[Path, np.ndarray]], strategy: str, labels: int
) -> dict[str, Any]:
    """One project, one strategy: the mIoU of the proposals after each label, and the
    seconds of train + propose each round."""
    project = _ok(
        *client.request(
            "POST", "/api/projects/", {"name": f"{name}-{strategy}", "labels": [{"name": "obj"}]}
        ),
        201,
        "project",
    )
    label = int(project["labels"][0]["id"])
    assets = []
    for path, _ in pool:
        buffer = io.BytesIO(path.read_bytes())
        assets.append(int(client.upload(int(project["id"]), path.name, buffer.getvalue())["id"]))
    by_asset = dict(zip(assets, pool, strict=True))
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # thumbnails make images ready
        _, listing = client.request("GET", f"/api/projects/{project['id']}/assets/?page_size=500")
        rows = listing["results"] if isinstance(listing, dict) else listing
        if all(row["status"] == "ready" for row in rows):
            break
        time.sleep(0.2)
    labelled: set[int] = set()
    curve, seconds, picks = [], [], []
    for _ in range(labels):
        status, item = client.request(
            "GET", f"/api/projects/{project['id']}/queue/next/?strategy={strategy}"
        )
        if status == 204:
            break
        item = _ok(status, item, 200, "queue/next")
        asset = int(item["asset"])
        truth = by_asset[asset][1]
        _ok(
            *client.request(
                "POST",
                f"/api/assets/{asset}/annotations/",
                {"frame": 0, "label": label, "mask": encode(truth)},
            ),
            201,
            "annotation",
        )
        _ok(*client.request("POST", f"/api/queue/{item['item']}/complete/"), 200, "complete")
        labelled.add(asset)
        picks.append(by_asset[asset][0].stem)
        started = time.perf_counter()
        job = _ok(
            *client.request("POST", f"/api/projects/{project['id']}/model/train/"), 202, "train"
        )
        done = client.wait_job(job["job"], timeout=1800)
        if done["status"] != "done":
            raise RuntimeError(f"train {done['status']}: {done['error']}")
        job = _ok(
            *client.request("POST", f"/api/projects/{project['id']}/proposals/", {}),
            202,
            "proposals",
        )
        done = client.wait_job(job["job"], timeout=1800)
        if done["status"] != "done":
            raise RuntimeError(f"proposals {done['status']}: {done['error']}")
        seconds.append(time.perf_counter() - started)
        scores = [
            iou(_generated(client, a, truth.shape), truth)
            for a, (_, truth) in by_asset.items()
            if a not in labelled
        ]
        curve.append(statistics.fmean(scores) if scores else float("nan"))
    return {"curve": curve, "seconds": seconds, "picks": picks}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running server; without it a stack is started")
    parser.add_argument("--token")
    parser.add_argument("--root", type=Path, help="DAVIS-layout folder")
    parser.add_argument("--sequences", help="comma-separated names (default: all)")
    parser.add_argument("--labels", type=int, default=5)
    parser.add_argument("--step", type=int, default=10, help="every n-th frame is the pool")
    parser.add_argument("--seeds", type=int, default=3, help="random projects per sequence")
    parser.add_argument("--strategies", default="combined", help="besides random")
    args = parser.parse_args(argv)
    root = args.root or davis_root()
    names = sequences(root, args.sequences.split(",") if args.sequences else None)
    strategies = [s for s in args.strategies.split(",") if s]
    table: dict[str, list[list[float]]] = {s: [] for s in [*strategies, "random"]}
    times: list[float] = []
    with ExitStack() as stack:
        if args.url:
            parsed = urlparse(args.url)
            client = Client(parsed.hostname or "127.0.0.1", parsed.port or 80)
            client.token = args.token
        else:
            client, _ = stack.enter_context(Stack())
        for name in names:
            pool = pool_of(root, name, args.step)
            runs = [(s, s) for s in strategies] + [("random", "random") for _ in range(args.seeds)]
            for key, strategy in runs:
                result = run_project(client, name, pool, strategy, args.labels)
                table[key].append(result["curve"])
                times.extend(result["seconds"])
                curve = " ".join(f"{v:.3f}" for v in result["curve"])
                print(
                    f"{name:20s} {strategy:10s} {len(pool):3d} frames  mIoU by labels: {curve}"
                    f"  picks {','.join(result['picks'])}"
                    f"  train+propose median {statistics.median(result['seconds']):.1f} s",
                    flush=True,
                )
    print(f"\nmean proposal mIoU after k labels ({len(names)} sequences)")
    print("strategy     " + " ".join(f"{k:>6d}" for k in range(1, args.labels + 1)))
    for key, curves in table.items():
        if not curves:
            continue
        # A pool labelled whole has nothing left to score (nan): left out of the mean.
        means = [
            float(np.nanmean([c[k] for c in curves if len(c) > k] or [np.nan]))
            for k in range(args.labels)
        ]
        print(f"{key:12s} " + " ".join(f"{m:6.3f}" for m in means))
    print(f"train + propose per round: median {statistics.median(times):.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
