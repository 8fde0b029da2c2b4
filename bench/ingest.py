"""Benchmark: video ingestion through the real ``ingest`` job (PyAV decode -> upright
JPEG frames in media storage -> Frame rows in batches -> thumbnail -> ready), against the
bare decode of the same file (PyAV decode and RGB conversion only, nothing stored).

A synthetic 854x480 25 fps MP4 (MPEG-4 part 2, or H.264 with ``--codec libx264``) with
moving textured content is generated once per length. Every timed run is a fresh
subprocess with its own SQLite database and media folder, so ``maxrss`` is that run's
own peak: flat memory shows as the same peak for 100 and 1,000 frames. After the job,
the same subprocess times ``GET /api/assets/{id}/frames/{n}/image`` (Django test client,
random frames, the whole body read).

    .venv/bin/python bench/ingest.py                       # 100 and 1,000 frames
    .venv/bin/python bench/ingest.py --frames 100 3000 --size 1920x1080
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_video(path: Path, frames: int, width: int, height: int, codec: str) -> None:
    """Textured content that moves (a drifting sinusoid grid, a moving disc, noise), so
    the encoder and the JPEG writer see realistic frames, not flat colour."""
    import av

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    noise = np.random.default_rng(0).integers(0, 24, (height, width, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 2_000_000
        for i in range(frames):
            grid = 0.5 + 0.25 * (np.sin((xx + 3 * i) / 17) + np.cos((yy - 2 * i) / 23))
            image = np.empty((height, width, 3), dtype=np.uint8)
            image[..., 0] = (grid * 200).astype(np.uint8)
            image[..., 1] = (grid * 120 + 60).astype(np.uint8)
            image[..., 2] = ((1 - grid) * 180).astype(np.uint8)
            cx, cy = (40 + 5 * i) % width, height // 2 + int(80 * np.sin(i / 15))
            image[(xx - cx) ** 2 + (yy - cy) ** 2 < 60**2] = (230, 40, 40)
            image += noise
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _django(var_dir: str) -> None:
    os.environ["ANNOTATOR_VAR_DIR"] = var_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "annotator.settings"
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("MEDIA_ROOT", None)
    os.environ["DEBUG"] = "0"  # DEBUG keeps every SQL query in memory; workers do not
    os.environ["VIDEO_MAX_FRAMES"] = "100000"
    import django

    django.setup()


def run_job(video: Path) -> dict[str, Any]:
    """Upload-side probe and row, then the ingest job body in this process."""
    import uuid

    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from annotator.models import Asset, Job
    from annotator.services import assets as asset_service
    from annotator.services.projects import create_project
    from workers.runtime.videos import ingest_video

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench")
    project = create_project(user, "bench", "", [{"name": "thing"}])

    # The upload without its job's message (no broker here): the job row is queued and
    # the job body claims it in this process.
    def queue_only(project: Any, kind: str, user: Any, asset: Any) -> Job:
        return Job.objects.create(
            project=project, kind=kind, asset=asset, created_by=user, celery_id=str(uuid.uuid4())
        )

    asset_service.start_job = queue_only  # type: ignore[assignment]
    upload = SimpleUploadedFile("bench.mp4", video.read_bytes(), "video/mp4")
    t0 = time.perf_counter()
    asset = asset_service.ingest_upload(project, upload, user, None)
    upload_s = time.perf_counter() - t0
    del upload

    job = Job.objects.get(asset=asset, kind="ingest")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    ingest_video(job.pk)
    seconds = time.perf_counter() - t0
    end = resource.getrusage(resource.RUSAGE_SELF)
    job.refresh_from_db()
    asset = Asset.objects.get(pk=asset.pk)
    assert job.status == "done", job.error

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    rng = np.random.default_rng(1)
    timings = []
    for index in rng.integers(0, asset.num_frames, 200):
        t = time.perf_counter()
        response = client.get(f"/api/assets/{asset.pk}/frames/{index}/image")
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        timings.append(time.perf_counter() - t)
        assert response.status_code == 200 and body[:2] == b"\xff\xd8"
    timings.sort()
    return {
        "frames": asset.num_frames,
        "upload_s": upload_s,
        "seconds": seconds,
        "cpu_seconds": end.ru_utime + end.ru_stime - start.ru_utime - start.ru_stime,
        "maxrss_mib": end.ru_maxrss / 1024,
        "rss_before_mib": rss_before / 1024,
        "serve_p50_ms": 1000 * statistics.median(timings),
        "serve_p95_ms": 1000 * timings[int(0.95 * len(timings))],
    }


def run_baseline(video: Path) -> dict[str, Any]:
    """PyAV decode and RGB conversion of every frame; nothing encoded or stored."""
    import av

    start = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    count = 0
    with av.open(str(video)) as container:
        container.streams.video[0].thread_type = "AUTO"
        for frame in container.decode(video=0):
            frame.to_image()
            count += 1
    seconds = time.perf_counter() - t0
    end = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "frames": count,
        "seconds": seconds,
        "cpu_seconds": end.ru_utime + end.ru_stime - start.ru_utime - start.ru_stime,
        "maxrss_mib": end.ru_maxrss / 1024,
    }


def child(kind: str, video: str) -> dict[str, Any]:
    if kind == "baseline":
        return run_baseline(Path(video))
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as var_dir:
        _django(var_dir)
        import workers.runtime.videos  # noqa: F401  (imports are not the timed work)

        return run_job(Path(video))


def measure(kind: str, video: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", kind, str(video)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2], sys.argv[3])))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--size", default="854x480")
    parser.add_argument("--codec", default="mpeg4")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-videos-") as folder:
        for frames in args.frames:
            video = Path(folder) / f"{frames}.mp4"
            make_video(video, frames, width, height, args.codec)
            size_mb = video.stat().st_size / 2**20
            rows.append((frames, size_mb, measure("baseline", video), measure("job", video)))
    print(f"{args.size} {args.codec}, {os.cpu_count()} CPUs; x decode = ingest cpu / decode cpu")
    print(
        f"{'frames':>6} {'MB':>5} {'decode s':>8} {'cpu s':>6} {'ingest s':>8} {'cpu s':>6} "
        f"{'x decode':>8} {'fps':>5} {'upload s':>8} {'rss MiB':>7} {'decode rss':>10} "
        f"{'serve p50/p95 ms':>16}"
    )
    for frames, size_mb, base, job in rows:
        assert job["frames"] == base["frames"] == frames, (job, base)
        print(
            f"{frames:>6} {size_mb:>5.1f} {base['seconds']:>8.2f} {base['cpu_seconds']:>6.1f} "
            f"{job['seconds']:>8.2f} {job['cpu_seconds']:>6.1f} "
            f"{job['cpu_seconds'] / base['cpu_seconds']:>8.1f} {frames / job['seconds']:>5.0f} "
            f"{job['upload_s']:>8.3f} {job['maxrss_mib']:>7.0f} {base['maxrss_mib']:>10.0f} "
            f"{job['serve_p50_ms']:>7.1f}/{job['serve_p95_ms']:<8.1f}"
        )


if __name__ == "__main__":
    main()
