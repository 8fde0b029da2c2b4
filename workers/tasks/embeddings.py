from __future__ import annotations

import functools
import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from annotator.models import Asset, EmbeddingStatus, Job, JobStatus
from annotator.redis_client import push_reply
from annotator.services.jobs import finish_job
from workers.engines.embedding_cache import embedding_key
from workers.interactive import (
    EngineNotConfigured,
    frame_rgb,
    get_cache,
    get_engine,
    remember,
    resolve_engine_name,
    run_prediction,
    state_is_cached,
)
from workers.jobs import JobFailed, JobRun, run_job

logger = logging.getLogger(__name__)


def _claim_companions(job: Job, limit: int) -> list[Job]:
    """Claim up to ``limit`` other queued single-frame embed jobs so one encoder pass
    embeds them together. Their own task messages later find them finished and do
    nothing (claim only takes queued or running jobs)."""
    if limit <= 0:
        return []
    candidates = (
        Job.objects.filter(kind="embed", status=JobStatus.QUEUED, asset__num_frames=1)
        .filter(~Q(pk=job.pk))
        .order_by("id")
        .values_list("pk", flat=True)[: limit * 2]
    )
    claimed = []
    for pk in candidates:
        # queued -> running only: a job another worker already runs is not taken.
        if Job.objects.filter(pk=pk, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING, started=timezone.now()
        ):
            claimed.append(Job.objects.get(pk=pk))
        if len(claimed) >= limit:
            break
    return claimed


def _mark_ready(asset_ids: list[int], model_id: str) -> None:
    Asset.objects.filter(pk__in=asset_ids).update(
        embedding_status=EmbeddingStatus.READY, embedding_model=model_id
    )


@shared_task(name="workers.embed_asset", acks_late=True, ignore_result=True)
def embed_asset(job_id: int) -> None:
    """Prepare the default engine's state for every frame of an asset and keep it in the
    cache (storage + memory). Idempotent: states already stored are not recomputed.
    With an engine that embeds in batches (SAM), queued embed jobs of other images are
    claimed and embedded in the same pass (``EMBED_BATCH_SIZE``)."""
    with run_job(job_id) as run:
        if run is None or run.job.asset_id is None:
            return
        asset = Asset.objects.get(pk=run.job.asset_id)
        try:
            name = resolve_engine_name(run.job.params.get("engine", "auto"))
            engine = get_engine(name)
        except (EngineNotConfigured, Exception) as exc:
            Asset.objects.filter(pk=asset.pk).update(embedding_status=EmbeddingStatus.FAILED)
            raise JobFailed(f"engine unavailable: {exc}") from exc
        if hasattr(engine, "prepare_batch") and asset.num_frames == 1:
            _embed_batch(run, asset, name)
            return
        cache = get_cache(name)
        origins = []
        for frame in range(asset.num_frames):
            key = embedding_key(asset.pk, frame, engine.model_id, asset.checksum)
            _, origin = cache.get_state(key, functools.partial(frame_rgb, asset, frame))
            origins.append(origin)
            run.progress((frame + 1) / asset.num_frames, f"frame {frame + 1}/{asset.num_frames}")
        _mark_ready([asset.pk], engine.model_id)
        run.result = {
            "engine": name,
            "model": engine.model_id,
            "computed": origins.count("computed"),
        }


def _embed_batch(run: JobRun, asset: Asset, name: str) -> None:
    engine = get_engine(name)
    cache = get_cache(name)
    companions = _claim_companions(run.job, settings.EMBED_BATCH_SIZE - 1)
    jobs = [run.job, *companions]
    assets = {a.pk: a for a in Asset.objects.filter(pk__in=[j.asset_id for j in jobs])}
    todo: list[tuple[Job, Asset, str]] = []
    for job in jobs:
        item = assets.get(job.asset_id or 0)
        if item is None:  # deleted meanwhile: its job went with it
            continue
        key = embedding_key(item.pk, 0, engine.model_id, item.checksum)
        if state_is_cached(cache, key):
            continue
        todo.append((job, item, key))
    try:
        if todo:
            images = [frame_rgb(item, 0) for _, item, _ in todo]
            states = engine.prepare_batch(images)  # type: ignore[attr-defined]
            for (_, _, key), state in zip(todo, states, strict=True):
                cache.put_state(key, state)
        ready = [j.asset_id for j in jobs if j.asset_id in assets]
        _mark_ready([pk for pk in ready if pk is not None], engine.model_id)
    except Exception:
        # The companions were claimed by this task: give them back to the queue so
        # their own messages run them one by one.
        Job.objects.filter(pk__in=[j.pk for j in companions], status=JobStatus.RUNNING).update(
            status=JobStatus.QUEUED
        )
        raise
    for job in companions:
        finish_job(job.pk, {"engine": name, "model": engine.model_id, "batched_with": run.job.pk})
    run.result = {
        "engine": name,
        "model": engine.model_id,
        "computed": len(todo),
        "batch": [j.pk for j in jobs],
    }


@shared_task(name="workers.predict", acks_late=False, ignore_result=True)
def predict(
    asset_id: int,
    frame: int,
    engine: str,
    prompts: dict[str, Any],
    reply_key: str | None = None,
    checksum: str | None = None,
) -> dict[str, Any]:
    """Click -> mask. Runs on the ``interactive`` queue; the web process waits on the
    Redis list ``reply_key`` (see ``annotator.redis_client.wait_reply``). Errors the user
    can fix come back as ``{"error", "code"}``; anything else as ``code: worker_error``
    (logged here with its traceback), so the caller never waits for its timeout.
    ``checksum``: the asset's, so a cached state is found without a query."""
    memo = None
    try:
        payload, memo = run_prediction(asset_id, frame, engine, prompts, checksum)
    except Asset.DoesNotExist:
        payload = {"error": "the asset no longer exists", "code": "not_found"}
    except EngineNotConfigured as exc:
        payload = {"error": str(exc), "code": "engine_unavailable"}
    except ValueError as exc:
        payload = {"error": str(exc), "code": "invalid_prompt"}
    except Exception as exc:
        logger.exception("predict failed for asset %s frame %s", asset_id, frame)
        payload = {"error": f"{type(exc).__name__}: {exc}", "code": "worker_error"}
    if reply_key:
        # The result's memory rides in the reply's round trip (after the reply).
        push_reply(reply_key, payload, also_set=memo)
    else:
        remember(memo)
    return payload


@shared_task(name="workers.ping", acks_late=False, ignore_result=False)
def ping() -> dict[str, Any]:
    """A no-op on the interactive queue: its round trip is the queue's own latency
    (bench/latency.py subtracts it to split the overhead between HTTP and Celery). The
    answer says which process served it and its CPU thread settings, for diagnosis."""
    import os
    import sys

    torch = sys.modules.get("torch")
    return {
        "pid": os.getpid(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
    }
