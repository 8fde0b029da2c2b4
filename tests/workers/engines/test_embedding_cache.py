"""EmbeddingCache with a fake (torch-free) engine: LRU budget, store levels, counters."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from workers.engines.base import Prediction, Prompts
from workers.engines.embedding_cache import (
    DirectoryByteStore,
    EmbeddingCache,
    MemoryByteStore,
    embedding_key,
)

MB = 1024 * 1024


class FakeEngine:
    """State = a float32 array whose size is set by the image; counts prepare calls."""

    name = "fake"
    model_id = "fake-1"

    def __init__(self, delay: float = 0.0) -> None:
        self.prepared = 0
        self.delay = delay
        self._lock = threading.Lock()

    def prepare(self, image: np.ndarray) -> np.ndarray:
        with self._lock:
            self.prepared += 1
        if self.delay:
            time.sleep(self.delay)
        return image.astype(np.float32)

    def predict(self, state: Any, prompts: Prompts) -> Prediction:  # pragma: no cover
        raise NotImplementedError

    def state_to_bytes(self, state: np.ndarray) -> bytes:
        buf = io.BytesIO()
        np.save(buf, state, allow_pickle=False)
        return buf.getvalue()

    def state_from_bytes(self, data: bytes) -> np.ndarray:
        return np.load(io.BytesIO(data), allow_pickle=False)

    def state_nbytes(self, state: np.ndarray) -> int:
        return int(state.nbytes)


def quarter_mb(value: float = 0.0) -> np.ndarray:
    """An "image" whose state is exactly 0.25 MiB."""
    return np.full(MB // 16, value, np.float32)


def loader(value: float = 0.0, calls: list[int] | None = None) -> Any:
    def load() -> np.ndarray:
        if calls is not None:
            calls.append(1)
        return quarter_mb(value)

    return load


def test_embedding_key_format_and_sanitising() -> None:
    assert embedding_key(42, 3, "sam-vit_b-0123abcd", "ff00") == (
        "embeddings/sam-vit_b-0123abcd/42/3-ff00.npz"
    )
    key = embedding_key("../../etc", 0, "a/b", "x y")
    assert ".." not in key.split("/") and key.count("/") == 3
    assert key.startswith("embeddings/a_b/")


def test_levels_and_counters() -> None:
    engine, store = FakeEngine(), MemoryByteStore()
    cache = EmbeddingCache(engine, memory_limit_mb=4, store=store)
    calls: list[int] = []
    state, source = cache.get_state("a", loader(1.0, calls))
    assert source == "computed" and state[0] == 1.0
    assert "a" in store and len(calls) == 1

    again, source = cache.get_state("a", loader(1.0, calls))
    assert source == "memory" and again is state and len(calls) == 1

    cache.clear_memory()
    restored, source = cache.get_state("a", loader(1.0, calls))
    assert source == "store" and np.array_equal(restored, state) and len(calls) == 1
    _, source = cache.get_state("a", loader(1.0, calls))
    assert source == "memory"

    stats = cache.stats()
    assert (stats.hits_memory, stats.hits_store, stats.computed) == (2, 1, 1)
    assert stats.memory_items == 1 and stats.memory_bytes == MB // 4
    assert engine.prepared == 1
    cache.reset_stats()
    assert cache.stats().computed == 0


def test_lru_evicts_least_recently_used() -> None:
    engine = FakeEngine()
    cache = EmbeddingCache(engine, memory_limit_mb=0.5, store=None)  # two states fit
    cache.get_state("a", loader(1))
    cache.get_state("b", loader(2))
    cache.get_state("a", loader(1))  # a is now the most recent
    cache.get_state("c", loader(3))  # evicts b
    assert cache.contains("a") and cache.contains("c") and not cache.contains("b")
    assert cache.memory_bytes <= cache.memory_limit_bytes
    assert cache.evictions == 1
    _, source = cache.get_state("b", loader(2))  # no store: recomputed
    assert source == "computed" and engine.prepared == 4
    assert not cache.contains("a")  # a was the LRU one this time


def test_budget_always_respected() -> None:
    cache = EmbeddingCache(FakeEngine(), memory_limit_mb=1.1, store=MemoryByteStore())
    for i in range(20):
        cache.get_state(f"k{i}", loader(i))
        assert cache.memory_bytes <= cache.memory_limit_bytes
    assert cache.stats().memory_items == 4
    assert cache.evictions == 16


def test_oversized_state_is_stored_but_not_kept() -> None:
    store = MemoryByteStore()
    cache = EmbeddingCache(FakeEngine(), memory_limit_mb=0.1, store=store)
    _, source = cache.get_state("big", loader())
    assert source == "computed"
    assert not cache.contains("big") and cache.memory_bytes == 0
    assert "big" in store
    _, source = cache.get_state("big", loader())
    assert source == "store"


def test_zero_memory_budget_uses_store_only() -> None:
    cache = EmbeddingCache(FakeEngine(), memory_limit_mb=0, store=MemoryByteStore())
    sources = [cache.get_state("a", loader())[1] for _ in range(3)]
    assert sources == ["computed", "store", "store"]


def test_put_state_fills_both_levels() -> None:
    store = MemoryByteStore()
    cache = EmbeddingCache(FakeEngine(), memory_limit_mb=1, store=store)
    cache.put_state("pre", quarter_mb(5.0))
    assert cache.contains("pre") and "pre" in store
    state, source = cache.get_state("pre", loader())
    assert source == "memory" and state[0] == 5.0
    cache.put_state("pre", quarter_mb(6.0))  # replacing does not double-count bytes
    assert cache.memory_bytes == MB // 4
    cache.evict("pre")
    assert cache.get_state("pre", loader())[1] == "store"


def test_corrupt_store_entry_is_recomputed_and_overwritten() -> None:
    store = MemoryByteStore()
    store.put("a", b"not npy")
    cache = EmbeddingCache(FakeEngine(), memory_limit_mb=1, store=store)
    state, source = cache.get_state("a", loader(3.0))
    assert source == "computed" and cache.store_errors == 1
    cache.clear_memory()
    restored, source = cache.get_state("a", loader(3.0))
    assert source == "store" and np.array_equal(restored, state)


def test_failing_store_does_not_fail_requests() -> None:
    class Broken:
        def get(self, key: str) -> bytes | None:
            raise OSError("storage down")

        def put(self, key: str, data: bytes) -> None:
            raise OSError("storage down")

    cache = EmbeddingCache(FakeEngine(), memory_limit_mb=1, store=Broken())
    _, source = cache.get_state("a", loader())
    assert source == "computed"
    assert cache.store_errors == 2  # one failed get, one failed put
    assert cache.get_state("a", loader())[1] == "memory"


def test_concurrent_misses_compute_once() -> None:
    engine = FakeEngine(delay=0.05)
    cache = EmbeddingCache(engine, memory_limit_mb=4, store=MemoryByteStore())
    sources: list[str] = []
    lock = threading.Lock()

    def worker(key: str) -> None:
        _, source = cache.get_state(key, loader())
        with lock:
            sources.append(source)

    threads = [threading.Thread(target=worker, args=("same",)) for _ in range(6)]
    threads += [threading.Thread(target=worker, args=(f"other{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert engine.prepared == 4  # "same" once, each "other" once
    assert sources.count("computed") == 4 and sources.count("memory") == 5
    assert cache._key_locks == {}  # per-key locks are cleaned up


def test_directory_store(tmp_path: Path) -> None:
    store = DirectoryByteStore(tmp_path / "cache")
    key = embedding_key(7, 0, "sam-tiny-abc", "c0ffee")
    assert store.get(key) is None
    store.put(key, b"one")
    store.put(key, b"two")  # overwrite
    assert store.get(key) == b"two"
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert [p.name for p in files] == ["0-c0ffee.npz"]  # no temp files left behind
    with pytest.raises(ValueError):
        store.put("../outside.npz", b"x")

    cache = EmbeddingCache(FakeEngine(), memory_limit_mb=0, store=store)
    cache.get_state("embeddings/k.npz", loader(9.0))
    state, source = cache.get_state("embeddings/k.npz", loader())
    assert source == "store" and state[0] == 9.0


def test_negative_budget_rejected() -> None:
    with pytest.raises(ValueError):
        EmbeddingCache(FakeEngine(), memory_limit_mb=-1)


def test_module_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, workers.engines.embedding_cache, workers.engines.sam_checkpoints; "
        "sys.exit('torch' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[3]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0
