"""bench/propagation.py end to end on a tiny DAVIS-layout folder of synthetic frames."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import propagation as bench
from tests.workers.propagation.synthetic import video


def write_sequence(root: Path, name: str, step: int) -> None:
    images = root / "davis" / "JPEGImages" / "480p" / name
    masks = root / "davis" / "Annotations" / "480p" / name
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for i, image, mask in video(8, lambda i: (40 + step * i, 60, 18)):
        cv2.imwrite(str(images / f"{i:05d}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(masks / f"{i:05d}.png"), mask.astype(np.uint8) * 255)


def test_bench_reports_j_per_sequence_and_baselines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_sequence(tmp_path, "slow", 2)
    write_sequence(tmp_path, "fast", 5)
    monkeypatch.setenv("SEG_BENCH_DATA", str(tmp_path))
    out = tmp_path / "result.json"
    assert bench.main(["--max-frames", "6", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "propagate" in table and "copy" in table and "warp" in table
    assert "fast" in table and "slow" in table and "J mean" in table
    assert "spearman" in table
    data = json.loads(out.read_text())
    runs = {(r["method"], r["sequence"]): r for r in data["runs"]}
    assert len(runs) == 6
    for run in runs.values():
        assert len(run["ious"]) == 5 and run["seconds"] > 0
    j = {key: float(np.mean(run["ious"])) for key, run in runs.items()}
    # The disc moves away from where it started: copying the first mask falls behind.
    assert j[("propagate", "fast")] > 0.8
    assert j[("propagate", "fast")] > j[("copy", "fast")] + 0.2


def test_bench_rejects_unknown_sequences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_sequence(tmp_path, "slow", 2)
    monkeypatch.setenv("SEG_BENCH_DATA", str(tmp_path))
    with pytest.raises(SystemExit):
        bench.main(["--sequences", "nope"])


def test_bench_without_data_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEG_BENCH_DATA", str(tmp_path / "missing"))
    assert bench.main([]) == 2
