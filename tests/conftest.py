"""Shared fixtures: users with each role, a project, API clients, image files, and the
real services (Redis and a Celery worker process) for tests marked ``worker``."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from PIL import Image
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

ROOT = Path(__file__).resolve().parent.parent


def png_bytes(width: int = 64, height: int = 48, seed: int = 0, mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(seed)
    if mode == "RGB":
        array = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
    elif mode == "I;16":
        array = rng.integers(0, 65535, (height, width), dtype=np.uint16)
    else:
        array = rng.integers(0, 255, (height, width), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def fresh_login_guard() -> Iterator[None]:
    """Failed sign-ins of one test never lock an account of the next (the counters are
    by username, and every test's owner is called "owner")."""
    from annotator.services import login_guard

    login_guard.clear_all()
    yield


@pytest.fixture
def make_user(db: Any) -> Callable[[str], Any]:
    from django.contrib.auth.models import User

    def make(username: str) -> User:
        return User.objects.create_user(username, password="pw-" + username)

    return make


@pytest.fixture
def client_for() -> Callable[[Any], APIClient]:
    def make(user: Any) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def team(make_user: Callable[[str], Any]) -> dict[str, Any]:
    """A project with one user per role, plus an outsider who is in no project."""
    from annotator.services.projects import create_project, set_member

    users = {
        name: make_user(name) for name in ("owner", "annotator", "reviewer", "viewer", "outsider")
    }
    project = create_project(users["owner"], "Birds", "", [{"name": "bird", "color": "#00ff00"}])
    for role in ("annotator", "reviewer", "viewer"):
        set_member(project, role, role)
    return {"project": project, "label": project.labels.get(), **users}


@pytest.fixture
def upload_image(client_for: Callable[[Any], APIClient]) -> Callable[..., Any]:
    def upload(user: Any, project_id: int, data: bytes | None = None, name: str = "img.png") -> Any:
        from django.core.files.uploadedfile import SimpleUploadedFile

        file = SimpleUploadedFile(name, data if data is not None else png_bytes(), "image/png")
        return client_for(user).post(
            f"/api/projects/{project_id}/assets/", {"file": file}, format="multipart"
        )

    return upload


# --- real services ----------------------------------------------------------------------


def _redis_alive() -> bool:
    from annotator.redis_client import get_redis

    try:
        return bool(get_redis().ping())
    except Exception:
        return False


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """The Redis of ``REDIS_URL``, or an embedded one on the settings' unix socket."""
    if os.environ.get("REDIS_URL") or _redis_alive():
        yield settings.REDIS_URL
        return
    from annotator.management.commands.serve import redis_server_binary

    sock = Path(settings.VAR_DIR) / "redis.sock"
    sock.parent.mkdir(parents=True, exist_ok=True)
    sock.unlink(missing_ok=True)
    process = subprocess.Popen(
        [
            redis_server_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(sock.parent),
            "--loglevel",
            "warning",
        ]
    )
    deadline = time.monotonic() + 15
    while not _redis_alive():
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("embedded Redis did not start")
        time.sleep(0.05)
    yield settings.REDIS_URL
    process.terminate()
    process.wait(10)


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    from django.db import connection

    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["ANNOTATOR_VAR_DIR"] = str(settings.VAR_DIR)
    env["TEST_WORKER_DB_NAME"] = str(connection.settings_dict["NAME"])
    env.update(extra or {})
    return env


def start_worker(
    env: dict[str, str], queues: str = "interactive,embed,jobs"
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "annotator",
            "worker",
            "-Q",
            queues,
            "-c",
            "2",
            "-O",
            "fair",
            "--loglevel",
            "WARNING",
            "-n",
            f"test-{os.getpid()}-{time.time_ns()}@%h",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for_worker(
    process: subprocess.Popen[bytes], queue: str = "interactive", timeout: float = 60
) -> None:
    from annotator.redis_client import queue_has_worker

    deadline = time.monotonic() + timeout
    while not queue_has_worker(queue):
        if process.poll() is not None:
            pytest.fail(f"the Celery worker exited with code {process.returncode}")
        if time.monotonic() > deadline:
            stop_worker(process)
            pytest.fail("the Celery worker did not come up")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def tiny_sam_checkpoint() -> Path:
    """A tiny random-weight SAM saved as a checkpoint file (built from segment-anything's
    own modules), so the real checkpoint-loading path runs in seconds."""
    from workers.engines.sam import save_tiny_checkpoint

    return save_tiny_checkpoint(Path(settings.VAR_DIR) / "tiny_sam.pth")


@pytest.fixture(scope="session")
def celery_worker(
    django_db_setup: Any, django_db_blocker: Any, redis_server: str, tiny_sam_checkpoint: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """One real Celery worker process for the session, on the test database, with the
    tiny SAM configured (so both engines can be asked for by name)."""
    from annotator.redis_client import WORKER_ALIVE_KEY, get_redis

    for queue in ("interactive", "embed", "jobs"):
        get_redis().delete(WORKER_ALIVE_KEY.format(queue=queue))
    with django_db_blocker.unblock():
        env = worker_env(
            {
                "SAM_CHECKPOINT": str(tiny_sam_checkpoint),
                "SAM_MODEL_TYPE": "tiny",
                # Short heartbeats: a job whose worker stops is recovered within seconds
                # (tests/workers/runtime/test_worker_loss.py).
                "JOB_HEARTBEAT_S": "0.5",
                "JOB_STALE_AFTER_S": "5",
                "JOB_MAX_ATTEMPTS": "2",
            }
        )
    process = start_worker(env)
    wait_for_worker(process)
    yield process
    stop_worker(process)


def wait_for_job(job_id: int, timeout: float = 60) -> Any:
    from annotator.models import Job

    deadline = time.monotonic() + timeout
    while True:
        job = Job.objects.get(pk=job_id)
        if job.is_finished:
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} ({job.kind}) still {job.status} after {timeout} s")
        time.sleep(0.1)
