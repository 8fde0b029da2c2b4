"""Tasks through a real Celery worker process and a real Redis."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from celery.exceptions import TaskRevokedError
from django.db import transaction
from pycocotools import mask as mask_utils

from annotator.models import Asset, EmbeddingStatus, Job, JobStatus
from annotator.services.jobs import cancel_job, start_job
from tests.conftest import png_bytes, wait_for_job

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def disc_png(width: int = 160, height: int = 120) -> bytes:
    """A red disc on a noisy blue background: an easy object for the engines."""
    import io

    from PIL import Image

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.zeros((height, width, 3), dtype=np.float64)
    image[...] = (40, 60, 160)
    disc = (xx - 80) ** 2 + (yy - 60) ** 2 <= 30**2
    image[disc] = (220, 50, 40)
    image += rng.normal(0, 8, image.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _upload_and_wait(team: dict[str, Any], upload_image: Any, data: bytes) -> Asset:
    response = upload_image(team["owner"], team["project"].pk, data)
    assert response.status_code == 201, response.content
    asset_id = response.json()["id"]
    for kind in ("thumbnail", "embed"):
        job = Job.objects.get(asset_id=asset_id, kind=kind)
        job = wait_for_job(job.pk)
        assert job.status == JobStatus.DONE, job.error
    return Asset.objects.get(pk=asset_id)


def test_upload_makes_thumbnail_and_embedding(
    celery_worker: Any, team: dict[str, Any], upload_image: Any, client_for: Any
) -> None:
    asset = _upload_and_wait(team, upload_image, png_bytes(300, 200))
    assert asset.status == "ready"
    assert asset.embedding_status == EmbeddingStatus.READY
    assert asset.embedding_model.startswith("sam-tiny")
    response = client_for(team["viewer"]).get(f"/api/assets/{asset.pk}/thumbnail")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    job = client_for(team["viewer"]).get(
        f"/api/jobs/{Job.objects.get(asset=asset, kind='thumbnail').pk}/"
    )
    assert job.json()["status"] == "done" and job.json()["progress"] == 1.0


@pytest.mark.parametrize("engine", ["classical", "sam"])
def test_predict_through_the_worker(
    celery_worker: Any,
    team: dict[str, Any],
    upload_image: Any,
    client_for: Any,
    settings: Any,
    tiny_sam_checkpoint: Any,
    engine: str,
) -> None:
    settings.SAM_CHECKPOINT = str(tiny_sam_checkpoint)
    asset = _upload_and_wait(team, upload_image, disc_png())
    client = client_for(team["annotator"])
    body = {"engine": engine, "clicks": [{"x": 80, "y": 60, "positive": True}]}
    response = client.post(f"/api/assets/{asset.pk}/predict/", body, format="json")
    assert response.status_code == 200, response.content
    result = response.json()
    assert result["engine"] == engine and result["elapsed_ms"] > 0
    mask = mask_utils.decode(
        {"size": result["mask"]["size"], "counts": result["mask"]["counts"].encode()}
    )
    assert mask.shape == (120, 160)
    if engine == "classical":
        yy, xx = np.mgrid[0:120, 0:160]
        truth = (xx - 80) ** 2 + (yy - 60) ** 2 <= 30**2
        iou = (mask.astype(bool) & truth).sum() / (mask.astype(bool) | truth).sum()
        assert iou > 0.8
    # A follow-up click that sends the mask back refines it (SAM: from its own logits).
    body = {
        "engine": engine,
        "clicks": body["clicks"] + [{"x": 10, "y": 10, "positive": False}],
        "mask": result["mask"],
    }
    second = client.post(f"/api/assets/{asset.pk}/predict/", body, format="json")
    assert second.status_code == 200, second.content
    # Not embedded again: from this pool process's memory, or from storage when the
    # other pool process answers.
    assert second.json()["embedding"] in ("memory", "store")


def test_predict_is_503_when_no_worker_serves_the_queue(
    celery_worker: Any, team: dict[str, Any], upload_image: Any, client_for: Any, monkeypatch: Any
) -> None:
    asset_id = upload_image(team["owner"], team["project"].pk).json()["id"]
    # A queue name nobody heartbeats for: Redis is asked for real and says no.
    monkeypatch.setattr("annotator.redis_client.WORKER_ALIVE_KEY", "annotator:alive:nobody-{queue}")
    started = time.monotonic()
    response = client_for(team["owner"]).post(
        f"/api/assets/{asset_id}/predict/", {"clicks": [{"x": 5, "y": 5}]}, format="json"
    )
    assert response.status_code == 503
    assert response.json()["code"] == "no_worker"
    assert int(response["Retry-After"]) > 0
    assert time.monotonic() - started < 2


def test_predict_is_503_when_the_worker_does_not_answer_in_time(
    celery_worker: Any, team: dict[str, Any], upload_image: Any, client_for: Any, settings: Any
) -> None:
    asset_id = upload_image(team["owner"], team["project"].pk).json()["id"]
    settings.PREDICT_TIMEOUT_S = 0.0005
    response = client_for(team["owner"]).post(
        f"/api/assets/{asset_id}/predict/",
        {"engine": "classical", "clicks": [{"x": 5, "y": 5}]},
        format="json",
    )
    assert response.status_code == 503
    assert response.json()["code"] == "busy"
    assert "Retry-After" in response


def test_a_worker_crash_answers_at_once_as_a_502(
    celery_worker: Any, team: dict[str, Any], upload_image: Any, client_for: Any
) -> None:
    asset = _upload_and_wait(team, upload_image, disc_png())
    asset.file.storage.delete(asset.file.name)  # the worker cannot read the image any more
    started = time.monotonic()
    response = client_for(team["owner"]).post(
        f"/api/assets/{asset.pk}/predict/",
        {"engine": "classical", "clicks": [{"x": 5, "y": 5}]},
        format="json",
    )
    assert response.status_code == 502, response.content
    assert response.json()["code"] == "worker_error"
    assert asset.file.name not in response.json()["detail"]  # the log has it, not the client
    assert time.monotonic() - started < 5  # the reply says so; no waiting for the timeout


def test_the_reply_list_carries_the_answer_and_expires(redis_server: str) -> None:
    from annotator.redis_client import REPLY_TTL_S, get_redis, new_reply_key, wait_reply
    from workers.runtime.predict import predict

    key = new_reply_key()
    # Run in this process: an asset that does not exist is a user error, answered.
    predict(987654321, 0, "classical", {"clicks": [{"x": 1, "y": 1, "positive": True}]}, key)
    assert 0 < get_redis().ttl(key) <= REPLY_TTL_S
    assert wait_reply(key, 1.0) == {"error": "the asset no longer exists", "code": "not_found"}
    assert not get_redis().exists(key)
    started = time.monotonic()
    assert wait_reply(new_reply_key(), 0.2) is None  # nobody answers: None after the wait
    assert time.monotonic() - started < 1.5


@pytest.mark.django_db
def test_the_reply_carries_the_result_and_the_worker_remembers_it(
    team: dict[str, Any], upload_image: Any, redis_server: str
) -> None:
    """The task answers on the reply list and, in the same Redis round trip, keeps the
    result for the clicks-only client's next click."""
    from annotator.redis_client import new_reply_key, wait_reply
    from workers.runtime.predict import predict

    asset = Asset.objects.get(pk=upload_image(team["owner"], team["project"].pk).json()["id"])
    first = {"x": 5.0, "y": 5.0, "positive": True}
    key = new_reply_key()
    predict(asset.pk, 0, "classical", {"clicks": [first]}, key, asset.checksum)
    reply = wait_reply(key, 1.0)
    assert reply is not None and reply["previous_mask"] == "none"
    second = new_reply_key()
    clicks = [first, {"x": 30.0, "y": 20.0, "positive": False}]
    predict(asset.pk, 0, "classical", {"clicks": clicks}, second, asset.checksum)
    refined = wait_reply(second, 1.0)
    assert refined is not None and refined["previous_mask"] == "remembered"
    # Exactly what a client that sends the first result back gets.
    third = new_reply_key()
    predict(asset.pk, 0, "classical", {"clicks": clicks, "mask": reply["mask"]}, third)
    sent = wait_reply(third, 1.0)
    assert sent is not None and sent["previous_mask"] == "sent"
    assert sent["mask"] == refined["mask"]


