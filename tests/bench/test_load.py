"""The pure helpers of bench/load.py (no stack, no locust: importing it imports neither)."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from bench.load import (
    access_log_statuses,
    lost_check,
    nothing_lost,
    outcome,
    peak_in_flight,
    percentile,
    problem_lines,
    step_stats,
    summarise,
    table_row,
)


def test_percentile_matches_numpy() -> None:
    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0]
    for q in (0, 25, 50, 95, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert percentile([4.0], 95) == 4.0
    assert math.isnan(percentile([], 50))


def test_outcome_counts_503_with_retry_after_apart() -> None:
    assert outcome({"status": 201, "error": None}) == "ok"
    assert outcome({"status": 503, "retry_after": True, "error": None}) == "retry"
    assert outcome({"status": 503, "retry_after": False, "error": None}) == "error"
    assert outcome({"status": 500, "error": None}) == "error"
    assert outcome({"status": 0, "error": "ConnectionError: reset"}) == "error"


def test_step_stats_use_only_the_successful_times() -> None:
    samples = [
        {"name": "predict", "status": 200, "ms": 100.0, "error": None},
        {"name": "predict", "status": 200, "ms": 300.0, "error": None},
        {"name": "predict", "status": 503, "retry_after": True, "ms": 10_000.0, "error": None},
        {"name": "save", "status": 400, "ms": 5.0, "error": None},
    ]
    stats = summarise(samples)
    assert list(stats) == ["predict", "save"]
    predict = stats["predict"]
    assert (predict.count, predict.ok, predict.retry, predict.errors) == (3, 2, 1, 0)
    assert predict.p50 == 200.0 and predict.max == 300.0
    save = step_stats(samples[3:])
    assert save.errors == 1 and math.isnan(save.p50)


def test_peak_in_flight() -> None:
    samples = [
        {"name": "predict", "t": 0.0, "ms": 2000.0},
        {"name": "predict", "t": 1.0, "ms": 2000.0},
        {"name": "save", "t": 1.5, "ms": 100.0},
        {"name": "predict", "t": 3.0, "ms": 100.0},  # starts as the second one ends
    ]
    assert peak_in_flight(samples) == 3
    assert peak_in_flight(samples, "predict") == 2
    assert peak_in_flight([]) == 0


def test_nothing_lost() -> None:
    fine = lost_check([1, 2, 3], {1, 2, 3}, unknown=0)
    assert fine == {
        "acked": 3,
        "stored": 3,
        "missing": 0,
        "extra": 0,
        "duplicates": 0,
        "unknown": 0,
    }
    assert nothing_lost(fine)
    assert not nothing_lost(lost_check([1, 2, 3], {1, 2}, unknown=0))  # an acked row gone
    assert not nothing_lost(lost_check([1, 2], {1, 2, 9}, unknown=0))  # a row nobody saw
    assert nothing_lost(lost_check([1, 2], {1, 2, 9}, unknown=1))  # its answer was lost
    assert not nothing_lost(lost_check([1, 1], {1}, unknown=0))  # one id acked twice


def test_server_log_parsing() -> None:
    lines = [
        '127.0.0.1 - - [07/Dec/2026:14:00:00 +0000] "GET /api/health/ HTTP/1.1" 200 90 "-" "x"',
        '127.0.0.1 - - [07/Dec/2026:14:00:01 +0000] "POST /api/assets/3/predict/ HTTP/1.1" '
        '503 120 "-" "x"',
        '127.0.0.1 - - [07/Dec/2026:14:00:02 +0000] "POST /api/assets/3/annotations/ HTTP/1.1" '
        '500 10 "-" "x"',
        "[2026-12-07 14:00:03 +0000] [12] [CRITICAL] WORKER TIMEOUT (pid:13)",
    ]
    assert access_log_statuses(lines) == {"200": 1, "503": 1, "500": 1}
    assert problem_lines(lines) == [lines[2], lines[3]]


def test_table_row_takes_medians_over_runs() -> None:
    def run(p50: float, lost: bool) -> dict[str, object]:
        step = {"ok": 10, "p50": p50, "p95": 2 * p50, "errors": 0, "retry": 1}
        health = {"p50": 3.0, "p95": 5.0, "max": 9.0}
        return {
            "requests": 100,
            "steps": {"predict": step, "save": step},
            "health_idle": health,
            "health": health,
            "nothing_lost": lost,
        }

    row = table_row("embedded", [run(100, True), run(300, True), run(200, False)])
    assert row.startswith("| embedded | 3 | 100 | 10 | 200 / 400 |")
    assert row.endswith("| 2 | 0 | 2/3 |")


def test_importing_it_does_not_import_locust() -> None:
    # locust monkey-patches the standard library with gevent when imported.
    assert "locust" not in sys.modules or "bench.locustfile" in sys.modules
