"""Sign-in throttling: failed sign-ins are counted per username (case-insensitive) and
per client address, each in a fixed window of ``LOGIN_FAILURE_WINDOW_S``. Past
``LOGIN_MAX_FAILURES_PER_USER`` (or ``..._PER_ADDRESS``) failures, every sign-in for that
username (or from that address) is refused until the window ends, before any password
is hashed, a correct one included. A successful sign-in clears its username's count.

Every way to sign in goes through ``django.contrib.auth.authenticate``, so the guard sits
there, in two pieces that need no view to remember them:

- :class:`LoginGuardBackend`, first in ``AUTHENTICATION_BACKENDS``, raises
  ``PermissionDenied`` for a locked username or address: ``authenticate`` then stops
  before the password backend runs (the token endpoint, the login page, the admin's);
- the ``user_login_failed`` / ``user_logged_in`` signals count failures and clear a
  username on success (the token endpoint, which logs no session in, calls
  :func:`record_success` itself).

The views check :func:`locked_for` first as well, to answer 429 with ``Retry-After`` or
a clear message rather than "wrong password".

Counters live in Redis (shared by every web process; a failure is ``SET NX EX`` + ``INCR``,
so the window starts at the first failure and refused attempts never extend it). When
Redis cannot be reached the guard does not fail open: it counts in this process's memory
(bounded in size), logs a warning, and tries Redis again after ``REDIS_RETRY_S``. A
multi-process server then applies the limits per process, a looser but still bounded
guard, and sign-in keeps working while Redis is down.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver

from annotator.redis_client import get_redis

log = logging.getLogger(__name__)

KEY_PREFIX = "annotator:login-failures:"
#: After a Redis error, how long the guard counts in memory before trying Redis again.
REDIS_RETRY_S = 30.0
#: The most counters the in-memory fallback keeps (the oldest go first).
MEMORY_MAX_KEYS = 50_000


# --- keys ------------------------------------------------------------------------------


def _digest(text: str) -> str:
    # Hashed: a key of bounded size whatever a client sends as its username.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def user_key(username: str) -> str:
    return f"{KEY_PREFIX}user:{_digest(username.lower())}"


def address_key(address: str) -> str:
    """IPv6 clients are counted per /64 (one host usually holds a whole /64)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return f"{KEY_PREFIX}addr:{_digest(address)}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"{KEY_PREFIX}addr:{ip.ipv4_mapped}"
        return f"{KEY_PREFIX}addr:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"{KEY_PREFIX}addr:{ip}"


def client_address(request: Any) -> str | None:
    """The client's address: ``REMOTE_ADDR``, or behind a reverse proxy the last entry of
    ``CLIENT_ADDRESS_HEADER`` (e.g. ``X-Forwarded-For``: the proxy appends the address it
    saw last, so earlier entries, which the client may forge, are not used)."""
    if request is None:
        return None
    meta = request.META
    header = settings.CLIENT_ADDRESS_HEADER
    if header:
        value = str(meta.get("HTTP_" + header.upper().replace("-", "_"), ""))
        last = value.rsplit(",", 1)[-1].strip()
        if last:
            return last
    address = meta.get("REMOTE_ADDR")
    return str(address) if address else None


def _limits(username: str | None, address: str | None) -> list[tuple[str, int]]:
    limits = []
    if username:
        limits.append((user_key(username), settings.LOGIN_MAX_FAILURES_PER_USER))
    if address:
        limits.append((address_key(address), settings.LOGIN_MAX_FAILURES_PER_ADDRESS))
    return limits


# --- counter storage --------------------------------------------------------------------


