"""Interactive prediction as the web process sees it: validate, queue, wait briefly."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import redis
from django.conf import settings
from kombu.exceptions import OperationalError

from annotator import task_routes
from annotator.celery import app
from annotator.errors import InvalidInput, Unavailable, WorkerFailed
from annotator.models import Asset, LabelClass, ModelStatus, ProjectModel
from annotator.redis_client import new_reply_key, queue_state, wait_reply
from annotator.services.annotations import frame_size
from formats.prompts import validate_engine, validate_prompts

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 2


def _prior_of(asset: Asset, label: Any) -> dict[str, Any] | None:
    """What the worker needs for the project model's prior (``None`` before a model is
    trained, or when its held-back mIoU is below ``LEARNING_PRIOR_MIN_MIOU``): the latest
    version and the label being drawn (``None``: any foreground)."""
    if label is not None:
        if isinstance(label, bool) or not isinstance(label, int):
            raise InvalidInput("label must be a label id", "unknown_label")
        if not LabelClass.objects.filter(pk=label, project_id=asset.project_id).exists():
            raise InvalidInput("no such label in this project", "unknown_label")
    latest = (
        ProjectModel.objects.filter(project_id=asset.project_id, status=ModelStatus.READY)
        .order_by("-version")
        .values_list("version", "metrics")
        .first()
    )
    if latest is None:
        return None
    version, metrics = latest
    miou = (metrics or {}).get("miou")
    if isinstance(miou, int | float) and miou < settings.LEARNING_PRIOR_MIN_MIOU:
        # A map that is confidently wrong where the first click lands costs clicks: a
        # version that did poorly on its held-back frames is not trusted with them.
        return None
    return {"project": asset.project_id, "version": version, "label": label}


def request_prediction(asset: Asset, body: Any) -> dict[str, Any]:
    """Send a predict request to the ``interactive`` queue and wait for the mask.

    Raises ``InvalidInput`` / ``PromptError`` for bad prompts (nothing is queued then)
    and ``Unavailable`` (503 + Retry-After) when no worker serves the queue or none
    answers in time."""
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object", "invalid_prompt")
    engine = validate_engine(body.get("engine"))
    if engine == "sam" and not settings.SAM_CHECKPOINT:
        raise InvalidInput(
            "SAM is not configured on this server (set SAM_CHECKPOINT)", "engine_unavailable"
        )
    frame = body.get("frame", 0)
    if isinstance(frame, bool) or not isinstance(frame, int):
        raise InvalidInput("frame must be an integer", "invalid_frame")
    height, width = frame_size(asset, frame)
    prompts = validate_prompts(body, width, height)
    prior = _prior_of(asset, body.get("label"))
    # One round trip: is a worker there, and how many clicks wait already?
    alive, backlog = queue_state(task_routes.INTERACTIVE)
    if not alive:
        raise Unavailable(
            "no worker is serving interactive requests right now",
            "no_worker",
            retry_after=RETRY_AFTER_S * 5,
        )
    if backlog >= settings.PREDICT_MAX_BACKLOG:
        # Shed load at once: a click behind this many others would wait out its timeout
        # anyway, holding a web thread all along (issue 15's load test).
        raise Unavailable(
            f"the interactive workers are busy ({backlog} requests waiting)",
            "busy",
            retry_after=RETRY_AFTER_S,
        )
    timeout = settings.PREDICT_TIMEOUT_S
    reply_key = new_reply_key()
    try:
        result = app.send_task(
            task_routes.PREDICT,
            args=[asset.pk, frame, engine, prompts],
            kwargs={"reply_key": reply_key, "checksum": asset.checksum, "prior": prior},
            ignore_result=True,  # the answer comes on the reply list, not the result backend
            # Logged instead of the prompts (a mask's RLE can be long; no need to format it).
            argsrepr=f"asset={asset.pk} frame={frame} engine={engine}",
            kwargsrepr="",
            queue=task_routes.queue_of(task_routes.PREDICT),
            expires=timeout,  # a request nobody waits for any more must not run later
        )
        answer = wait_reply(reply_key, timeout)
    except (redis.RedisError, OperationalError):
        logger.warning("predict: the queue cannot be reached", exc_info=True)
        raise Unavailable(
            "the queue cannot be reached", "no_worker", retry_after=RETRY_AFTER_S
        ) from None
    if answer is None:
        # Best effort: the message expires anyway, and Redis may have gone meanwhile.
        with contextlib.suppress(redis.RedisError, OperationalError):
            result.revoke()
        raise Unavailable(
            f"the interactive workers are busy (no answer within {timeout:g} s)",
            "busy",
            retry_after=RETRY_AFTER_S,
        )
    payload: dict[str, Any] = answer
    if payload.get("code") == "worker_error":
        raise WorkerFailed(f"the worker failed on this request: {payload['error']}")
    if "error" in payload:
        if payload.get("code") == "engine_unavailable":
            raise Unavailable(payload["error"], "engine_unavailable", retry_after=30)
        raise InvalidInput(payload["error"], payload.get("code", "invalid_prompt"))
    payload["prompts"] = prompts
    return payload
