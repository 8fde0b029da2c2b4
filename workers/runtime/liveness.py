"""Background duties of a worker's main process, in one thread started when the worker
is ready:

- liveness: a key per queue it consumes in Redis (``WORKER_ALIVE_TTL_S``), so the web
  process answers 503 at once when nobody would pick up an interactive request instead
  of waiting for a timeout, and ``/api/health/`` reports each queue's workers;
- the stale-job sweep of the job lifecycle (``lifecycle.recover_stale_jobs``): at
  start-up, then every ``JOB_STALE_AFTER_S / 4``, so a job whose worker died (the whole
  machine, not only a pool process) runs again or fails within a bounded time.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections

from annotator.redis_client import WORKER_ALIVE_KEY, WORKER_ALIVE_TTL_S, get_redis
from workers.runtime.lifecycle import recover_stale_jobs

logger = logging.getLogger(__name__)
_stop = threading.Event()


def announce(queues: list[str]) -> None:
    client = get_redis()
    for queue in queues:
        client.set(WORKER_ALIVE_KEY.format(queue=queue), "1", ex=WORKER_ALIVE_TTL_S)


def sweep() -> None:
    close_old_connections()
    recovered = recover_stale_jobs()
    if recovered:
        logger.warning("recovered jobs whose worker stopped: %s", recovered)


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
                sweep()
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
