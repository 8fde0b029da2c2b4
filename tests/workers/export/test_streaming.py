"""The COCO writer's memory does not grow with the number of annotations."""

from __future__ import annotations

import tracemalloc
import zipfile
from pathlib import Path

from tests.workers.export.helpers import CATEGORIES, lazy_records
from workers.export import ExportImage, build_writer


def peak_bytes(tmp_path: Path, n_images: int) -> int:
    """tracemalloc peak of exporting ``n_images * 10`` lazily generated 48x64 masks."""
    records = lazy_records(n_images, 10, 48, 64, seed=n_images)
    tracemalloc.start()
    try:
        with zipfile.ZipFile(tmp_path / f"{n_images}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            writer = build_writer("coco", zf, CATEGORIES, include_images=False)
            for record in records:
                if isinstance(record, ExportImage):
                    writer.add_image(record)
                else:
                    writer.add_annotation(record)
            writer.close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_coco_writer_peak_memory_is_flat(tmp_path: Path) -> None:
    peak_bytes(tmp_path, 3)  # warm-up: first-use allocations (imports, caches) are one-off
    small = peak_bytes(tmp_path, 30)  # 300 masks
    large = peak_bytes(tmp_path, 300)  # 3,000 masks
    # Per-image bookkeeping (one file-name stem, ~100 B) may grow; per-mask state may not:
    # 10x the masks (+2,700) may cost at most 10 % + 64 KiB, i.e. < 30 B per extra mask.
    assert large <= small * 1.1 + 64 * 1024, (small, large)
