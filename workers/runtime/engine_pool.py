"""Engines per worker process and their embedding caches over media storage.

Each process builds an engine once (SAM loads its weights once) and keeps its prepared
per-frame states in an :class:`EmbeddingCache`: a bounded in-memory LRU in front of the
media storage (local files or S3), keyed by asset, frame, model and checksum.
"""

from __future__ import annotations

import threading

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotator.media import load_rgb
from annotator.models import Asset, Frame
from annotator.services.assets import StoredFiles, display_path, remove_files
from workers.engines import Engine, build_engine
from workers.engines.embedding_cache import EmbeddingCache


class EngineNotConfigured(Exception):
    pass


class StorageByteStore:
    """Embedding states in Django's default storage (local files or S3)."""

    def get(self, key: str) -> bytes | None:
        try:
            with default_storage.open(key, "rb") as stream:
                return bytes(stream.read())
        except (FileNotFoundError, OSError):
            return None

    def exists(self, key: str) -> bool:
        return bool(default_storage.exists(key))

    def put(self, key: str, data: bytes) -> None:
        if default_storage.exists(key):
            default_storage.delete(key)
        default_storage.save(key, ContentFile(data))


_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_caches: dict[str, EmbeddingCache] = {}


def resolve_engine_name(requested: str) -> str:
    if requested == "auto":
        return "sam" if settings.SAM_CHECKPOINT else "classical"
    if requested == "sam" and not settings.SAM_CHECKPOINT:
        raise EngineNotConfigured("SAM is not configured on this worker (SAM_CHECKPOINT is unset)")
    return requested


def get_engine(name: str) -> Engine:
    with _lock:
        engine = _engines.get(name)
        if engine is None:
            if name == "sam":
                engine = build_engine(
                    "sam", checkpoint=settings.SAM_CHECKPOINT, model_type=settings.SAM_MODEL_TYPE
                )
            else:
                engine = build_engine(name)
            _engines[name] = engine
            _caches[name] = EmbeddingCache(
                engine, memory_limit_mb=settings.EMBEDDING_CACHE_MB, store=StorageByteStore()
            )
        return engine


def get_cache(name: str) -> EmbeddingCache:
    get_engine(name)
    return _caches[name]


def state_is_cached(cache: EmbeddingCache, key: str) -> bool:
    """In memory, or in storage (without reading it)."""
    if cache.contains(key):
        return True
    return isinstance(cache.store, StorageByteStore) and cache.store.exists(key)


def frame_rgb(asset: Asset, frame: int) -> np.ndarray:
    """``(H, W, 3) uint8`` RGB of one frame of an asset."""
    row = Frame.objects.filter(asset=asset, index=frame).first()
    path = row.image.name if row is not None and row.image.name else display_path(asset)
    with asset.file.storage.open(path, "rb") as stream:
        return load_rgb(stream)


def forget_deleted(cache: EmbeddingCache, keys: dict[int, list[str]]) -> None:
    """Drop the states just stored for assets deleted meanwhile. Checked after the
    store: a delete that committed before it finds the row gone here, one that commits
    after it finds the files (``annotator.services.assets.remove_files``)."""
    alive = set(Asset.objects.filter(pk__in=list(keys)).values_list("pk", flat=True))
    gone = {pk for pk in keys if pk not in alive}
    if not gone:
        return
    for pk in gone:
        for key in keys[pk]:
            cache.evict(key)
    remove_files(StoredFiles(asset_ids=gone))
