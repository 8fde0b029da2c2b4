"""A plain Redis client on the same server as the Celery broker (liveness keys)."""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings

WORKER_ALIVE_KEY = "annotator:alive:{queue}"
WORKER_ALIVE_TTL_S = 15


def redis_url_for_client(url: str) -> str:
    """Celery spells a unix socket ``redis+socket:///path``; redis-py wants ``unix:///path``."""
    if url.startswith("redis+socket://"):
        return "unix://" + url[len("redis+socket://") :]
    return url


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        redis_url_for_client(url), socket_timeout=2, socket_connect_timeout=2
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
