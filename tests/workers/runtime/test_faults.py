"""Faults of the services around the workers: Redis restarted (losing every message, as
the embedded Redis keeps nothing on disk) in the middle of a job and of a click, and the
database connections of a worker killed in the middle of a job. Every job ends ``done``
(or ``failed`` with a reason) within a bounded time with nothing half-stored, and the
web side answers a clean 503 while Redis is down.

The real-worker tests run a Redis, a worker (one pool process) and a web server
(gunicorn) of their own (``private_stack.py``), on the session's test database, so
restarting that Redis touches no other test (CI's shared Redis included); the session's
own worker is paused meanwhile (its sweeps would take our queued jobs for lost). The
worker runs with ``JOB_HEARTBEAT_S=0.5`` and ``JOB_STALE_AFTER_S=3``. The first tests
check the lifecycle's part in-process; the database test needs PostgreSQL.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import OperationalError, connection, transaction
from rest_framework.authtoken.models import Token

from annotator.models import Export, Job, JobStatus
from annotator.redis_client import task_ids_in_broker
from annotator.services.projects import create_project
from tests.conftest import png_bytes, wait_for_job, worker_env
from tests.workers.runtime import private_stack, test_worker_loss
from tests.workers.runtime.private_stack import Answer, RedisServer, Web
from workers.runtime import lifecycle

big_project = test_worker_loss.big_project  # 4,000 annotations: an export of a few seconds
CLICK = {"engine": "classical", "clicks": [{"x": 20.0, "y": 20.0, "positive": True}]}


# --- the lifecycle's part, in-process ------------------------------------------------


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Task ids the lifecycle sends, recorded, not queued."""
    ids: list[str] = []

    def record(name: str, args: list[Any], **options: Any) -> str:
        ids.append(options["task_id"])
        return str(options["task_id"])

    monkeypatch.setattr(lifecycle, "send_task", record)
    return ids


def _queued(team: dict[str, Any], seconds_ago: float) -> Job:
    job = Job.objects.create(project=team["project"], kind="export", celery_id=str(uuid.uuid4()))
    Job.objects.filter(pk=job.pk).update(created=job.created - timedelta(seconds=seconds_ago))
    return job


