"""Workers announce which queues they serve, so the web process can answer 503 at once
when nobody would pick up an interactive request, instead of waiting for a timeout."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown

from annotator.redis_client import WORKER_ALIVE_KEY, WORKER_ALIVE_TTL_S, get_redis

logger = logging.getLogger(__name__)
_stop = threading.Event()


def _beat(queues: list[str]) -> None:
    while not _stop.is_set():
        try:
            client = get_redis()
            for queue in queues:
                client.set(WORKER_ALIVE_KEY.format(queue=queue), "1", ex=WORKER_ALIVE_TTL_S)
        except Exception:
            logger.warning("heartbeat to Redis failed", exc_info=True)
        _stop.wait(WORKER_ALIVE_TTL_S / 3)


@worker_ready.connect
def start_heartbeat(sender: Any = None, **_: Any) -> None:
    # ``sender`` is the worker's Consumer; its app knows the queues given with -Q.
    queues = sorted(sender.app.amqp.queues.consume_from) if sender is not None else []
    threading.Thread(target=_beat, args=(queues,), daemon=True, name="heartbeat").start()


@worker_shutdown.connect
def stop_heartbeat(**_: Any) -> None:
    _stop.set()
