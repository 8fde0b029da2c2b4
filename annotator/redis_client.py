"""A plain Redis client on the same server as the Celery broker: worker liveness keys,
the reply lists of interactive requests (see :func:`wait_reply`), and the workers' look
at the broker's own queues (:func:`task_ids_in_broker`)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings

WORKER_ALIVE_KEY = "annotator:alive:{queue}"
WORKER_ALIVE_TTL_S = 15
REPLY_KEY = "annotator:reply:{token}"
TURN_KEY = "annotator:turn:{duty}"
#: A reply nobody waits for any more (the web process timed out) expires after this.
REPLY_TTL_S = 60
#: Where kombu's Redis transport keeps messages (its defaults): a list per queue (one
#: more per priority step), and a hash of the messages delivered to a worker and not
#: acknowledged yet.
_PRIORITY_SEP, _PRIORITY_STEPS = "\x06\x16", (3, 6, 9)
_UNACKED_KEY = "unacked"
_TASK_ID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def redis_url_for_client(url: str) -> str:
    """Celery spells a unix socket ``redis+socket:///path``; redis-py wants ``unix:///path``."""
    if url.startswith("redis+socket://"):
        return "unix://" + url[len("redis+socket://") :]
    return url


@lru_cache(maxsize=8)
def _client(url: str, read_timeout: float | None = 2.0) -> redis.Redis:
    return redis.Redis.from_url(
        redis_url_for_client(url), socket_timeout=read_timeout, socket_connect_timeout=2
    )


def get_redis() -> redis.Redis:
    return _client(settings.REDIS_URL)


def queue_has_worker(queue: str) -> bool:
    """Whether some worker consuming ``queue`` has said it is alive in the last
    ``WORKER_ALIVE_TTL_S`` seconds. False as well when Redis itself cannot be reached."""
    try:
        return bool(get_redis().exists(WORKER_ALIVE_KEY.format(queue=queue)))
    except redis.RedisError:
        return False


def queue_state(queue: str) -> tuple[bool, int]:
    """In one round trip: whether a worker consuming ``queue`` is alive (see
    :func:`queue_has_worker`) and how many messages wait in it, not yet taken by a
    worker. ``(False, 0)`` when Redis cannot be reached."""
    try:
        with get_redis().pipeline(transaction=False) as pipe:
            pipe.exists(WORKER_ALIVE_KEY.format(queue=queue))
            pipe.llen(queue)
            for step in _PRIORITY_STEPS:
                pipe.llen(f"{queue}{_PRIORITY_SEP}{step}")
            alive, *lengths = pipe.execute()
    except redis.RedisError:
        return False, 0
    return bool(alive), sum(int(n) for n in lengths)


def task_ids_in_broker(queues: Iterable[str]) -> set[str]:
    """The ids of every task message the broker holds for ``queues``: waiting in a
    queue, or delivered to a worker that has not acknowledged it yet (a job task is
    acknowledged when it ends). A message that is in neither was lost, e.g. with a
    broker that restarted without persistence. Raises ``redis.RedisError``.

    Reads whole queues: meant for the workers' occasional sweep (a few thousand
    messages of a few hundred bytes), not for a request path."""
    with get_redis().pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.lrange(queue, 0, -1)
            for step in _PRIORITY_STEPS:
                pipe.lrange(f"{queue}{_PRIORITY_SEP}{step}", 0, -1)
        pipe.hvals(_UNACKED_KEY)
        parts = pipe.execute()
    # Task ids are uuids in the message headers (the body is base64): one scan of the
    # raw messages, whatever the rest of their layout. A superset (the headers also
    # name the task that sent the message), which is all the sweep needs.
    return {m.decode() for part in parts for raw in part for m in _TASK_ID.findall(raw)}


def take_turn(duty: str, seconds: float) -> bool:
    """Whether this process does ``duty`` now, a duty one worker at a time does every
    ``seconds``: the first to ask in each period gets the turn."""
    key = TURN_KEY.format(duty=duty)
    return bool(get_redis().set(key, "1", nx=True, px=max(1, int(seconds * 1000))))


def new_reply_key() -> str:
    return REPLY_KEY.format(token=uuid.uuid4().hex)


def push_reply(
    key: str, payload: dict[str, Any], also_set: tuple[str, str, int] | None = None
) -> None:
    """Worker side: hand ``payload`` (JSON-serialisable) to whoever waits on ``key``.

    ``also_set``: ``(key, value, ttl_s)`` written in the same round trip, after the
    reply (the worker's memory of a result, see ``workers.runtime.predict``): the waiting
    client is answered first, and its next request, which needs another HTTP round
    trip and another task, finds the value already there."""
    with get_redis().pipeline(transaction=False) as pipe:
        pipe.rpush(key, json.dumps(payload))
        pipe.expire(key, REPLY_TTL_S)
        if also_set is not None:
            pipe.set(also_set[0], also_set[1], ex=also_set[2])
        pipe.execute()


def wait_reply(key: str, timeout: float) -> dict[str, Any] | None:
    """Web side: block until a worker pushes the reply for ``key``, at most ``timeout``
    seconds (``None`` then). One blocking round trip to Redis: cheaper than a Celery
    result backend's subscribe / get / unsubscribe / delete for a reply of a few kB
    that exactly one caller reads once."""
    client = _client(settings.REDIS_URL, read_timeout=timeout + 5.0)
    # BLPOP takes whole seconds on old servers; a float works from Redis 6 on.
    answer = client.blpop([key], timeout=max(timeout, 0.01))
    if answer is None:
        return None
    payload: dict[str, Any] = json.loads(answer[1])
    return payload
