"""The README's run command on its embedded defaults: SQLite and media under a fresh
var/, a Redis the command starts itself, a worker for clicks and one for embeddings and
jobs, several web processes; then Ctrl-C."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import png_bytes

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _call(url: str, token: str | None = None, body: Any = None, files: bytes | None = None) -> Any:
    headers = {"Authorization": f"Token {token}"} if token else {}
    data = None
    if files is not None:
        boundary = "----annotatortest"
        data = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
                "Content-Type: image/png\r\n\r\n"
            ).encode()
            + files
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    elif body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(io.TextIOWrapper(response, "utf-8"))


def test_serve_runs_the_whole_stack_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="annotator.settings",
        ANNOTATOR_ENV="development",
        ANNOTATOR_VAR_DIR=str(tmp_path / "var"),
        SAM_CHECKPOINT="",
        PYTHONUNBUFFERED="1",
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    login = None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        while login is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"Log in as demo / (\S+)", line)
            if found:
                login = found.group(1)
        assert login, "".join(lines[-40:])
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):  # gunicorn binds a moment after the banner
            try:
                token = _call(
                    f"{base}/api/auth/token/", body={"username": "demo", "password": login}
                )["token"]
                break
            except OSError:
                time.sleep(0.2)
        assert (tmp_path / "var" / "annotator.sqlite3").exists()
        project = _call(f"{base}/api/projects/", token)["results"][0]
        asset = _call(
            f"{base}/api/projects/{project['id']}/assets/", token, files=png_bytes(120, 90)
        )
        jobs = _call(f"{base}/api/projects/{project['id']}/jobs/?kind=thumbnail", token)["results"]
        job_id = next(j["id"] for j in jobs if j["asset"] == asset["id"])
        for _ in range(300):
            job = _call(f"{base}/api/jobs/{job_id}/", token)
            if job["status"] in ("done", "failed", "cancelled"):
                break
            time.sleep(0.2)
        assert job["status"] == "done", job
        result = _call(
            f"{base}/api/assets/{asset['id']}/predict/",
            token,
            body={"clicks": [{"x": 60, "y": 45, "positive": True}]},
        )
        assert result["engine"] == "classical" and result["mask"]["size"] == [90, 120]
        _check_nothing_leaks(base)
        _check_health_stays_fast_under_heavy_clicks(base, token, asset["id"])
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("serve did not stop within 40 s of Ctrl-C")
    output = "".join(lines) + (process.stdout.read() if process.stdout else "")
    assert process.returncode == 0, output[-3000:]
    # Nothing is left listening: the web port and Redis' socket are closed.
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    sock = tmp_path / "var" / "redis.sock"
    if sock.exists():
        with socket.socket(socket.AF_UNIX) as probe:
            assert probe.connect_ex(str(sock)) != 0


def _raw(url: str, token: str | None = None, body: bytes | None = None) -> tuple[int, str, bytes]:
    headers = {"Authorization": f"Token {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", ""), error.read()


def _check_nothing_leaks(base: str) -> None:
    """The run command serves with DEBUG off: no debug pages, JSON errors under /api/."""
    status, kind, body = _raw(f"{base}/api/no/such/thing/")
    assert (status, kind) == (404, "application/json"), body[:300]
    status, kind, body = _raw(f"{base}/no-such-page/")
    assert status == 404 and b"urlpatterns" not in body and b"DEBUG" not in body
    status, kind, body = _raw(f"{base}/api/auth/token/", body=b"[" * 50_000)
    assert status == 400 and json.loads(body)["code"] == "parse_error"


def _check_health_stays_fast_under_heavy_clicks(base: str, token: str, asset_id: int) -> None:
    """Issue 15: ten parallel predicts with the largest prompts allowed used to stall the
    single web process (health took 17.6 s). Now each is refused or answered, and health
    answers quickly all along."""
    from formats.prompts import MAX_PROMPT_POINTS, MAX_SCRIBBLE_POINTS

    scribbles = [
        {"points": [[float(i % 120), float(i % 90)] for i in range(MAX_SCRIBBLE_POINTS)]}
    ] * (MAX_PROMPT_POINTS // MAX_SCRIBBLE_POINTS)
    allowed = json.dumps({"scribbles": scribbles}).encode()
    too_many = json.dumps({"scribbles": [*scribbles, {"points": [[1, 1]]}]}).encode()
    url = f"{base}/api/assets/{asset_id}/predict/"
    health_times: list[float] = []
    done = threading.Event()

    def poll_health() -> None:
        while not done.is_set():
            started = time.monotonic()
            status, _, _ = _raw(f"{base}/api/health/")
            health_times.append(time.monotonic() - started)
            assert status == 200
            time.sleep(0.1)

    poller = threading.Thread(target=poll_health, daemon=True)
    poller.start()
    with ThreadPoolExecutor(10) as pool:
        bodies = [allowed] * 8 + [too_many] * 2
        answers = list(pool.map(lambda body: _raw(url, token, body), bodies))
    done.set()
    poller.join(timeout=30)
    statuses = sorted(status for status, _, _ in answers)
    assert all(status in (200, 503) for status in statuses[:8]), answers[0][2][:300]
    assert statuses.count(400) == 2, statuses
    assert health_times and max(health_times) < 3.0, sorted(health_times)[-5:]
