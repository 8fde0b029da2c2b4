"""Background duties of a worker's main process, in one thread started when the worker
is ready:

- liveness: a key per queue it consumes in Redis (``WORKER_ALIVE_TTL_S``), so the web
  process answers 503 at once when nobody would pick up an interactive request instead
  of waiting for a timeout, and ``/api/health/`` reports each queue's workers;
- the sweeps of the job lifecycle, at start-up, then every ``JOB_STALE_AFTER_S / 4``:
  running jobs whose worker died (the whole machine, not only a pool process) run again
  or fail (``lifecycle.recover_stale_jobs``), and queued jobs whose task message the
  broker lost are sent again (``lifecycle.resend_lost_deliveries``), so every job ends
  within a bounded time.

Neither Redis nor the database being down stops the thread: each duty logs its error and
is tried again on its next turn (Redis reconnects by itself, the database connection is
replaced once it failed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections

from annotator.redis_client import WORKER_ALIVE_KEY, WORKER_ALIVE_TTL_S, get_redis, take_turn
from workers.runtime.lifecycle import reconnecting, recover_stale_jobs, resend_lost_deliveries

logger = logging.getLogger(__name__)
_stop = threading.Event()


def announce(queues: list[str]) -> None:
    client = get_redis()
    for queue in queues:
        client.set(WORKER_ALIVE_KEY.format(queue=queue), "1", ex=WORKER_ALIVE_TTL_S)


def _resend_lost_deliveries(every: float) -> dict[int, str]:
    # One worker per round reads the broker's queues, which may hold a long backlog.
    if not take_turn("resend-lost-deliveries", every * 0.9):
        return {}
    return resend_lost_deliveries()


def sweep(every: float) -> None:
    """One round of the lifecycle's sweeps; the next comes in ``every`` seconds."""
    close_old_connections()
    duties: tuple[tuple[str, Callable[[], dict[int, str]]], ...] = (
        ("running jobs whose worker stopped", recover_stale_jobs),
        ("queued jobs whose task message was lost", partial(_resend_lost_deliveries, every)),
    )
    for jobs, duty in duties:  # each on its own: one needs the database, one Redis too
        try:
            changed = reconnecting(duty)
        except Exception:
            logger.warning("the sweep for %s failed", jobs, exc_info=True)
            continue
        if changed:
            logger.warning("%s: %s", jobs, changed)


def _duties(queues: list[str]) -> None:
    beat_every = WORKER_ALIVE_TTL_S / 3
    sweep_every = max(beat_every, settings.JOB_STALE_AFTER_S / 4)
    next_sweep = 0.0  # at once: jobs a dead predecessor left running
    while not _stop.is_set():
        try:
            announce(queues)
        except Exception:
            logger.warning("heartbeat to Redis failed", exc_info=True)
        if time.monotonic() >= next_sweep:
            try:
                sweep(sweep_every)
            except Exception:
                logger.warning("the stale-job sweep failed", exc_info=True)
            next_sweep = time.monotonic() + sweep_every
        _stop.wait(min(beat_every, max(0.1, next_sweep - time.monotonic())))


@worker_ready.connect
def start_duties(sender: Any = None, **_: Any) -> None:
    # ``sender`` is the worker's Consumer; its app knows the queues given with -Q.
    queues = sorted(sender.app.amqp.queues.consume_from) if sender is not None else []
    threading.Thread(target=_duties, args=(queues,), daemon=True, name="worker-duties").start()


@worker_shutdown.connect
def stop_duties(**_: Any) -> None:
    _stop.set()
