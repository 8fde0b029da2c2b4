"""The ``predict`` task family (``interactive`` queue): click -> mask, and ``ping``.

The web process waits on a Redis reply list named in the message
(``annotator.redis_client.wait_reply``); the answer is the API's response body or
``{"error", "code"}``, so no caller waits out its timeout. Per process, the last
low-resolution logits of each returned mask are kept so a follow-up click that sends
the mask back refines from SAM's logits; in Redis (shared by every process), the last
result of each click sequence, so a client that sends only its clicks is refined from
its previous result too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import threading
import time
from collections import OrderedDict
from typing import Any

import numpy as np
import redis
from celery import shared_task

from annotator import task_routes
from annotator.models import Asset
from annotator.redis_client import get_redis, push_reply
from formats.rle import decode_mask, encode_mask
from workers.engines import Click, Prompts, Scribble
from workers.engines.embedding_cache import embedding_key
from workers.runtime.engine_pool import (
    EngineNotConfigured,
    forget_deleted,
    frame_rgb,
    get_cache,
    get_engine,
    resolve_engine_name,
)
from workers.runtime.learning import click_prior

logger = logging.getLogger(__name__)

#: A Redis write to make later: ``(key, value, ttl_s)``.
Memo = tuple[str, str, int]

_lock = threading.Lock()
# The last low-resolution logits per returned mask, so a follow-up click that sends the
# previous mask back refines from SAM's logits rather than from a binarised mask.
_LOGITS: OrderedDict[str, np.ndarray] = OrderedDict()
_LOGITS_MAX = 256
# The last result of each click sequence, in Redis (shared by every worker process), so
# a client that sends its clicks but not the previous mask is still refined from it.
SEQUENCE_KEY = "annotator:sequence:{digest}"
SEQUENCE_TTL_S = 15 * 60


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


def _click_prior(asset_id: int, frame: int, prior: dict[str, Any]) -> np.ndarray | None:
    """The project model's probability map for the click's label, or ``None`` (no usable
    model): a prior that cannot be computed never fails the click."""
    try:
        asset = Asset.objects.get(pk=asset_id)
        return click_prior(
            int(prior["project"]), int(prior["version"]), asset, frame, prior.get("label")
        )
    except Asset.DoesNotExist:
        raise
    except Exception:
        logger.exception("the model prior of asset %s frame %s failed", asset_id, frame)
        return None


def run_prediction(
    asset_id: int,
    frame: int,
    engine: str,
    prompts: dict[str, Any],
    checksum: str | None = None,
    prior: dict[str, Any] | None = None,
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
    ``previous_mask`` says which: ``"sent"``, ``"remembered"`` or ``"none"``.

    ``prior``: ``{"project", "version", "label"}`` once the project has a trained model:
    its probability map is the classical engine's extra prior (``workers.learning``)."""
    started = time.perf_counter()
    name = resolve_engine_name(engine)
    model_id = get_engine(name).model_id
    if checksum is None:
        checksum = Asset.objects.only("checksum").get(pk=asset_id).checksum
    key = embedding_key(asset_id, frame, model_id, checksum)
    cache = get_cache(name)
    state, origin = cache.get_state(key, lambda: frame_rgb(Asset.objects.get(pk=asset_id), frame))
    if origin == "computed":  # stored just now: not for an asset deleted meanwhile
        forget_deleted(cache, {asset_id: [key]})
    scope = f"{asset_id}:{frame}:{model_id}"
    previous = "sent" if prompts.get("mask") else "none"
    remembered = _recall_previous(scope, prompts)
    if remembered is not None:
        prompts = {**prompts, "mask": remembered}
        previous = "remembered"
    engine_prompts = prompts_from_json(prompts, scope)
    if prior and name == "classical":
        engine_prompts.prior = _click_prior(asset_id, frame, prior)
    prediction = get_engine(name).predict(state, engine_prompts)
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


@shared_task(name=task_routes.PREDICT, acks_late=False, ignore_result=True)
def predict(
    asset_id: int,
    frame: int,
    engine: str,
    prompts: dict[str, Any],
    reply_key: str | None = None,
    checksum: str | None = None,
    prior: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Click -> mask. Runs on the ``interactive`` queue; the web process waits on the
    Redis list ``reply_key`` (see ``annotator.redis_client.wait_reply``). Errors the user
    can fix come back as ``{"error", "code"}``; anything else as ``code: worker_error``
    (logged here with its traceback), so the caller never waits for its timeout.
    ``checksum``: the asset's, so a cached state is found without a query."""
    memo = None
    try:
        payload, memo = run_prediction(asset_id, frame, engine, prompts, checksum, prior)
    except Asset.DoesNotExist:
        payload = {"error": "the asset no longer exists", "code": "not_found"}
    except EngineNotConfigured as exc:
        payload = {"error": str(exc), "code": "engine_unavailable"}
    except ValueError as exc:
        payload = {"error": str(exc), "code": "invalid_prompt"}
    except Exception as exc:
        logger.exception("predict failed for asset %s frame %s", asset_id, frame)
        # The text and traceback stay in the log: the answer names the kind of fault.
        kind = type(exc).__name__
        payload = {"error": f"{kind} (the worker's log has details)", "code": "worker_error"}
    if reply_key:
        # The result's memory rides in the reply's round trip (after the reply).
        push_reply(reply_key, payload, also_set=memo)
    else:
        remember(memo)
    return payload


@shared_task(name=task_routes.PING, acks_late=False, ignore_result=False)
def ping() -> dict[str, Any]:
    """A no-op on the interactive queue: its round trip is the queue's own latency
    (bench/latency.py subtracts it to split the overhead between HTTP and Celery). The
    answer says which process served it and its CPU thread settings, for diagnosis."""
    torch = sys.modules.get("torch")
    return {
        "pid": os.getpid(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
    }
