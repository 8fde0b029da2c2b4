"""The ``embed`` task family (``embed`` queue): prepare the default engine's per-frame
state (SAM's image embedding) and keep it in the cache (storage + memory), so a click
only runs the decoder."""

from __future__ import annotations

import functools

from django.conf import settings

from annotator import task_routes
from annotator.models import Asset, EmbeddingStatus
from workers.engines.embedding_cache import embedding_key
from workers.runtime.engine_pool import (
    forget_deleted,
    frame_rgb,
    get_cache,
    get_engine,
    resolve_engine_name,
    state_is_cached,
)
from workers.runtime.lifecycle import JobFailed, JobRun, job_task


def _mark_ready(asset_ids: list[int], model_id: str) -> None:
    Asset.objects.filter(pk__in=asset_ids).update(
        embedding_status=EmbeddingStatus.READY, embedding_model=model_id
    )


@job_task(task_routes.EMBED_ASSET)
def embed_asset(run: JobRun) -> None:
    """Prepare the default engine's state for every frame of an asset, or for the
    frames the job's params list (``frames``: a video's frame being viewed first, then
    its neighbours). Idempotent: states already stored are not recomputed. With an
    engine that embeds in batches (SAM), queued embed jobs of other single-frame assets
    are claimed and embedded in the same pass (``EMBED_BATCH_SIZE``)."""
    asset = Asset.objects.filter(pk=run.job.asset_id or 0).first()
    if asset is None:
        return  # deleted meanwhile (its job normally goes with it)
    try:
        name = resolve_engine_name(run.job.params.get("engine", "auto"))
        engine = get_engine(name)
    except Exception as exc:
        Asset.objects.filter(pk=asset.pk).update(embedding_status=EmbeddingStatus.FAILED)
        raise JobFailed(f"engine unavailable: {exc}") from exc
    if hasattr(engine, "prepare_batch") and asset.num_frames == 1:
        _embed_batch(run, asset, name)
        return
    listed = run.job.params.get("frames")
    frames = (
        [f for f in listed if isinstance(f, int) and 0 <= f < asset.num_frames]
        if isinstance(listed, list)
        else list(range(asset.num_frames))
    )
    cache = get_cache(name)
    origins = []
    keys: list[str] = []
    try:
        for done, frame in enumerate(frames, start=1):
            keys.append(embedding_key(asset.pk, frame, engine.model_id, asset.checksum))
            _, origin = cache.get_state(keys[-1], functools.partial(frame_rgb, asset, frame))
            origins.append(origin)
            run.progress(done / len(frames), f"frame {frame} ({done}/{len(frames)})")
    finally:  # also when the progress report finds the job gone with its asset
        forget_deleted(cache, {asset.pk: keys})
    if not isinstance(listed, list):  # every frame: the asset as a whole is ready
        _mark_ready([asset.pk], engine.model_id)
    run.result = {"engine": name, "model": engine.model_id, "computed": origins.count("computed")}


def _embed_batch(run: JobRun, asset: Asset, name: str) -> None:
    """One encoder pass for this asset and up to ``EMBED_BATCH_SIZE - 1`` companions
    (queued embed jobs of other single-frame assets, claimed through the lifecycle:
    if this pass fails they go back to the queue)."""
    engine = get_engine(name)
    cache = get_cache(name)
    companions = run.claim_companions(settings.EMBED_BATCH_SIZE - 1, asset__num_frames=1)
    jobs = [run.job, *companions]
    assets = {a.pk: a for a in Asset.objects.filter(pk__in=[j.asset_id for j in jobs])}
    todo: list[tuple[Asset, str]] = []
    for job in jobs:
        item = assets.get(job.asset_id or 0)
        if item is None:  # deleted meanwhile: its job went with it
            continue
        key = embedding_key(item.pk, 0, engine.model_id, item.checksum)
        if not state_is_cached(cache, key):
            todo.append((item, key))
    if todo:
        states = engine.prepare_batch([frame_rgb(item, 0) for item, _ in todo])  # type: ignore[attr-defined]
        for (_, key), state in zip(todo, states, strict=True):
            cache.put_state(key, state)
        forget_deleted(cache, {item.pk: [key] for item, key in todo})
    _mark_ready(list(assets), engine.model_id)
    for job in companions:
        run.finish_companion(
            job.pk, {"engine": name, "model": engine.model_id, "batched_with": run.job.pk}
        )
    run.result = {
        "engine": name,
        "model": engine.model_id,
        "computed": len(todo),
        "batch": [j.pk for j in jobs],
    }
