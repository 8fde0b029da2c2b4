"""Benchmark: the storing step of an import, through the domain service
(``create_annotation``, as ``workers/runtime/imports.py`` stores each annotation) against
the baseline of creating the rows directly (validate, measure, ``objects.create``), both
inside one transaction as the import runs them.

2,000 random 64x48 masks on one image, each variant rolled back after its run, five
runs each interleaved; medians. On the test database of ``DATABASE_URL`` (PostgreSQL)
or an SQLite file under a temporary folder.

    .venv/bin/python bench/import_store.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/annotator .venv/bin/python bench/import_store.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MASKS, RUNS = 2000, 5


def main() -> None:
    os.environ.setdefault("ANNOTATOR_VAR_DIR", tempfile.mkdtemp(prefix="bench-import-"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    import django

    django.setup()
    import numpy as np
    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases

    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        from annotator.models import Annotation, AnnotationSource, Asset, ReviewStatus
        from annotator.services.annotations import create_annotation
        from annotator.services.projects import create_project
        from formats.rle import encode_mask, mask_stats, validate_rle

        user = User.objects.create_user("bench")
        project = create_project(user, "bench", "", [{"name": "x"}])
        label = project.labels.get()
        asset = Asset.objects.create(
            project=project, kind="image", name="a.png", checksum="0" * 64, width=64, height=48
        )
        rng = np.random.default_rng(0)
        rles = [encode_mask(rng.random((48, 64)) < 0.3) for _ in range(MASKS)]

        def direct() -> None:
            for rle in rles:
                checked = validate_rle(rle, 48, 64)
                stats = mask_stats(checked)
                Annotation.objects.create(
                    asset=asset,
                    frame=0,
                    label=label,
                    mask=checked,
                    area=stats.area,
                    bbox=stats.bbox,
                    source=AnnotationSource.IMPORTED,
                    review_status=ReviewStatus.PENDING,
                    author=user,
                )

        def service() -> None:
            for rle in rles:
                create_annotation(
                    asset=asset,
                    frame=0,
                    label=label,
                    mask=rle,
                    author=user,
                    source=AnnotationSource.IMPORTED,
                    review_status=ReviewStatus.PENDING,
                )

        def timed(store: Callable[[], None]) -> float:
            started = time.perf_counter()
            with transaction.atomic():
                store()
                transaction.set_rollback(True)
            return time.perf_counter() - started

        runs: dict[str, list[float]] = {"direct": [], "service": []}
        for _ in range(RUNS):
            runs["direct"].append(timed(direct))
            runs["service"].append(timed(service))
        base, ours = statistics.median(runs["direct"]), statistics.median(runs["service"])
        print("| database | masks | direct create (baseline) | create_annotation | ratio |")
        print("| --- | ---: | ---: | ---: | ---: |")
        print(
            f"| {connection.vendor} | {MASKS} | {base * 1000:.0f} ms | {ours * 1000:.0f} ms "
            f"| {ours / base:.2f} |"
        )
    finally:
        teardown_databases(databases, verbosity=0)


if __name__ == "__main__":
    main()
