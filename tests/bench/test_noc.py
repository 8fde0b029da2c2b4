"""The summaries of bench/noc.py on hand-made session records."""

from __future__ import annotations

from bench.noc import SessionRecord, setbacks


def _record(engine: str, ious: list[float]) -> SessionRecord:
    return SessionRecord(engine, "seq/00000", ious, [0.01] * len(ious), 0.1)


def test_setbacks_count_the_clicks_that_lowered_the_iou() -> None:
    records = [
        _record("classical", [0.5, 0.8, 0.55, 0.9, 0.88]),  # -0.25 and -0.02
        _record("classical", [0.6, 0.7, 0.62, 0.8]),  # -0.08
        _record("grabcut", [0.4, 0.6]),
    ]
    lines = setbacks(records, ["classical", "grabcut"])
    assert lines.splitlines()[0] == (
        "classical setbacks: 2 clicks lowered the IoU by > 0.05 (total 0.33), 1 by > 0.2; "
        "mean IoU after the last click 0.840"
    )
    assert lines.splitlines()[1].startswith("grabcut setbacks: 0 clicks")
