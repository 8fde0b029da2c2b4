"""The embed task in-process: batching of queued jobs, idempotence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from annotator.models import Asset, EmbeddingStatus, Job, JobStatus
from annotator.services.assets import ingest_upload
from tests.conftest import png_bytes
from workers.engines.embedding_cache import embedding_key
from workers.runtime import engine_pool
from workers.runtime.embed import embed_asset

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_sam(settings: Any, tiny_sam_checkpoint: Path) -> Iterator[None]:
    settings.SAM_CHECKPOINT = str(tiny_sam_checkpoint)
    settings.SAM_MODEL_TYPE = "tiny"
    settings.EMBED_BATCH_SIZE = 3
    engine_pool._engines.clear()
    engine_pool._caches.clear()
    yield
    engine_pool._engines.clear()
    engine_pool._caches.clear()


def _assets(team: dict[str, Any], count: int) -> list[Asset]:
    return [
        ingest_upload(
            team["project"],
            SimpleUploadedFile(f"{i}.png", png_bytes(64, 48, seed=i)),
            team["owner"],
        )
        for i in range(count)
    ]


def test_one_task_embeds_queued_images_together(team: dict[str, Any], tiny_sam: None) -> None:
    assets = _assets(team, 4)
    jobs = [Job.objects.get(asset=a, kind="embed") for a in assets]
    embed_asset(jobs[0].pk)
    statuses = [Job.objects.get(pk=j.pk).status for j in jobs]
    assert statuses == [JobStatus.DONE, JobStatus.DONE, JobStatus.DONE, JobStatus.QUEUED]
    assert Job.objects.get(pk=jobs[0].pk).result["batch"] == [j.pk for j in jobs[:3]]
    cache = engine_pool.get_cache("sam")
    engine = engine_pool.get_engine("sam")
    for asset in assets[:3]:
        key = embedding_key(asset.pk, 0, engine.model_id, asset.checksum)
        assert engine_pool.state_is_cached(cache, key)
        assert Asset.objects.get(pk=asset.pk).embedding_status == EmbeddingStatus.READY
    # The companions' own messages arrive later and find nothing to do.
    finished = Job.objects.get(pk=jobs[1].pk).finished
    embed_asset(jobs[1].pk)
    assert Job.objects.get(pk=jobs[1].pk).finished == finished
    embed_asset(jobs[3].pk)
    assert Job.objects.get(pk=jobs[3].pk).status == JobStatus.DONE


def test_an_embedding_already_stored_is_not_recomputed(
    team: dict[str, Any], tiny_sam: None
) -> None:
    (asset,) = _assets(team, 1)
    job = Job.objects.get(asset=asset, kind="embed")
    embed_asset(job.pk)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)
    engine_pool.get_cache("sam").clear_memory()
    embed_asset(job.pk)
    assert Job.objects.get(pk=job.pk).result["computed"] == 0


def test_a_video_prefetch_embeds_only_the_frames_it_lists(
    team: dict[str, Any], tmp_path: Path, settings: Any
) -> None:
    from annotator.services.embeddings import prefetch_frames
    from tests.api.videos import disc_frames, make_video

    settings.STORAGES = {  # an empty media folder: no state of an earlier run is found
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }

    video = make_video(team["project"], disc_frames(6)[0])
    job = prefetch_frames(video, 4, 1, team["owner"])
    assert job is not None and job.params["frames"] == [4, 5, 3]
    embed_asset(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.result["computed"] == 3
    engine = engine_pool.get_engine("classical")
    cache = engine_pool.get_cache("classical")
    cached = [
        engine_pool.state_is_cached(
            cache, embedding_key(video.pk, f, engine.model_id, video.checksum)
        )
        for f in range(6)
    ]
    assert cached == [False, False, False, True, True, True]
    # A video is never "embedded" as a whole by a prefetch.
    assert Asset.objects.get(pk=video.pk).embedding_status == EmbeddingStatus.NONE
