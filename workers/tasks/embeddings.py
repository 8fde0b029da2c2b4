from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from annotator.models import Asset, EmbeddingStatus
from workers.engines.embedding_cache import embedding_key
from workers.interactive import (
    EngineNotConfigured,
    frame_rgb,
    get_cache,
    get_engine,
    predict_for_asset,
    resolve_engine_name,
)
from workers.jobs import JobFailed, run_job

logger = logging.getLogger(__name__)


@shared_task(name="workers.embed_asset", acks_late=True, ignore_result=True)
def embed_asset(job_id: int) -> None:
    """Prepare the default engine's state for every frame of an asset and keep it in the
    cache (storage + memory). Idempotent: states already stored are not recomputed."""
    with run_job(job_id) as run:
        if run is None or run.job.asset_id is None:
            return
        asset = Asset.objects.get(pk=run.job.asset_id)
        try:
            name = resolve_engine_name(run.job.params.get("engine", "auto"))
            engine = get_engine(name)
        except Exception as exc:
            Asset.objects.filter(pk=asset.pk).update(embedding_status=EmbeddingStatus.FAILED)
            raise JobFailed(f"engine unavailable: {exc}") from exc
        cache = get_cache(name)
        origins = []
        for frame in range(asset.num_frames):
            key = embedding_key(asset.pk, frame, engine.model_id, asset.checksum)
            _, origin = cache.get_state(key, lambda f=frame: frame_rgb(asset, f))
            origins.append(origin)
            run.progress((frame + 1) / asset.num_frames, f"frame {frame + 1}/{asset.num_frames}")
        Asset.objects.filter(pk=asset.pk).update(
            embedding_status=EmbeddingStatus.READY, embedding_model=engine.model_id
        )
        run.result = {
            "engine": name,
            "model": engine.model_id,
            "computed": origins.count("computed"),
        }


@shared_task(name="workers.predict", acks_late=False, ignore_result=False)
def predict(asset_id: int, frame: int, engine: str, prompts: dict[str, Any]) -> dict[str, Any]:
    """Click -> mask. Runs on the ``interactive`` queue; the web process waits for it.
    Errors the user can fix come back as ``{"error", "code"}`` rather than exceptions."""
    try:
        return predict_for_asset(asset_id, frame, engine, prompts)
    except Asset.DoesNotExist:
        return {"error": "the asset no longer exists", "code": "not_found"}
    except EngineNotConfigured as exc:
        return {"error": str(exc), "code": "engine_unavailable"}
    except ValueError as exc:
        return {"error": str(exc), "code": "invalid_prompt"}