class _MemoryCounters:
    """Fixed-window counters in this process, for when Redis is down."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def _live(self, key: str, now: float) -> tuple[int, float] | None:
        item = self._items.get(key)
        if item is not None and item[1] <= now:
            del self._items[key]
            return None
        return item

    def increment(self, keys: Iterable[str], window_s: int) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                item = self._live(key, now)
                count, expires = item if item is not None else (0, now + window_s)
                self._items[key] = (count + 1, expires)
                self._items.move_to_end(key)
            while len(self._items) > MEMORY_MAX_KEYS:
                self._items.popitem(last=False)

    def read(self, keys: list[str]) -> list[tuple[int, float]]:
        now = time.monotonic()
        with self._lock:
            items = [self._live(key, now) for key in keys]
        return [(0, 0.0) if item is None else (item[0], item[1] - now) for item in items]

    def delete(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class _RedisCounters:
    def increment(self, keys: Iterable[str], window_s: int) -> None:
        with get_redis().pipeline(transaction=False) as pipe:
            for key in keys:
                # The window starts with the first failure; INCR keeps the key's TTL.
                pipe.set(key, 0, ex=window_s, nx=True)
                pipe.incr(key)
            pipe.execute()

    def read(self, keys: list[str]) -> list[tuple[int, float]]:
        with get_redis().pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.get(key)
                pipe.pttl(key)
            answers = pipe.execute()
        result = []
        for value, pttl in zip(answers[::2], answers[1::2], strict=True):
            result.append((int(value or 0), max(int(pttl), 0) / 1000))
        return result

    def delete(self, keys: Iterable[str]) -> None:
        names = list(keys)
        if names:
            get_redis().delete(*names)

    def clear(self) -> None:
        client = get_redis()
        names = list(client.scan_iter(match=KEY_PREFIX + "*", count=1000))
        if names:
            client.delete(*names)


_memory = _MemoryCounters()
_redis = _RedisCounters()
_state = {"redis_down_until": 0.0}


def _run(operation: str, *args: Any) -> Any:
    """``operation`` on Redis, or on the in-memory counters while Redis is down."""
    if time.monotonic() >= _state["redis_down_until"]:
        try:
            return getattr(_redis, operation)(*args)
        except redis.RedisError as exc:
            _state["redis_down_until"] = time.monotonic() + REDIS_RETRY_S
            log.warning(
                "login guard: Redis unreachable (%s); counting failed sign-ins in this "
                "process's memory for the next %.0f s",
                exc,
                REDIS_RETRY_S,
            )
    return getattr(_memory, operation)(*args)


# --- the guard ------------------------------------------------------------------------


def locked_for(username: str | None, address: str | None) -> int | None:
    """Seconds until a sign-in for ``username`` from ``address`` may be tried again, or
    ``None`` when it may be tried now."""
    limits = _limits(username, address)
    if not limits:
        return None
    counts = _run("read", [key for key, _ in limits])
    waits = [
        seconds
        for (_, limit), (count, seconds) in zip(limits, counts, strict=True)
        if count >= limit
    ]
    if not waits:
        return None
    return max(1, math.ceil(max(waits)))


def record_failure(username: str | None, address: str | None) -> None:
    keys = [key for key, _ in _limits(username, address)]
    if keys:
        _run("increment", keys, settings.LOGIN_FAILURE_WINDOW_S)


def record_success(username: str | None) -> None:
    if username:
        _run("delete", [user_key(username)])


def unlock(username: str | None = None, address: str | None = None) -> None:
    """Clear the counters of a username and/or an address (an administrator's unlock)."""
    keys = [key for key, _ in _limits(username, address)]
    if keys:
        _run("delete", keys)


def clear_all() -> None:
    """Forget every counter (tests; a fresh start), in memory and in Redis, and try Redis
    again on the next call."""
    _state["redis_down_until"] = 0.0
    _memory.clear()
    with contextlib.suppress(redis.RedisError):
        _redis.clear()


class LoginGuardBackend(BaseBackend):
    """First in ``AUTHENTICATION_BACKENDS``: authenticates nobody; refuses a locked
    username or address by raising ``PermissionDenied``, which makes ``authenticate``
    stop before the password backend hashes anything."""

    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kw: Any
    ) -> None:
        if locked_for(username, client_address(request)) is not None:
            raise PermissionDenied("too many failed sign-in attempts")
        return None

    def get_user(self, user_id: Any) -> Any:
        # A session logged in without authenticate() (``Client.force_login``, ``login()``
        # with no backend named) is recorded under the first backend, this one.
        return ModelBackend().get_user(user_id)


@receiver(user_login_failed, dispatch_uid="annotator.login_guard.failed")
def _count_failure(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kw: Any
) -> None:
    username = credentials.get("username")
    record_failure(username if isinstance(username, str) else None, client_address(request))


@receiver(user_logged_in, dispatch_uid="annotator.login_guard.logged_in")
def _clear_on_login(sender: Any, request: Any = None, user: Any = None, **kw: Any) -> None:
    if user is not None:
        record_success(user.get_username())