@pytest.mark.django_db
def test_a_queued_job_whose_message_is_gone_is_sent_again(
    team: dict[str, Any], sent: list[str], monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.JOB_STALE_AFTER_S = 60
    lost, waiting, fresh = (_queued(team, age) for age in (61, 61, 1))
    monkeypatch.setattr(lifecycle, "task_ids_in_broker", lambda queues: {waiting.celery_id})
    assert lifecycle.resend_lost_deliveries() == {lost.pk: "resent"}
    old_delivery = lost.celery_id
    lost.refresh_from_db()
    assert lost.status == JobStatus.QUEUED and lost.attempts == 0
    assert sent == [lost.celery_id] and "message was lost" in lost.message
    # The old delivery, should it turn up after all, can no longer claim the job ...
    assert lifecycle.claim(lost.pk, old_delivery) is None
    # ... the new one is not sent again before the limit, nor a job queued just now.
    monkeypatch.setattr(lifecycle, "task_ids_in_broker", lambda queues: set())
    assert lifecycle.resend_lost_deliveries() == {waiting.pk: "resent"}
    assert Job.objects.get(pk=fresh.pk).celery_id == fresh.celery_id


@pytest.mark.django_db
def test_a_send_that_fails_leaves_the_job_queued_for_the_sweep(
    team: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broker_down(*args: Any, **kwargs: Any) -> str:
        raise OperationalError("Error 111 connecting to redis")

    monkeypatch.setattr(lifecycle, "send_task", broker_down)
    job = _queued(team, 0)
    lease = lifecycle.claim(job.pk, job.celery_id)
    assert lease is not None
    assert lifecycle.recover(lease, "the worker was lost") == "requeued"  # no exception
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED


@pytest.mark.django_db(transaction=True)  # outside a transaction, as a worker runs it
def test_a_body_that_loses_its_database_connection_runs_again(
    team: dict[str, Any], sent: list[str]
) -> None:
    job = _queued(team, 0)
    with lifecycle.run_job(job.pk, job.celery_id) as run:
        assert run is not None
        raise OperationalError("terminating connection due to administrator command")
    assert run.outcome == lifecycle.REQUEUED
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and sent == [job.celery_id]
    assert "database error" in job.message and "attempt 2 of 2" in job.message


@pytest.mark.django_db(transaction=True)
def test_a_failed_connection_is_replaced_once_outside_a_transaction() -> None:
    calls: list[bool] = []

    def query() -> int:
        calls.append(connection.in_atomic_block)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return 42

    assert lifecycle.reconnecting(query) == 42 and len(calls) == 2
    calls.clear()
    with pytest.raises(OperationalError), transaction.atomic():
        lifecycle.reconnecting(query)  # the transaction is gone with the connection
    assert calls == [True]


def test_the_broker_lookup_finds_waiting_and_unacknowledged_messages(
    redis_server: str,
) -> None:
    from annotator.redis_client import get_redis

    client, queue = get_redis(), f"faults-{uuid.uuid4().hex}"
    waiting, delivered = str(uuid.uuid4()), str(uuid.uuid4())
    message = '{"body": "W10=", "headers": {"id": "%s", "task": "workers.export_project"}}'
    try:
        client.rpush(queue, message % waiting)
        client.hset("unacked", "tag-" + queue, f'[{message % delivered}, "", "{queue}"]')
        found = task_ids_in_broker([queue])
    finally:
        client.delete(queue)
        client.hdel("unacked", "tag-" + queue)
    assert {waiting, delivered} <= found


# --- real worker, web server and Redis -----------------------------------------------


@dataclass
class Stack:
    redis: RedisServer
    web: Web
    folder: Path

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{private_stack.log_tail(self.folder / name)}"
            for name in ("worker.log", "web.log")
        )


@pytest.fixture(scope="module")
def stack(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Stack]:
    folder = Path(tempfile.mkdtemp(prefix="faults-", dir="/tmp"))  # a short socket path
    server = RedisServer(folder)
    server.start()
    with django_db_blocker.unblock():
        env = worker_env(
            {
                "REDIS_URL": server.url,
                "JOB_HEARTBEAT_S": "0.5",
                "JOB_STALE_AFTER_S": "3",
                "JOB_MAX_ATTEMPTS": "2",
                # Far above every wait below: a 503 in seconds is not a timeout.
                "PREDICT_TIMEOUT_S": "30",
            }
        )
    paused = private_stack.session_workers()
    private_stack.pause(paused, True)
    worker = web_server = None
    try:
        worker = private_stack.start_worker(env, folder / "worker.log")
        port = private_stack.free_port()
        web_server = private_stack.start_web(env, port, folder / "web.log")
        web = Web(port)
        web.wait_up(web_server)
        private_stack.wait_for_private_worker(server, worker)
        yield Stack(server, web, folder)
    finally:
        private_stack.stop(web_server)
        private_stack.stop(worker)
        server.kill()
        private_stack.pause(paused, False)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def token(big_project: dict[str, Any]) -> str:
    return str(Token.objects.get_or_create(user=big_project["owner"])[0].key)


def _start_export(stack: Stack, project_id: int, token: str) -> Export:
    answer = stack.web.call(
        "POST", f"/api/projects/{project_id}/exports/", token, {"format": "coco"}
    )
    assert answer.status == 202, (answer.body, stack.logs())
    return Export.objects.get(pk=answer.body["export"])


def _wait_running(stack: Stack, job_id: int, timeout: float = 60) -> Job:
    deadline = time.monotonic() + timeout
    while True:
        job = Job.objects.get(pk=job_id)
        assert not job.is_finished, f"job {job_id} ended ({job.status}) before the fault"
        if job.status == JobStatus.RUNNING and job.progress > 0:
            return job
        assert time.monotonic() < deadline, f"job {job_id} did not start\n{stack.logs()}"
        time.sleep(0.02)


def _pool_process(job: Job) -> int:
    return int(job.worker.rsplit(":", 1)[1])


def _image(stack: Stack, owner: Any, token: str) -> int:
    """An image to click on, uploaded through the web server; its jobs done. In a
    project of its own: the exports' project keeps its 200 assets."""
    project = create_project(owner, "Clicks", "", [{"name": "thing", "color": "#ff0000"}])
    answer = stack.web.upload(
        f"/api/projects/{project.pk}/assets/", token, "click.png", png_bytes(64, 48)
    )
    assert answer.status == 201, answer.body
    for job in Job.objects.filter(asset_id=answer.body["id"]):
        assert wait_for_job(job.pk, timeout=60).status == JobStatus.DONE
    return int(answer.body["id"])


def _assert_clean_503(answer: Answer, within: float) -> None:
    assert answer.status == 503, answer.body
    assert set(answer.body) >= {"detail", "code"} and answer.body["code"], answer.body
    assert int(answer.headers["Retry-After"]) > 0
    assert answer.seconds < within, f"a 503 after {answer.seconds:.1f} s"


def _assert_stored_once(export: Export) -> None:
    export.refresh_from_db()
    folder = f"exports/{export.project_id}"
    stored = [f for f in default_storage.listdir(folder)[1] if f.startswith(f"{export.pk}-")]
    assert stored == [f"{export.pk}-coco.zip"]
    with export.file.open("rb") as stream, zipfile.ZipFile(io.BytesIO(stream.read())) as zf:
        assert zf.testzip() is None and b'"annotations"' in zf.read("annotations.json")
    scratch = Path(settings.VAR_DIR) / "tmp"
    assert not list(scratch.glob(f"export-{export.job_id}-*.zip"))


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_redis_restarted_mid_job_and_mid_click(
    stack: Stack, big_project: dict[str, Any], token: str
) -> None:
    project_id = big_project["project"].pk
    asset_id = _image(stack, big_project["owner"], token)
    predict = f"/api/assets/{asset_id}/predict/"
    running = _start_export(stack, project_id, token)
    pool_process = _pool_process(_wait_running(stack, running.job_id))
    # Held for a moment (well within JOB_STALE_AFTER_S): the running export surely
    # outlasts what follows, whatever the machine's speed.
    sqlite = connection.settings_dict["NAME"] if connection.vendor == "sqlite" else None
    private_stack.freeze(pool_process, sqlite)
    try:
        waiting = _start_export(stack, project_id, token)  # the worker holds one message
        first_delivery = Job.objects.get(pk=waiting.job_id).celery_id
        assert first_delivery in str(stack.redis.client.lrange("jobs", 0, -1))
        # Redis dies while a click waits for its answer (queued behind the export).
        crash = threading.Timer(0.3, stack.redis.kill)
        crash.start()
        answer = stack.web.call("POST", predict, token, CLICK)
        crash.join()
    finally:
        os.kill(pool_process, signal.SIGCONT)
    _assert_clean_503(answer, within=5)
    # While it is down: answered at once, never a 500.
    _assert_clean_503(stack.web.call("POST", predict, token, CLICK), within=3)
    health = stack.web.call("GET", "/api/health/")
    assert health.status == 503 and health.body["redis"].startswith("error"), health.body
    time.sleep(1)
    stack.redis.start()  # empty: the waiting export's message is gone

    # Both exports end done: the running one went on, the lost one was sent again.
    for export in (running, waiting):
        job = wait_for_job(export.job_id, timeout=90)
        assert job.status == JobStatus.DONE, (job.error, stack.logs())
        assert job.attempts == 1, f"{job.message} (held past JOB_STALE_AFTER_S?)"
        _assert_stored_once(export)
    assert Job.objects.get(pk=waiting.job_id).celery_id != first_delivery
    # The worker is back on the new Redis: clicks are answered again.
    deadline = time.monotonic() + 30
    while (answer := stack.web.call("POST", predict, token, CLICK)).status != 200:
        assert answer.status == 503, answer.body
        assert time.monotonic() < deadline, f"no answer after the restart\n{stack.logs()}"
        time.sleep(0.5)
    assert answer.body["mask"]["size"] == [48, 64]
    # ... and the web side sends jobs again.
    again = _start_export(stack, project_id, token)
    assert wait_for_job(again.job_id, timeout=60).status == JobStatus.DONE


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_job_started_while_redis_is_down_runs_once_it_is_back(
    stack: Stack, big_project: dict[str, Any], token: str
) -> None:
    project_id = big_project["project"].pk
    stack.redis.kill()
    try:
        answer = stack.web.call(
            "POST", f"/api/projects/{project_id}/exports/", token, {"format": "coco"}
        )
    finally:
        stack.redis.start()
    assert answer.status == 202 and answer.seconds < 5, (answer.status, answer.seconds)
    export = Export.objects.get(pk=answer.body["export"])
    job = wait_for_job(export.job_id, timeout=60)
    assert job.status == JobStatus.DONE and job.attempts == 1, (job.error, stack.logs())
    _assert_stored_once(export)


def _terminate_backends(application_name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s AND pid <> pg_backend_pid()",
            [application_name],
        )
        return int(cursor.fetchone()[0])


@pytest.mark.worker
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs a database server to drop connections (SQLite has none): "
    "run with DATABASE_URL=postgres://...",
)
def test_the_worker_database_connections_killed_mid_job(
    stack: Stack, big_project: dict[str, Any], token: str
) -> None:
    export = _start_export(stack, big_project["project"].pk, token)
    pool_process = _pool_process(_wait_running(stack, export.job_id))
    private_stack.freeze(pool_process, None)  # killed surely mid-run, whatever the speed
    try:
        killed = _terminate_backends(private_stack.WORKER_APP)
    finally:
        os.kill(pool_process, signal.SIGCONT)
    assert killed >= 1  # the run's own (its heartbeat's and the sweep's as they come)

    job = wait_for_job(export.job_id, timeout=60)
    assert job.status == JobStatus.DONE, (job.error, stack.logs())
    assert job.attempts == 2, job.message  # handed back by the run that lost its connection
    _assert_stored_once(export)
