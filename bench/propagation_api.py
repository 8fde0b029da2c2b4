"""Video propagation through the public API, as an outside harness drives it: upload a
zip of a sequence's frames, post frame 0's true mask, propagate forward, read the
track's propagated annotations back, and score them with the DAVIS semi-supervised
protocol (J = mean IoU over frames 1..N-1). The first-mask-copy baseline is scored in
the same run; ``bench/propagation.py`` measures the algorithm alone with both baselines.

    .venv/bin/python -m bench.propagation_api                         # DAVIS, own stack
    .venv/bin/python -m bench.propagation_api --sequences cows,dog --max-frames 40
    .venv/bin/python -m bench.propagation_api --url http://host:8000 --token T
    .venv/bin/python -m bench.propagation_api --mp4     # each sequence as an H.264 mp4

``--root``: a DAVIS-layout folder (``JPEGImages/480p/<seq>/*.jpg`` and
``Annotations/480p/<seq>/*.png``); by default ``$SEG_BENCH_DATA/davis`` or
``../shared/data/davis``.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
import zipfile
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
from bench.stack import Client, Stack


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def sequences(root: Path, names: list[str] | None) -> list[str]:
    found = sorted(p.name for p in (root / "JPEGImages" / "480p").iterdir() if p.is_dir())
    return [n for n in found if not names or n in names]


def frames_zip(paths: list[Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for path in paths:
            archive.write(path, path.name)
    return buffer.getvalue()


def frames_mp4(paths: list[Path], fps: int = 24) -> bytes:
    """The frames as an H.264 mp4 (libx264, yuv420p, B-frames: what a camera or an
    editor writes), as a user would upload a video rather than its frames."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        first = Image.open(paths[0])
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = first.size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18"}
        for path in paths:
            frame = av.VideoFrame.from_image(Image.open(path).convert("RGB"))
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def wait_ready(client: Client, asset_id: int, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, asset = client.request("GET", f"/api/assets/{asset_id}/")
        if asset["status"] != "processing":
            return dict(asset)
        time.sleep(0.1)
    raise TimeoutError(f"asset {asset_id} still processing")


def read_track(client: Client, asset_id: int, track: int) -> dict[int, np.ndarray]:
    masks: dict[int, np.ndarray] = {}
    path: str | None = (
        f"/api/assets/{asset_id}/annotations/?track={track}&source=propagated&page_size=500"
    )
    while path:
        _, page = client.request("GET", path)
        for row in page["results"]:
            rle = row["mask"]
            masks[row["frame"]] = mask_utils.decode(
                {"size": rle["size"], "counts": rle["counts"].encode()}
            ).astype(bool)
        nxt = page.get("next")
        path = urlparse(nxt)._replace(scheme="", netloc="").geturl() if nxt else None
    return masks


def run_sequence(
    client: Client,
    project: int,
    label: int,
    root: Path,
    name: str,
    max_frames: int | None,
    mp4: bool = False,
) -> dict[str, Any]:
    images = sorted((root / "JPEGImages" / "480p" / name).glob("*.jpg"))[:max_frames]
    truths = [
        np.asarray(Image.open(root / "Annotations" / "480p" / name / f"{p.stem}.png").convert("L"))
        > 0
        for p in images
    ]
    upload = (f"{name}.mp4", frames_mp4(images)) if mp4 else (f"{name}.zip", frames_zip(images))
    started = time.perf_counter()
    asset = client.upload(project, *upload)
    asset = wait_ready(client, asset["id"])
    ingest_s = time.perf_counter() - started
    if asset["status"] != "ready" or asset["num_frames"] != len(images):
        raise RuntimeError(f"{name}: ingestion ended {asset['status']} {asset.get('error')}")
    status, first = client.request(
        "POST",
        f"/api/assets/{asset['id']}/annotations/",
        {"frame": 0, "label": label, "mask": encode(truths[0])},
    )
    if status != 201:
        raise RuntimeError(f"{name}: annotation refused: {status} {first}")
    started = time.perf_counter()
    status, body = client.request(
        "POST",
        f"/api/assets/{asset['id']}/propagate/",
        {"annotation": first["id"], "direction": "forward"},
    )
    if status != 202:
        raise RuntimeError(f"{name}: propagate refused: {status} {body}")
    job = client.wait_job(body["job"], timeout=3600)
    propagate_s = time.perf_counter() - started
    if job["status"] != "done":
        raise RuntimeError(f"{name}: propagation {job['status']}: {job['error']}")
    masks = read_track(client, asset["id"], first["track"])
    later = range(1, len(images))
    j = statistics.fmean(iou(masks.get(i, np.zeros_like(truths[i])), truths[i]) for i in later)
    copy = statistics.fmean(iou(truths[0], truths[i]) for i in later)
    return {
        "sequence": name,
        "frames": len(images),
        "J": j,
        "J_copy": copy,
        "returned": sum(i in masks for i in later),
        "needs_review": job["result"]["needs_review"],
        "job_fps": job["result"]["fps"],
        "end_to_end_fps": (len(images) - 1) / propagate_s,
        "ingest_s": ingest_s,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", help="a running server; without it a stack is started")
    parser.add_argument("--token")
    parser.add_argument("--root", type=Path, help="DAVIS-layout folder")
    parser.add_argument("--sequences", help="comma-separated names (default: all)")
    parser.add_argument("--max-frames", type=int)
    parser.add_argument(
        "--mp4", action="store_true", help="upload each sequence as an H.264 mp4, not a zip"
    )
    args = parser.parse_args(argv)
    root = args.root or davis_root()
    names = sequences(root, args.sequences.split(",") if args.sequences else None)
    rows = []
    with ExitStack() as stack:
        if args.url:
            parsed = urlparse(args.url)
            client = Client(parsed.hostname or "127.0.0.1", parsed.port or 80)
            client.token = args.token
            _, body = client.request(
                "POST", "/api/projects/", {"name": "propagation", "labels": [{"name": "obj"}]}
            )
            project = int(body["id"])
        else:
            client, project = stack.enter_context(Stack())
        _, labels = client.request("GET", f"/api/projects/{project}/labels/")
        label = int((labels["results"] if isinstance(labels, dict) else labels)[0]["id"])
        for name in names:
            rows.append(run_sequence(client, project, label, root, name, args.max_frames, args.mp4))
            row = rows[-1]
            print(
                f"{name:20s} {row['frames']:4d} frames  J {row['J']:.3f}  copy {row['J_copy']:.3f}"
                f"  flagged {row['needs_review']:3d}  job {row['job_fps']:.1f} f/s"
                f"  end-to-end {row['end_to_end_fps']:.1f} f/s  ingest {row['ingest_s']:.1f} s",
                flush=True,
            )
    print(
        f"mean J {statistics.fmean(r['J'] for r in rows):.3f} (copy "
        f"{statistics.fmean(r['J_copy'] for r in rows):.3f}); median job f/s "
        f"{statistics.median(r['job_fps'] for r in rows):.1f}, end-to-end "
        f"{statistics.median(r['end_to_end_fps'] for r in rows):.1f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
