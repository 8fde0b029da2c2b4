"""Two-level cache of prepared engine states (SAM image embeddings and the like).

Level 1 is an in-process LRU bounded in bytes (``Engine.state_nbytes``); level 2 a
:class:`ByteStore` of serialised states (``Engine.state_to_bytes``) shared between
workers, e.g. Django storage. A miss in both runs ``Engine.prepare`` and fills both.

Generic over engines: nothing here imports torch or knows what a state contains.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from .base import Engine

__all__ = [
    "ByteStore",
    "CacheStats",
    "DirectoryByteStore",
    "EmbeddingCache",
    "MemoryByteStore",
    "Source",
    "embedding_key",
]

log = logging.getLogger(__name__)

Source = Literal["memory", "store", "computed"]
_SAFE_COMPONENT = re.compile(r"[^A-Za-z0-9._-]+")


class ByteStore(Protocol):
    """Where serialised states persist. ``get`` returns ``None`` for a missing key."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, data: bytes) -> None: ...


def _component(value: Any) -> str:
    """One path component of a key: no separators, no ``..``, never empty."""
    text = _SAFE_COMPONENT.sub("_", str(value)).strip(".")
    return text or "_"


def embedding_key(asset_id: Any, frame: int, model_id: str, checksum: str) -> str:
    """Store key of one frame's state: ``embeddings/{model_id}/{asset_id}/{frame}-{checksum}.npz``.

    ``model_id`` keeps states of different weights apart; ``checksum`` (of the image
    content) makes a re-uploaded/changed image miss instead of reusing a stale state.
    Components are sanitised so a key is always a safe relative path.
    """
    return (
        f"embeddings/{_component(model_id)}/{_component(asset_id)}/"
        f"{int(frame)}-{_component(checksum)}.npz"
    )


class MemoryByteStore:
    """A dict-backed :class:`ByteStore` (tests, single-process use)."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.gets = 0
        self.puts = 0

    def get(self, key: str) -> bytes | None:
        with self._lock:
            self.gets += 1
            return self._data.get(key)

    def put(self, key: str, data: bytes) -> None:
        with self._lock:
            self.puts += 1
            self._data[key] = bytes(data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)


class DirectoryByteStore:
    """A :class:`ByteStore` of files under ``root`` (keys are relative paths).

    Writes go to a temporary file then ``os.replace``, so concurrent readers (other
    worker processes) see either the old file or the complete new one, never half.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError(f"key {key!r} escapes the store root")
        return path

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass(frozen=True)
class CacheStats:
    """Counters since construction (or :meth:`EmbeddingCache.reset_stats`)."""

    hits_memory: int
    hits_store: int
    computed: int
    evictions: int
    store_errors: int
    memory_bytes: int
    memory_items: int


