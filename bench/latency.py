"""Click -> mask latency through the HTTP API against the same prompts run directly on
the engine in one process, and embedding throughput through the worker against a raw
``prepare`` loop. Prints one table.

    .venv/bin/python -m bench.latency [--requests 40] [--images 6]

Starts the real stack (``manage.py serve``: Redis, one Celery worker, gunicorn) in a
temporary var/; uses DATABASE_URL / REDIS_URL when set. The SAM rows use the tiny
random-weight SAM (no real checkpoint here): they measure the code path, not SAM-B.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.stack import Stack

DATA = Path(
    os.environ.get("SEG_BENCH_DATA", Path(__file__).resolve().parents[1] / "../shared/data")
)


def bench_images(count: int) -> list[bytes]:
    """854x480 JPEGs: DAVIS frames when the data is there, synthetic ones otherwise."""
    frames = sorted((DATA / "davis/JPEGImages/480p").glob("*/00000.jpg"))
    if frames:
        return [frames[i % len(frames)].read_bytes() for i in range(count)]
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        image = rng.integers(0, 255, (480, 854, 3), dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG")
        out.append(buffer.getvalue())
    return out


def click_sequences(n: int) -> list[list[dict[str, Any]]]:
    """Deterministic sessions of 1-3 clicks, the first near the image centre. No
    sequence is another's prefix plus one click, so the server never refines from a
    remembered result (which "direct" would not have): both sides compute the same."""
    rng = np.random.default_rng(1)
    sequences = []
    for i in range(n):
        clicks = [
            {
                "x": float(rng.uniform(330, 520)),
                "y": float(rng.uniform(180, 300)),
                "positive": True,
            }
        ]
        for _ in range(i % 3):
            clicks.append(
                {
                    "x": float(rng.uniform(50, 800)),
                    "y": float(rng.uniform(50, 430)),
                    "positive": bool(rng.integers(0, 2)),
                }
            )
        sequences.append(clicks)
    return sequences


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _match_worker_threads() -> None:
    """Give this process the torch threads of one worker pool process (Stack runs two),
    so "direct" and "worker" run the same kernels with the same parallelism."""
    import torch

    from workers.runtime.torch_threads import torch_threads_for

    torch.set_num_threads(
        torch_threads_for(os.cpu_count() or 1, 2, os.environ.get("TORCH_THREADS"))
    )


class DirectEngine:
    """The engine in this process, on the same image, with the worker's thread count."""

    def __init__(self, engine_name: str, image: np.ndarray, sam_checkpoint: str) -> None:
        from workers.engines import build_engine

        _match_worker_threads()
        options = (
            {"checkpoint": sam_checkpoint, "model_type": "tiny"} if engine_name == "sam" else {}
        )
        self.engine = build_engine(engine_name, **options)
        self.state = self.engine.prepare(image)

    def time_ms(self, clicks: list[dict[str, Any]]) -> float:
        from workers.engines import Click, Prompts

        prompts = Prompts(clicks=[Click(c["x"], c["y"], c["positive"]) for c in clicks])
        started = time.perf_counter()
        self.engine.predict(self.state, prompts)
        return (time.perf_counter() - started) * 1000


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--images", type=int, default=6)
    args = parser.parse_args(argv)

    from workers.engines.sam import save_tiny_checkpoint

    checkpoint = str(save_tiny_checkpoint(Path(tempfile.mkdtemp()) / "tiny.pth"))
    images = bench_images(max(1, args.images))
    image_rgb = np.asarray(Image.open(io.BytesIO(images[0])).convert("RGB"))
    sequences = click_sequences(args.requests)
    rows = []
    stack = Stack({"SAM_CHECKPOINT": checkpoint, "SAM_MODEL_TYPE": "tiny"})
    with stack as (client, project):
        asset = client.upload(project, "frame.jpg", images[0])
        _, jobs = client.request("GET", f"/api/projects/{project}/jobs/?kind=embed")
        client.wait_job(jobs["results"][0]["id"])
        for engine in ("classical", "sam"):
            path = f"/api/assets/{asset['id']}/predict/"
            direct = DirectEngine(engine, image_rgb, checkpoint)
            for clicks in sequences[:3]:  # warm-up: engine load, classical state cache
                client.request("POST", path, {"engine": engine, "clicks": clicks})
                direct.time_ms(clicks)
            api_ms, worker_ms, direct_ms = [], [], []
            # Interleaved, so both sides see the same machine (other load, clock): the
            # machines here are shared and noisy.
            for clicks in sequences:
                started = time.perf_counter()
                status, body = client.request("POST", path, {"engine": engine, "clicks": clicks})
                api_ms.append((time.perf_counter() - started) * 1000)
                if status != 200:
                    raise RuntimeError(f"predict failed: {status} {body}")
                worker_ms.append(float(body["elapsed_ms"]))
                if body.get("previous_mask") != "none":
                    raise RuntimeError("the server refined from a remembered mask: not comparable")
                direct_ms.append(direct.time_ms(clicks))
            rows.append((engine, api_ms, worker_ms, direct_ms))

        # The queue alone: a no-op task through Redis and the worker, no HTTP, no Django.
        from celery import Celery

        url = f"redis+socket://{stack.var / 'redis.sock'}"
        if os.environ.get("REDIS_URL"):
            url = os.environ["REDIS_URL"]
        celery = Celery(broker=url, backend=url)
        ping_ms = []
        for _ in range(args.requests):
            started = time.perf_counter()
            celery.send_task("workers.ping", queue="interactive").get(timeout=10)
            ping_ms.append((time.perf_counter() - started) * 1000)

        # Embedding throughput: uploads -> all embed jobs done, against a raw prepare loop.
        started = time.perf_counter()
        uploaded = [client.upload(project, f"e{i}.jpg", data) for i, data in enumerate(images)]
        ids = {a["id"] for a in uploaded}
        _, jobs = client.request("GET", f"/api/projects/{project}/jobs/?kind=embed&page_size=500")
        for job in jobs["results"]:
            if job["asset"] in ids:
                client.wait_job(job["id"])
        worker_s = time.perf_counter() - started

    from workers.engines import build_engine

    _match_worker_threads()
    sam = build_engine("sam", checkpoint=checkpoint, model_type="tiny")
    started = time.perf_counter()
    for data in images:
        sam.prepare(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    raw_s = time.perf_counter() - started

    print(f"\nclick -> mask, 854x480, {args.requests} requests each (ms)")
    print(
        f"{'engine':<10} {'API p50':>8} {'API p95':>8} {'worker p50':>11} {'direct p50':>11} "
        f"{'direct p95':>11} {'overhead p50':>13} {'p50 diff':>9} {'HTTP+queue':>11}"
    )
    for engine, api_ms, worker_ms, direct_ms in rows:
        # Paired: each request against the same prompts run directly right after it.
        # The difference of the two medians (next column) is what earlier runs quoted;
        # it swings with the spread of predict times (1-3 click prompts, 40-160 ms).
        overhead = statistics.median(a - d for a, d in zip(api_ms, direct_ms, strict=True))
        diff = statistics.median(api_ms) - statistics.median(direct_ms)
        transport = statistics.median(a - w for a, w in zip(api_ms, worker_ms, strict=True))
        print(
            f"{engine:<10} {pct(api_ms, 50):8.1f} {pct(api_ms, 95):8.1f} "
            f"{pct(worker_ms, 50):11.1f} "
            f"{pct(direct_ms, 50):11.1f} {pct(direct_ms, 95):11.1f} {overhead:13.1f} "
            f"{diff:9.1f} {transport:11.1f}"
        )
    print(
        "overhead p50: median of (API - direct) per request; HTTP+queue: median of "
        "(API - the worker's elapsed_ms) per request"
    )
    print(
        f"queue round trip (no-op task, Celery client): p50 {pct(ping_ms, 50):.1f} ms, "
        f"p95 {pct(ping_ms, 95):.1f} ms"
    )
    n = len(images)
    print(
        f"\nembedding throughput, tiny SAM, {n} images: worker {n / worker_s:.2f} img/s "
        f"(upload to embed done), raw prepare loop {n / raw_s:.2f} img/s, "
        f"ratio {raw_s / worker_s:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
