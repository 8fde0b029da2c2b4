"""Interactive prediction as the web process sees it, with the queue faked."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from kombu.exceptions import OperationalError

from annotator.services import predict as predict_service
from tests.annotator.sample_images import box_mask, rle_of
from tests.api.helpers import HEIGHT, WIDTH, assert_error

pytestmark = pytest.mark.django_db


class FakeResult:
    """What ``send_task`` returns: only ``revoke`` is used on the reply-list path."""

    def __init__(self) -> None:
        self.revoked = False

    def revoke(self) -> None:
        self.revoked = True


ANSWER = {
    "mask": rle_of(box_mask(HEIGHT, WIDTH, 1, 1, 9, 9)),
    "score": 0.9,
    "engine": "classical",
    "elapsed_ms": 12.0,
}


class FakeQueue:
    """Stands in for Celery and the reply list: records what is sent; the worker's
    answer is ``next_reply`` (``None``: no answer in time; an exception: Redis fails)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.next_reply: dict[str, Any] | Exception | None = ANSWER
        self.waited: list[tuple[str, float]] = []
        self.backlog = 0  # messages already waiting in the interactive queue

    def send_task(self, name: str, args: list[Any], **options: Any) -> FakeResult:
        result = FakeResult()
        self.calls.append({"name": name, "args": args, "options": options, "result": result})
        return result

    def wait_reply(self, key: str, timeout: float) -> dict[str, Any] | None:
        self.waited.append((key, timeout))
        if isinstance(self.next_reply, Exception):
            raise self.next_reply
        return dict(self.next_reply) if self.next_reply is not None else None


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> FakeQueue:
    """A live worker on the interactive queue, faked."""
    fake = FakeQueue()
    monkeypatch.setattr(predict_service, "queue_state", lambda name: (True, fake.backlog))
    monkeypatch.setattr(predict_service.app, "send_task", fake.send_task)
    monkeypatch.setattr(predict_service, "wait_reply", fake.wait_reply)
    return fake


def test_a_click_behind_a_full_queue_is_refused_at_once(
    owner_predicts: Any, queue: FakeQueue, settings: Any
) -> None:
    settings.PREDICT_MAX_BACKLOG = 5
    queue.backlog = 5
    response = owner_predicts(clicks=[{"x": 3, "y": 3}])
    assert_error(response, 503, "busy")
    assert response["Retry-After"] and not queue.calls and not queue.waited
    queue.backlog = 4
    assert owner_predicts(clicks=[{"x": 3, "y": 3}]).status_code == 200


def predict(client: Any, asset_id: int, **body: Any) -> Any:
    return client.post(f"/api/assets/{asset_id}/predict/", body, format="json")


@pytest.fixture
def owner_predicts(team: dict[str, Any], asset: Any, client_for: Any) -> Any:
    """``owner_predicts(**body)``: the project owner's predict request on ``asset``."""
    return lambda **body: predict(client_for(team["owner"]), asset.pk, **body)


def test_it_returns_the_workers_mask(
    team: dict[str, Any], asset: Any, client_for: Any, queue: FakeQueue
) -> None:
    response = predict(
        client_for(team["annotator"]), asset.pk, clicks=[{"x": 5, "y": 5}], engine="classical"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["mask"] == rle_of(box_mask(HEIGHT, WIDTH, 1, 1, 9, 9))
    assert (body["score"], body["engine"], body["elapsed_ms"]) == (0.9, "classical", 12.0)
    (call,) = queue.calls
    assert call["name"] == "workers.predict" and call["options"]["queue"] == "interactive"
    asset_id, frame, engine, prompts = call["args"]
    assert (asset_id, frame, engine) == (asset.pk, 0, "classical")
    assert prompts["clicks"][0]["x"] == 5.0 and body["prompts"] == prompts
    # The answer comes on the reply list named in the message, not the result backend.
    assert call["options"]["ignore_result"] is True
    # The worker finds the cached state by the checksum without reading the asset row.
    assert call["options"]["kwargs"]["checksum"] == asset.checksum
    assert queue.waited == [(call["options"]["kwargs"]["reply_key"], 10.0)]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "no_prompt"),
        ({"clicks": [{"x": 500, "y": 5}]}, "prompt_outside_image"),
        ({"clicks": [{"x": 5, "y": 5}], "engine": "magic"}, "unknown_engine"),
        ({"clicks": [{"x": 5, "y": 5}], "frame": 1}, "frame_out_of_range"),
        ({"clicks": [{"x": 5, "y": 5}], "frame": True}, "invalid_frame"),
        ({"clicks": [{"x": 5, "y": 5}], "frame": "0"}, "invalid_frame"),
        ({"mask": {"size": [1, 1], "counts": "1"}}, "mask_size_mismatch"),
    ],
)
def test_it_refuses_bad_prompts_without_queueing(
    body: dict[str, Any], code: str, owner_predicts: Any, queue: FakeQueue
) -> None:
    assert_error(owner_predicts(**body), 400, code)
    assert queue.calls == []


