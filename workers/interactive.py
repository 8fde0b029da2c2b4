"""The worker side of interactive segmentation: engines per process, the embedding
cache over media storage, and prompt JSON -> engine prompts."""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import redis
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotator.media import load_rgb
from annotator.models import Asset, Frame
from annotator.redis_client import get_redis
from annotator.services.assets import display_path
from formats.rle import decode_mask, encode_mask
from workers.engines import Click, Engine, Prompts, Scribble, build_engine
from workers.engines.embedding_cache import EmbeddingCache, embedding_key

#: A Redis write to make later: ``(key, value, ttl_s)``.
Memo = tuple[str, str, int]


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
# The last low-resolution logits per returned mask, so a follow-up click that sends the
# previous mask back refines from SAM's logits rather than from a binarised mask.
_LOGITS: OrderedDict[str, np.ndarray] = OrderedDict()
_LOGITS_MAX = 256
# The last result of each click sequence, in Redis (shared by every worker process), so
# a client that sends its clicks but not the previous mask is still refined from it.
SEQUENCE_KEY = "annotator:sequence:{digest}"
SEQUENCE_TTL_S = 15 * 60


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


def _mask_key(scope: str, rle: dict[str, Any]) -> str:
    """Logits belong to one engine on one frame: the key says which, plus the mask."""
    digest = hashlib.sha1(f"{rle['size']}:{rle['counts']}".encode()).hexdigest()
    return f"{scope}:{digest}"


def remember_logits(scope: str, rle: dict[str, Any], logits: np.ndarray | None) -> None:
    if logits is None:
        return
    key = _mask_key(scope, rle)
    with _lock:
        _LOGITS[key] = logits
        _LOGITS.move_to_end(key)
        while len(_LOGITS) > _LOGITS_MAX:
            _LOGITS.popitem(last=False)


def prompts_from_json(data: dict[str, Any], scope: str = "") -> Prompts:
    """API prompts -> engine prompts; ``scope`` ("asset:frame:engine") finds the logits
    of a mask this worker returned earlier, for SAM's iterative refinement."""
    mask_rle = data.get("mask")
    logits = None
    mask = None
    if mask_rle:
        mask = decode_mask(mask_rle)
        with _lock:
            logits = _LOGITS.get(_mask_key(scope, mask_rle))
    return Prompts(
        clicks=[Click(c["x"], c["y"], bool(c["positive"])) for c in data.get("clicks", [])],
        box=tuple(data["box"]) if data.get("box") else None,
        scribbles=[
            Scribble(np.asarray(s["points"], dtype=np.float64), bool(s["positive"]))
            for s in data.get("scribbles", [])
        ],
        mask=mask,
        logits=logits,
    )


def _sequence_key(scope: str, prompts: dict[str, Any], n_clicks: int) -> str:
    """Key of the result for the first ``n_clicks`` clicks of ``prompts`` (with the same
    box and scribbles) on one asset, frame and model (``scope``); timestamps ignored."""
    ident = [
        scope,
        prompts.get("box"),
        [[s["points"], bool(s["positive"])] for s in prompts.get("scribbles") or []],
        [[c["x"], c["y"], bool(c["positive"])] for c in (prompts.get("clicks") or [])[:n_clicks]],
    ]
    digest = hashlib.sha1(json.dumps(ident).encode()).hexdigest()
    return SEQUENCE_KEY.format(digest=digest)


def _recall_previous(scope: str, prompts: dict[str, Any]) -> dict[str, Any] | None:
    """The mask this server returned for the same prompts minus the newest click."""
    clicks = prompts.get("clicks") or []
    if prompts.get("mask") or len(clicks) < 2:
        return None
    try:
        raw = get_redis().get(_sequence_key(scope, prompts, len(clicks) - 1))
    except redis.RedisError:
        return None  # best effort: the prediction goes on without it
    return json.loads(raw) if raw else None


def result_memo(scope: str, prompts: dict[str, Any], rle: dict[str, Any]) -> Memo | None:
    """What to remember of a result (``(key, value, ttl_s)`` for Redis), so a client
    that sends only clicks has its next click refined from this result; ``None`` for
    prompts without clicks."""
    clicks = prompts.get("clicks") or []
    if not clicks:
        return None
    return (_sequence_key(scope, prompts, len(clicks)), json.dumps(rle), SEQUENCE_TTL_S)


def remember(memo: Memo | None) -> None:
    """Write a :func:`result_memo` on its own (best effort, like the recall)."""
    if memo is None:
        return
    with contextlib.suppress(redis.RedisError):
        get_redis().set(memo[0], memo[1], ex=memo[2])


def run_prediction(
    asset_id: int,
    frame: int,
    engine: str,
    prompts: dict[str, Any],
    checksum: str | None = None,
) -> tuple[dict[str, Any], Memo | None]:
    """Run one prediction; returns the API's response body (plus ``embedding`` and
    ``previous_mask``) and the :func:`result_memo` to write (the caller writes it, in
    the same Redis round trip as the reply where there is one).

    ``checksum``: the asset's, from the web process (which has just read the row): the
    state is then found by key without a query of its own, and the asset row is only
    read when the state must be computed from the image.

    Without a ``mask`` in ``prompts``, the result this server gave for the same prompts
    minus the newest click (kept ``SEQUENCE_TTL_S`` in Redis) is used as the previous
    mask, so each click refines the last result even for clients that only send clicks;
    ``previous_mask`` says which: ``"sent"``, ``"remembered"`` or ``"none"``."""
    started = time.perf_counter()
    name = resolve_engine_name(engine)
    model_id = get_engine(name).model_id
    if checksum is None:
        checksum = Asset.objects.only("checksum").get(pk=asset_id).checksum
    key = embedding_key(asset_id, frame, model_id, checksum)
    state, origin = get_cache(name).get_state(
        key, lambda: frame_rgb(Asset.objects.get(pk=asset_id), frame)
    )
    scope = f"{asset_id}:{frame}:{model_id}"
    previous = "sent" if prompts.get("mask") else "none"
    remembered = _recall_previous(scope, prompts)
    if remembered is not None:
        prompts = {**prompts, "mask": remembered}
        previous = "remembered"
    prediction = get_engine(name).predict(state, prompts_from_json(prompts, scope))
    rle = encode_mask(prediction.mask)
    remember_logits(scope, rle, prediction.low_res_logits)
    payload = {
        "mask": rle,
        "score": round(float(prediction.score), 4),
        "engine": name,
        "elapsed_ms": round((time.perf_counter() - started) * 1000.0, 1),
        "embedding": origin,
        "previous_mask": previous,
    }
    return payload, result_memo(scope, prompts, rle)
