"""Per-process set-up of worker processes.

Torch sizes its CPU thread pool to every core of the machine in every process; with a
prefork pool of N processes on a CPU worker that oversubscribes the cores N times and a
millisecond decoder call can take hundreds when the processes' spin-waiting threads
contend. Each pool process gets ``cores // N`` threads instead (``TORCH_THREADS``
overrides). Torch is only touched if the engine code already imported it.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from celery.signals import worker_process_init

# Set by annotator.celery's worker_init handler (connected before task modules load).
_CONCURRENCY_ENV = "ANNOTATOR_WORKER_CONCURRENCY"


def torch_threads_for(cores: int, concurrency: int, override: str | None) -> int:
    if override:
        return max(1, int(override))
    return max(1, cores // max(1, concurrency))


@worker_process_init.connect
def limit_torch_threads(**_: Any) -> None:
    threads = torch_threads_for(
        os.cpu_count() or 1,
        int(os.environ.get(_CONCURRENCY_ENV, "1")),
        os.environ.get("TORCH_THREADS"),
    )
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
