"""Per-frame features of the project model, cached on this worker's local disk.

Features depend only on the frame's pixels (``workers.learning.features``), so they are
computed once per frame and reused by every training, queue refresh, proposal run and
click prior. The cache is local (``VAR_DIR/cache/features``, float16) and bounded by
``FEATURE_CACHE_MB``: the oldest files go first. It is a cache, never the only copy:
a worker on another machine computes its own."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np
from django.conf import settings

from annotator.models import Asset
from workers.engines.embedding_cache import embedding_key
from workers.learning.features import FEATURE_VERSION, frame_features
from workers.learning.sam_features import embedding_features
from workers.runtime.engine_pool import forget_deleted, frame_rgb, get_cache, get_engine

#: Model kinds: the weight-free pixel classifier, or its head on SAM embeddings too.
PIXEL = "pixel"
SAM_HEAD = "sam-head"


def model_kind() -> str:
    """The kind a new version is trained as: on SAM's embeddings when SAM is configured."""
    return SAM_HEAD if settings.SAM_CHECKPOINT else PIXEL


logger = logging.getLogger(__name__)
_lock = threading.Lock()
#: Check the cache's size after this many writes (a directory walk each time is costly).
TRIM_EVERY = 32
_writes = 0


def cache_dir() -> Path:
    return Path(settings.VAR_DIR) / "cache" / "features" / FEATURE_VERSION


def _path(asset: Asset, frame: int) -> Path:
    return cache_dir() / str(asset.pk) / f"{frame}-{(asset.checksum or 'x')[:16]}.npy"


def frame_and_features(
    asset: Asset, frame: int, kind: str = PIXEL
) -> tuple[np.ndarray, np.ndarray]:
    """``(image, features)`` of one frame: the image read from storage, the features
    from the cache or computed (and cached)."""
    image = frame_rgb(asset, frame)
    return image, features_of(asset, frame, image, kind)


def features_of(
    asset: Asset, frame: int, image: np.ndarray | None = None, kind: str = PIXEL
) -> np.ndarray:
    """The features a model of ``kind`` sees on one frame: the filter bank, plus for a
    ``sam-head`` SAM's embedding of the frame (from the engine's cache, shared with
    clicks; computed there when missing)."""
    pixel = _pixel_features(asset, frame, image)
    if kind != SAM_HEAD:
        return pixel
    if image is None:
        image = frame_rgb(asset, frame)
    engine = get_engine("sam")
    key = embedding_key(asset.pk, frame, engine.model_id, asset.checksum)
    cache = get_cache("sam")
    state, origin = cache.get_state(key, lambda: image)
    if origin == "computed":  # stored just now: not for an asset deleted meanwhile
        forget_deleted(cache, {asset.pk: [key]})
    sam = embedding_features(state.features, state.input_size, image.shape[:2])
    return np.concatenate([pixel, sam], axis=-1)


def _pixel_features(asset: Asset, frame: int, image: np.ndarray | None) -> np.ndarray:
    path = _path(asset, frame)
    try:
        return np.load(path).astype(np.float32)
    except (OSError, ValueError):
        pass
    if image is None:
        image = frame_rgb(asset, frame)
    features = frame_features(image)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        with open(partial, "wb") as stream:
            np.save(stream, features.astype(np.float16))
        os.replace(partial, path)
        _note_write()
    except OSError:
        logger.warning("could not cache the features of %s/%s", asset.pk, frame, exc_info=True)
    return features


def _note_write() -> None:
    global _writes
    with _lock:
        _writes += 1
        if _writes % TRIM_EVERY:
            return
    trim(settings.FEATURE_CACHE_MB * 1024 * 1024)


def trim(budget_bytes: int) -> int:
    """Remove the oldest cached files until the cache fits ``budget_bytes``; returns how
    many were removed."""
    files = []
    for path in cache_dir().parent.rglob("*.npy"):
        try:
            stat = path.stat()
        except OSError:
            continue
        files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    removed = 0
    for _, size, path in sorted(files):
        if total <= budget_bytes:
            break
        try:
            path.unlink()
        except OSError:
            continue
        total -= size
        removed += 1
    return removed