class EmbeddingCache:
    """Memory LRU in front of a :class:`ByteStore` in front of ``engine.prepare``.

    ``memory_limit_mb`` bounds the LRU by ``engine.state_nbytes`` (0 disables it); a
    state larger than the whole budget is not kept in memory but is still stored.
    Thread-safe: one lock guards the LRU and counters; concurrent requests for the
    same missing key compute it once (per-key lock), other keys are not blocked while
    an image is being embedded. Store failures are logged and treated as misses: the
    store is an optimisation, never a reason to fail a prediction.
    """

    def __init__(
        self, engine: Engine, memory_limit_mb: float, store: ByteStore | None = None
    ) -> None:
        if memory_limit_mb < 0:
            raise ValueError("memory_limit_mb must be >= 0")
        self.engine = engine
        self.store = store
        self.memory_limit_bytes = int(memory_limit_mb * 1024 * 1024)
        self._lru: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._memory_bytes = 0
        self._lock = threading.Lock()
        self._key_locks: dict[str, tuple[threading.Lock, int]] = {}
        self.hits_memory = 0
        self.hits_store = 0
        self.computed = 0
        self.evictions = 0
        self.store_errors = 0

    # ------------------------------------------------------------------ public

    def get_state(self, key: str, load_image: Callable[[], np.ndarray]) -> tuple[Any, Source]:
        """The state for ``key`` and where it came from: ``"memory"``, ``"store"``
        (deserialised, now also in memory) or ``"computed"`` (``engine.prepare(
        load_image())``, written to store and memory). ``load_image`` is only called
        on a full miss, so callers can defer decoding/downloading the image."""
        state = self._memory_get(key)
        if state is not None:
            return state, "memory"

        key_lock = self._acquire_key_lock(key)
        try:
            # Another thread may have filled it while we waited for the key lock.
            state = self._memory_get(key)
            if state is not None:
                return state, "memory"
            state = self._store_get(key)
            if state is not None:
                with self._lock:
                    self.hits_store += 1
                self._memory_put(key, state)
                return state, "store"
            state = self.engine.prepare(load_image())
            with self._lock:
                self.computed += 1
            self.put_state(key, state)
            return state, "computed"
        finally:
            self._release_key_lock(key, key_lock)

    def put_state(self, key: str, state: Any) -> None:
        """Put ``state`` under ``key`` in memory (budget permitting) and in the store
        (e.g. states computed in a batch by the embed queue)."""
        self._memory_put(key, state)
        if self.store is None:
            return
        try:
            self.store.put(key, self.engine.state_to_bytes(state))
        except Exception:  # a failing store must not fail the request
            with self._lock:
                self.store_errors += 1
            log.warning("embedding store put failed for %s", key, exc_info=True)

    def contains(self, key: str) -> bool:
        """Whether ``key`` is in the memory LRU (no store lookup, no recency update)."""
        with self._lock:
            return key in self._lru

    def evict(self, key: str) -> None:
        """Drop ``key`` from memory (the store copy stays)."""
        with self._lock:
            entry = self._lru.pop(key, None)
            if entry is not None:
                self._memory_bytes -= entry[1]

    def clear_memory(self) -> None:
        """Empty the memory LRU (the store is untouched)."""
        with self._lock:
            self._lru.clear()
            self._memory_bytes = 0

    @property
    def memory_bytes(self) -> int:
        return self._memory_bytes

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                hits_memory=self.hits_memory,
                hits_store=self.hits_store,
                computed=self.computed,
                evictions=self.evictions,
                store_errors=self.store_errors,
                memory_bytes=self._memory_bytes,
                memory_items=len(self._lru),
            )

    def reset_stats(self) -> None:
        with self._lock:
            self.hits_memory = self.hits_store = self.computed = 0
            self.evictions = self.store_errors = 0

    # ------------------------------------------------------------------ internals

    def _memory_get(self, key: str) -> Any | None:
        with self._lock:
            entry = self._lru.get(key)
            if entry is None:
                return None
            self._lru.move_to_end(key)  # most recently used at the end
            self.hits_memory += 1
            return entry[0]

    def _memory_put(self, key: str, state: Any) -> None:
        size = int(self.engine.state_nbytes(state))
        with self._lock:
            old = self._lru.pop(key, None)
            if old is not None:
                self._memory_bytes -= old[1]
            if size > self.memory_limit_bytes:
                return  # would evict everything and still not fit: store-only
            # Evict least recently used (front) until the newcomer fits.
            while self._lru and self._memory_bytes + size > self.memory_limit_bytes:
                _, (_, freed) = self._lru.popitem(last=False)
                self._memory_bytes -= freed
                self.evictions += 1
            self._lru[key] = (state, size)
            self._memory_bytes += size

    def _store_get(self, key: str) -> Any | None:
        if self.store is None:
            return None
        try:
            data = self.store.get(key)
            if data is None:
                return None
            return self.engine.state_from_bytes(data)
        except Exception:  # unreadable/corrupt entry: recompute, overwrite
            with self._lock:
                self.store_errors += 1
            log.warning("embedding store entry %s unusable; recomputing", key, exc_info=True)
            return None

    def _acquire_key_lock(self, key: str) -> threading.Lock:
        with self._lock:
            lock, users = self._key_locks.get(key, (None, 0))
            if lock is None:
                lock = threading.Lock()
            self._key_locks[key] = (lock, users + 1)
        lock.acquire()
        return lock

    def _release_key_lock(self, key: str, lock: threading.Lock) -> None:
        lock.release()
        with self._lock:
            _, users = self._key_locks[key]
            if users <= 1:
                del self._key_locks[key]  # keep the dict from growing with every key
            else:
                self._key_locks[key] = (lock, users - 1)