def test_a_job_cancelled_before_it_runs_never_runs(
    celery_worker: Any, team: dict[str, Any], upload_image: Any
) -> None:
    from annotator.celery import app

    asset_id = upload_image(team["owner"], team["project"].pk).json()["id"]
    asset = Asset.objects.get(pk=asset_id)
    wait_for_job(Job.objects.get(asset=asset, kind="thumbnail").pk)
    Asset.objects.filter(pk=asset_id).update(thumbnail="")
    with transaction.atomic():
        job = start_job(project=asset.project, kind="thumbnail", asset=asset)
        cancel_job(job)
    # The message is sent after commit; the worker's answer says what it did with it:
    # dropped as revoked, or run and found nothing to do.
    try:
        outcome = app.AsyncResult(job.celery_id).get(timeout=30)
    except TaskRevokedError:
        outcome = "revoked"
    assert outcome in ("revoked", "skipped")
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.attempts == 0
    assert not Asset.objects.get(pk=asset_id).thumbnail


def test_a_task_delivered_twice_does_no_harm(
    celery_worker: Any, team: dict[str, Any], upload_image: Any
) -> None:
    from annotator.celery import app

    asset_id = upload_image(team["owner"], team["project"].pk).json()["id"]
    job = wait_for_job(Job.objects.get(asset_id=asset_id, kind="thumbnail").pk)
    assert job.status == JobStatus.DONE
    assert app.AsyncResult(job.celery_id).get(timeout=30) == "done"
    finished = job.finished
    # The same message again (a redelivery), then a stray message with another id.
    app.AsyncResult(job.celery_id).forget()
    again = app.send_task("workers.make_thumbnail", args=[job.pk], task_id=job.celery_id)
    stray = app.send_task("workers.make_thumbnail", args=[job.pk])
    assert again.get(timeout=30) == "skipped" and stray.get(timeout=30) == "skipped"
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and job.finished == finished and job.attempts == 1