def test_sam_without_a_checkpoint_is_refused(
    team: dict[str, Any], asset: Any, client_for: Any, queue: FakeQueue, settings: Any
) -> None:
    settings.SAM_CHECKPOINT = None
    response = predict(client_for(team["owner"]), asset.pk, clicks=[{"x": 5, "y": 5}], engine="sam")
    assert_error(response, 400, "engine_unavailable")
    assert queue.calls == []


def test_no_worker_is_503_with_retry_after(
    team: dict[str, Any],
    asset: Any,
    client_for: Any,
    queue: FakeQueue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(predict_service, "queue_state", lambda queue: (False, 0))
    response = predict(client_for(team["owner"]), asset.pk, box=[0, 0, 10, 10])
    assert_error(response, 503, "no_worker")
    assert int(response["Retry-After"]) > 0
    assert queue.calls == []


def test_a_busy_worker_is_503_with_retry_after(
    team: dict[str, Any], asset: Any, client_for: Any, queue: FakeQueue
) -> None:
    queue.next_reply = None  # no answer within PREDICT_TIMEOUT_S (an expired message too)
    response = predict(client_for(team["owner"]), asset.pk, box=[0, 0, 10, 10])
    assert_error(response, 503, "busy")
    assert int(response["Retry-After"]) > 0
    assert queue.calls[0]["result"].revoked


def test_redis_failing_while_waiting_is_a_503_not_a_500(
    team: dict[str, Any], asset: Any, client_for: Any, queue: FakeQueue
) -> None:
    queue.next_reply = redis.ConnectionError("connection refused")
    response = predict(client_for(team["owner"]), asset.pk, box=[0, 0, 10, 10])
    assert_error(response, 503, "no_worker")
    assert "Retry-After" in response


def test_redis_failing_while_sending_is_a_503_not_a_500(
    team: dict[str, Any],
    asset: Any,
    client_for: Any,
    queue: FakeQueue,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(predict_service.app, "send_task", refuse)
    response = predict(client_for(team["owner"]), asset.pk, box=[0, 0, 10, 10])
    assert_error(response, 503, "no_worker")
    assert queue.waited == []


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"error": "nothing there", "code": "empty_prediction"}, 400, "empty_prediction"),
        ({"error": "no SAM weights", "code": "engine_unavailable"}, 503, "engine_unavailable"),
    ],
)
def test_a_worker_error_is_passed_on(
    payload: dict[str, Any], status: int, code: str, owner_predicts: Any, queue: FakeQueue
) -> None:
    queue.next_reply = payload
    assert_error(owner_predicts(box=[0, 0, 10, 10]), status, code)


def test_a_worker_crash_is_a_502_with_a_message_not_a_500(
    team: dict[str, Any], asset: Any, client_for: Any, queue: FakeQueue
) -> None:
    queue.next_reply = {"error": "RuntimeError: CUDA out of memory", "code": "worker_error"}
    response = predict(client_for(team["owner"]), asset.pk, clicks=[{"x": 5, "y": 5}])
    assert_error(response, 502, "worker_error")
    assert "CUDA out of memory" in response.json()["detail"]


def test_the_asset_and_the_callers_role_take_one_query(
    team: dict[str, Any],
    asset: Any,
    client_for: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_num_queries: Any,
) -> None:
    """On the click path access costs one query: the asset with the caller's role
    joined (plus the token's)."""
    from api.views import predict as predict_view

    seen: list[Any] = []
    monkeypatch.setattr(
        predict_view, "request_prediction", lambda asset, body: seen.append(asset) or ANSWER
    )
    client = client_for(team["annotator"])
    with django_assert_num_queries(2):  # the token, then the asset with the role
        response = predict(client, asset.pk, clicks=[{"x": 5, "y": 5}])
    assert response.status_code == 200, response.content
    assert [a.pk for a in seen] == [asset.pk]


@pytest.mark.parametrize(
    ("role", "status"), [("reviewer", 403), ("viewer", 403), ("outsider", 404)]
)
def test_only_roles_that_annotate_may_predict(
    role: str, status: int, team: dict[str, Any], asset: Any, client_for: Any, queue: FakeQueue
) -> None:
    response = predict(client_for(team[role]), asset.pk, clicks=[{"x": 5, "y": 5}])
    assert_error(response, status)
    assert queue.calls == []


def test_an_asset_of_another_project_does_not_exist_for_prediction(
    team: dict[str, Any], client_for: Any, other_asset: Any, queue: FakeQueue
) -> None:
    theirs = other_asset
    response = predict(client_for(team["owner"]), theirs.pk, clicks=[{"x": 5, "y": 5}])
    assert_error(response, 404)
    assert queue.calls == []
