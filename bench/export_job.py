"""Benchmark: the real export job path (database rows -> ORM -> COCO writer -> zip)
against the raw script of ``bench/export.py`` (encode every mask with pycocotools, keep
the list, ``json.dumps`` it), at 1,000 and 10,000 masks.

Each mask count gets a fresh SQLite project (500 images of 640x480, 20 masks each, the
same random ellipses as ``bench/export.py``), built once before timing. Every timed run
is a fresh subprocess, so ``maxrss`` is that run's own peak.

    .venv/bin/python bench/export_job.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _django(var_dir: str) -> None:
    os.environ["ANNOTATOR_VAR_DIR"] = var_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "annotator.settings"
    os.environ.pop("DATABASE_URL", None)
    os.environ["DEBUG"] = "0"  # DEBUG keeps every SQL query in memory; workers in production do not
    import django

    django.setup()


def build_project(var_dir: str, n_masks: int) -> None:
    _django(var_dir)
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from annotator.models import Annotation, Asset
    from annotator.services.projects import create_project
    from bench.export import HEIGHT, PER_IMAGE, WIDTH, masks
    from formats.rle import encode_mask, mask_stats

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench")
    project = create_project(user, "bench", "", [{"name": f"class{i}"} for i in range(4)])
    labels = list(project.labels.order_by("id"))
    assets = Asset.objects.bulk_create(
        Asset(
            project=project,
            kind="image",
            name=f"{i}.jpg",
            file=f"x/{i}.jpg",
            checksum="0" * 64,
            width=WIDTH,
            height=HEIGHT,
        )
        for i in range(n_masks // PER_IMAGE)
    )
    batch: list[Annotation] = []
    for image, k, mask in masks(n_masks):
        rle = encode_mask(mask)
        stats = mask_stats(rle)
        batch.append(
            Annotation(
                asset=assets[image],
                label=labels[k % 4],
                mask=rle,
                area=stats.area,
                bbox=stats.bbox,
                author=user,
                source="manual",
            )
        )
        if len(batch) == 1000:
            Annotation.objects.bulk_create(batch)
            batch = []
    Annotation.objects.bulk_create(batch)


def run_job(var_dir: str, out_dir: Path) -> None:
    _django(var_dir)
    from annotator.models import Project
    from workers.runtime.exports import write_project_export

    project = Project.objects.get()
    with zipfile.ZipFile(out_dir / "export.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        write_project_export(project, archive, "coco", {}, lambda *_: None)


def child(kind: str, arg: str, trace: bool) -> dict[str, Any]:
    from bench.export import run_baseline

    with tempfile.TemporaryDirectory() as tmp:
        if kind == "job":
            _django(arg)  # imports and setup are not part of the timed work
            import workers.runtime.exports  # noqa: F401  (pulls in every writer, cv2 included)
        start = resource.getrusage(resource.RUSAGE_SELF)
        if trace:
            tracemalloc.start()
        t0 = time.perf_counter()
        if kind == "job":
            run_job(arg, Path(tmp))
        else:
            run_baseline(int(arg), Path(tmp))
        seconds = time.perf_counter() - t0
        end = resource.getrusage(resource.RUSAGE_SELF)
        peak = tracemalloc.get_traced_memory()[1] if trace else None
    return {
        "seconds": seconds,
        "cpu_seconds": end.ru_utime + end.ru_stime - start.ru_utime - start.ru_stime,
        "maxrss_mib": end.ru_maxrss / 1024,
        "py_peak_mib": None if peak is None else peak / 2**20,
    }


def measure(kind: str, arg: str, trace: bool) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", kind, arg] + (["--trace"] if trace else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(child(sys.argv[2], sys.argv[3], "--trace" in sys.argv)))
        return
    if sys.argv[1:2] == ["--build"]:
        build_project(sys.argv[2], int(sys.argv[3]))
        return
    rows = []
    for n_masks in (1_000, 10_000):
        var_dir = tempfile.mkdtemp(prefix="bench-export-")
        subprocess.run(
            [sys.executable, __file__, "--build", var_dir, str(n_masks)], check=True, cwd=ROOT
        )
        for kind, arg in (("baseline", str(n_masks)), ("job", var_dir)):
            timed = min(
                (measure(kind, arg, False) for _ in range(3)), key=lambda r: r["cpu_seconds"]
            )
            timed["py_peak_mib"] = measure(kind, arg, True)["py_peak_mib"]
            rows.append((kind, n_masks, timed))
    base = {n: r["cpu_seconds"] for kind, n, r in rows if kind == "baseline"}
    print(
        f"{'run':<9} {'masks':>6} {'wall s':>7} {'cpu s':>6} {'x base':>6} {'maxrss MiB':>10} "
        f"{'py peak MiB':>11}"
    )
    for kind, n_masks, r in rows:
        print(
            f"{kind:<9} {n_masks:>6} {r['seconds']:>7.2f} {r['cpu_seconds']:>6.2f} "
            f"{r['cpu_seconds'] / base[n_masks]:>6.2f} {r['maxrss_mib']:>10.1f} "
            f"{r['py_peak_mib']:>11.2f}"
        )


if __name__ == "__main__":
    main()
