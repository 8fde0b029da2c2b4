"""A plain Redis client on the same server as the Celery broker: worker liveness keys,
and the reply lists of interactive requests (see :func:`wait_reply`)."""

from __future__ import annotations

import json
import uuid
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings

WORKER_ALIVE_KEY = "annotator:alive:{queue}"
WORKER_ALIVE_TTL_S = 15
REPLY_KEY = "annotator:reply:{token}"
#: A reply nobody waits for any more (the web process timed out) expires after this.
REPLY_TTL_S = 60


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
