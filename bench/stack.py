"""Start the real stack (``manage.py serve``: Redis, one Celery worker, gunicorn) in a
throw-away var/ directory for benchmarks, and a small HTTP client for it."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Client:
    """Keep-alive JSON client with token auth (one connection, like a browser tab)."""

    def __init__(self, host: str, port: int) -> None:
        self.connection = http.client.HTTPConnection(host, port, timeout=60)
        self.token: str | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Token {self.token}"} if self.token else {}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = content_type
        try:
            self.connection.request(method, path, body=data, headers=headers)
            response = self.connection.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closed an idle keep-alive connection: reconnect once.
            self.connection.close()
            self.connection.request(method, path, body=data, headers=headers)
            response = self.connection.getresponse()
        payload = response.read()
        try:
            return response.status, json.loads(payload)
        except ValueError:
            return response.status, payload

    def upload(self, project_id: int, name: str, data: bytes) -> dict[str, Any]:
        boundary = uuid.uuid4().hex
        raw = (
            (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        status, body = self.request(
            "POST",
            f"/api/projects/{project_id}/assets/",
            raw=raw,
            content_type=f"multipart/form-data; boundary={boundary}",
        )
        if status != 201:
            raise RuntimeError(f"upload failed: {status} {body}")
        return dict(body)

    def wait_job(self, job_id: int, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, job = self.request("GET", f"/api/jobs/{job_id}/")
            if job["status"] in ("done", "failed", "cancelled"):
                return dict(job)
            time.sleep(0.05)
        raise TimeoutError(f"job {job_id} did not finish")


class Stack:
    """``with Stack(env) as (client, project_id):`` a running server, a fresh user and
    project. ``env`` adds variables (e.g. SAM_CHECKPOINT); DATABASE_URL / REDIS_URL from
    the caller's environment are used when set."""

    def __init__(self, extra_env: dict[str, str] | None = None, concurrency: int = 2) -> None:
        self.extra_env = extra_env or {}
        self.concurrency = concurrency
        self.var = Path(tempfile.mkdtemp(prefix="bench-var-"))

    def __enter__(self) -> tuple[Client, int]:
        self.port = free_port()
        env = dict(
            os.environ,
            ANNOTATOR_ENV="development",
            ANNOTATOR_VAR_DIR=str(self.var),
            DJANGO_SETTINGS_MODULE="annotator.settings",
            PYTHONUNBUFFERED="1",
            **self.extra_env,
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "serve",
                "--port",
                str(self.port),
                "--no-demo",
                "--concurrency",
                str(self.concurrency),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 180
        for line in self.process.stdout:
            if re.search(r"Annotator is running at", line) or time.monotonic() > deadline:
                break
        client = Client("127.0.0.1", self.port)
        user = f"bench{uuid.uuid4().hex[:8]}"
        for _ in range(200):
            try:
                status, body = client.request(
                    "POST",
                    "/api/auth/register/",
                    {"username": user, "password": "bench-password-1"},
                )
                break
            except OSError:
                time.sleep(0.1)
                client = Client("127.0.0.1", self.port)
        if status != 201:
            raise RuntimeError(f"cannot register: {status} {body}")
        client.token = body["token"]
        # Workers need a moment to announce themselves after the banner.
        for _ in range(300):
            _, health = client.request("GET", "/api/health/")
            if all(health["workers"].values()):
                break
            time.sleep(0.1)
        _, project = client.request(
            "POST", "/api/projects/", {"name": "bench", "labels": [{"name": "obj"}]}
        )
        # Drain the server's output so its pipe never fills and blocks it.
        import threading

        threading.Thread(
            target=lambda: [None for _ in self.process.stdout or []], daemon=True
        ).start()
        return client, int(project["id"])

    def __exit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
