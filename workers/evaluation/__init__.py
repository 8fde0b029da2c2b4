"""Interactive-segmentation evaluation: the standard click simulator and NoC metrics.

Pure numpy; the simulation loop drives any ``predict(clicks, prev_mask) -> mask``
callable, so it can evaluate an engine in-process or the HTTP API alike.
"""

from __future__ import annotations

from .clicker import Clicker, PredictFn, SimulationResult, simulate
from .metrics import MIOU_AT, NOC_THRESHOLDS, iou, noc, summarize

__all__ = [
    "Clicker",
    "PredictFn",
    "SimulationResult",
    "simulate",
    "NOC_THRESHOLDS",
    "MIOU_AT",
    "iou",
    "noc",
    "summarize",
]
