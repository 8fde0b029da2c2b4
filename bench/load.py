"""Load test: simulated annotators (locust) against the real stack on loopback.

    .venv/bin/python -m bench.load                          # embedded: SQLite + own Redis
    .venv/bin/python -m bench.load --postgres               # PostgreSQL + Redis on 127.0.0.1
    .venv/bin/python -m bench.load --configs embedded,postgres --runs 3 --json out.json

For each run: a fresh stack (``manage.py serve`` in a private var/ under /tmp on a free
port; with ``postgres`` a fresh database on 127.0.0.1:5432, created and dropped here, and
an empty Redis database on 127.0.0.1:6379), a project with ``--images`` images (DAVIS
frames from ../shared/data when present, generated ones otherwise) and ``--users``
annotator accounts. Then ``bench/locustfile.py`` runs for ``--duration`` s (each user:
open an asset and its image, click once or twice, save the mask, next asset), while a
thread here polls ``/api/health/`` on fresh connections. Afterwards every annotation id
the server acknowledged must be stored, and nothing else ("nothing lost", checked through
the API); the stack is stopped with SIGTERM. Prints one row per run and the median row
per configuration. Errors: anything but 2xx, apart from 503 with Retry-After (counted
apart). Runs alternate between configurations, so both see the same machine.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bench.stack import Client, free_port

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEG_BENCH_DATA", ROOT / "../shared/data"))
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_HOST = "redis://127.0.0.1:6379"
STEPS = ("asset", "image", "predict", "save", "neighbors")

# ----------------------------------------------------------------------------- summary


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile with linear interpolation between ranks (numpy's default);
    NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def outcome(sample: dict[str, Any]) -> str:
    """``ok`` (2xx), ``retry`` (503 with Retry-After: the server's "come back later")
    or ``error`` (anything else, a connection error included)."""
    status = int(sample.get("status") or 0)
    if sample.get("error") is None and 200 <= status < 300:
        return "ok"
    if status == 503 and sample.get("retry_after"):
        return "retry"
    return "error"


@dataclass
class StepStats:
    count: int
    ok: int
    retry: int
    errors: int
    p50: float
    p95: float
    max: float


def step_stats(samples: Sequence[dict[str, Any]]) -> StepStats:
    """Counts by outcome and latency (ms) of the successful ones."""
    kinds = [outcome(s) for s in samples]
    times = [float(s["ms"]) for s, kind in zip(samples, kinds, strict=True) if kind == "ok"]
    return StepStats(
        count=len(samples),
        ok=kinds.count("ok"),
        retry=kinds.count("retry"),
        errors=kinds.count("error"),
        p50=percentile(times, 50),
        p95=percentile(times, 95),
        max=max(times) if times else math.nan,
    )


def summarise(samples: Sequence[dict[str, Any]]) -> dict[str, StepStats]:
    """StepStats per request name, in the order of first appearance."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for sample in samples:
        by_name.setdefault(str(sample["name"]), []).append(sample)
    return {name: step_stats(group) for name, group in by_name.items()}


def peak_in_flight(samples: Sequence[dict[str, Any]], name: str | None = None) -> int:
    """The most requests (of ``name``, or all) open at once, from start times and durations."""
    edges = []
    for sample in samples:
        if name is None or sample["name"] == name:
            edges += [(float(sample["t"]), 1), (float(sample["t"]) + sample["ms"] / 1000, -1)]
    peak = current = 0
    for _, step in sorted(edges):  # at equal times the end (-1) sorts first
        current += step
        peak = max(peak, current)
    return peak


def lost_check(acked: Sequence[int], stored: set[int], unknown: int) -> dict[str, int]:
    """Acknowledged saves against the stored rows: ``missing`` were acknowledged and are
    not stored (lost), ``extra`` are stored without an acknowledgement (allowed only up
    to the saves whose answer never came, ``unknown``), ``duplicates`` acknowledged twice."""
    acked_set = set(acked)
    return {
        "acked": len(acked),
        "stored": len(stored),
        "missing": len(acked_set - stored),
        "extra": len(stored - acked_set),
        "duplicates": len(acked) - len(acked_set),
        "unknown": unknown,
    }


def nothing_lost(check: dict[str, int]) -> bool:
    return check["missing"] == 0 and check["duplicates"] == 0 and check["extra"] <= check["unknown"]


def access_log_statuses(lines: Sequence[str]) -> dict[str, int]:
    """Status code counts from gunicorn's access log lines (``"GET /x HTTP/1.1" 200``)."""
    counts: dict[str, int] = {}
    for line in lines:
        match = re.search(r'"[A-Z]+ \S+ HTTP/[\d.]+" (\d{3}) ', line)
        if match:
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
    return counts


def problem_lines(lines: Sequence[str]) -> list[str]:
    """Server log lines that point at trouble: tracebacks, errors, worker timeouts,
    5xx other than the 503s of predict."""
    pattern = re.compile(r"Traceback|\] ERROR|ERROR/|CRITICAL|WORKER TIMEOUT|Exception")
    out = []
    for line in lines:
        status = re.search(r'"([A-Z]+) (\S+) HTTP/[\d.]+" (5\d\d) ', line)
        if pattern.search(line) or (
            status and not (status.group(3) == "503" and "/predict/" in status.group(2))
        ):
            out.append(line.rstrip())
    return out


# ------------------------------------------------------------------------------ images


def bench_images(count: int) -> list[tuple[str, bytes, list[dict[str, Any]]]]:
    """(name, JPEG bytes, two clicks) per image: DAVIS frames spread over the sequences,
    clicked at the most interior points of their ground truth, else generated images
    with an ellipse."""
    import numpy as np
    from PIL import Image
    from scipy.ndimage import distance_transform_edt

    root = DATA / "davis"
    sequences = sorted(p for p in (root / "JPEGImages/480p").glob("*") if p.is_dir())
    out = []
    if sequences:
        for i in range(count):
            seq = sequences[i % len(sequences)]
            frame = f"{(i // len(sequences)) * 10 % 50:05d}"
            labels = np.asarray(Image.open(root / f"Annotations/480p/{seq.name}/{frame}.png"))
            gt = (labels > 0) if labels.ndim == 2 else (labels > 0).any(axis=2)
            distance = distance_transform_edt(gt)
            clicks = []
            for _ in range(2):
                y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
                clicks.append({"x": float(x), "y": float(y), "positive": True})
                yy, xx = np.ogrid[: gt.shape[0], : gt.shape[1]]
                distance[(yy - y) ** 2 + (xx - x) ** 2 < 40**2] = 0
            data = (seq / f"{frame}.jpg").read_bytes()
            out.append((f"{seq.name}-{frame}.jpg", data, clicks))
        return out
    rng = np.random.default_rng(0)
    for i in range(count):
        image = rng.integers(60, 120, (480, 854, 3), dtype=np.uint8)
        cy, cx = rng.integers(150, 330), rng.integers(250, 600)
        yy, xx = np.ogrid[:480, :854]
        inside = ((yy - cy) / 90) ** 2 + ((xx - cx) / 160) ** 2 < 1
        image[inside] = rng.integers(150, 255, 3, dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG")
        clicks = [{"x": float(cx + dx), "y": float(cy), "positive": True} for dx in (0, 80)]
        out.append((f"generated-{i}.jpg", buffer.getvalue(), clicks))
    return out


# ------------------------------------------------------------------------------- stack


@contextmanager
def fresh_postgres() -> Iterator[tuple[str, str]]:
    """(DATABASE_URL, REDIS_URL): a new PostgreSQL database and the first empty Redis
    database among 9-15, both emptied again afterwards."""
    import psycopg
    import redis

    empty = [n for n in range(9, 16) if redis.Redis.from_url(f"{REDIS_HOST}/{n}").dbsize() == 0]
    if not empty:
        raise SystemExit("no empty Redis database among 9-15 on 127.0.0.1:6379")
    redis_url = f"{REDIS_HOST}/{empty[0]}"
    name = f"load_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}", redis_url
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        redis.Redis.from_url(redis_url).flushdb()


class ServeStack:
    """``manage.py serve`` on a free port with a private var/; its whole output (web
    access log, workers, Redis) goes to ``var/serve.log``."""

    def __init__(self, env: dict[str, str], keep: bool = False, extra: Sequence[str] = ()) -> None:
        self.var = Path(tempfile.mkdtemp(prefix="load-var-", dir="/tmp"))
        self.log_path = self.var / "serve.log"
        self.env = env
        self.keep, self.extra = keep, list(extra)
        self.exit_code: int | None = None

    def __enter__(self) -> ServeStack:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(
            os.environ,
            ANNOTATOR_ENV="development",
            DEBUG="0",  # a load test of the debug mode would measure its query log
            ANNOTATOR_VAR_DIR=str(self.var),
            DJANGO_SETTINGS_MODULE="annotator.settings",
            PYTHONUNBUFFERED="1",
            **self.env,
        )
        self.log = open(self.log_path, "w")  # noqa: SIM115 - closed in __exit__
        command = [sys.executable, "manage.py", "serve", "--port", str(self.port), "--no-demo"]
        command += self.extra
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 240
        while "Annotator is running at" not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"serve did not start; see {self.log_path}")
            time.sleep(0.3)
        return self

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                print(f"serve did not stop within 90 s; killing it ({self.log_path})")
                self.process.kill()
                self.process.wait()
        self.exit_code = self.process.returncode
        self.log.close()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        if not self.keep and self.exit_code == 0:
            shutil.rmtree(self.var, ignore_errors=True)


# ------------------------------------------------------------------------------- setup


def register(url: str, username: str) -> tuple[int, str]:
    """(user id, token) of a new account."""
    client = _client(url)
    for _ in range(5):
        status, body = client.request(
            "POST", "/api/auth/register/", {"username": username, "password": "load-pass-1x"}
        )
        if status == 201:
            return int(body["id"]), str(body["token"])
        time.sleep(1)
    raise RuntimeError(f"cannot register {username}: {status} {body}")


def _client(url: str, token: str | None = None) -> Client:
    parsed = urlparse(url)
    client = Client(parsed.hostname or "127.0.0.1", parsed.port or 80)
    client.token = token
    return client


def prepare(url: str, images: int, users: int) -> dict[str, Any]:
    """Owner, project, label, uploads (waits for thumbnails and embeddings), annotators."""
    _, owner_token = register(url, f"owner{uuid.uuid4().hex[:6]}")
    owner = _client(url, owner_token)
    status, project = owner.request(
        "POST", "/api/projects/", {"name": "load", "labels": [{"name": "object"}]}
    )
    if status != 201:
        raise RuntimeError(f"cannot create the project: {status} {project}")
    assets = []
    for name, data, clicks in bench_images(images):
        asset = owner.upload(int(project["id"]), name, data)
        assets.append({"id": int(asset["id"]), "clicks": clicks})
    deadline = time.monotonic() + 600
    while True:
        _, page = owner.request("GET", f"/api/projects/{project['id']}/assets/?page_size=500")
        states = [(a["status"], a["embedding_status"]) for a in page["results"]]
        if all(s == ("ready", "ready") for s in states):
            break
        if any("failed" in s for s in states) or time.monotonic() > deadline:
            raise RuntimeError(f"assets not ready: {states}")
        time.sleep(0.5)
    names = [f"annotator{i}-{uuid.uuid4().hex[:4]}" for i in range(users)]
    with ThreadPoolExecutor(6) as pool:
        tokens = [token for _, token in pool.map(lambda n: register(url, n), names)]
    for name in names:
        member = {"username": name, "role": "annotator"}
        status, body = owner.request("POST", f"/api/projects/{project['id']}/members/", member)
        if status not in (200, 201):
            raise RuntimeError(f"cannot add {name}: {status} {body}")
    return {
        "project": int(project["id"]),
        "label": int(project["labels"][0]["id"]),
        "assets": assets,
        "tokens": tokens,
        "owner_token": owner_token,
    }


def stored_ids(url: str, token: str, asset_ids: Sequence[int]) -> set[int]:
    """Every annotation id of the assets, through the API (all pages)."""
    client, ids = _client(url, token), set[int]()
    for asset in asset_ids:
        path: str | None = f"/api/assets/{asset}/annotations/?page_size=500"
        while path:
            status, body = client.request("GET", path)
            if status != 200:
                raise RuntimeError(f"GET {path}: {status} {body}")
            ids.update(int(a["id"]) for a in body["results"])
            following = urlparse(body.get("next") or "")
            path = f"{following.path}?{following.query}" if following.path else None
    return ids


# -------------------------------------------------------------------------------- load


class HealthPoller(threading.Thread):
    """GET /api/health/ every ``interval`` s on a new connection (as a load balancer
    does), until stopped; samples in the locustfile's format."""

    def __init__(self, url: str, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self.interval = interval
        self.samples: list[dict[str, Any]] = []
        self.halt = threading.Event()

    def once(self) -> None:
        import http.client

        started = time.perf_counter()
        sample: dict[str, Any] = {"name": "health", "t": time.time(), "retry_after": False}
        try:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
            connection.request("GET", "/api/health/")
            response = connection.getresponse()
            response.read()
            connection.close()
            sample.update(status=response.status, error=None)
            sample["retry_after"] = response.getheader("Retry-After") is not None
        except OSError as exc:
            sample.update(status=0, error=f"{type(exc).__name__}: {exc}")
        sample["ms"] = (time.perf_counter() - started) * 1000
        self.samples.append(sample)

    def run(self) -> None:
        while not self.halt.is_set():
            self.once()
            self.halt.wait(self.interval)


def run_locust(url: str, setup: dict[str, Any], args: argparse.Namespace, var: Path) -> Any:
    config = {
        "tokens": setup["tokens"],
        "assets": setup["assets"],
        "label": setup["label"],
        "think_min": args.think_min,
        "think_max": args.think_max,
    }
    (var / "load-config.json").write_text(json.dumps(config))
    env = dict(
        os.environ,
        LOAD_CONFIG=str(var / "load-config.json"),
        LOAD_SAMPLES=str(var / "load-samples.json"),
    )
    command = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "bench/locustfile.py"),
        "--headless", "--only-summary", "--host", url,
        "-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{args.duration}s",
        "--stop-timeout", "60", "--loglevel", "WARNING",
    ]  # fmt: skip
    with open(var / "locust.log", "w") as log:
        subprocess.run(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    path = var / "load-samples.json"
    if not path.exists():
        raise RuntimeError(f"locust wrote no samples; see {var / 'locust.log'}")
    return json.loads(path.read_text())


def one_run(config: str, args: argparse.Namespace) -> dict[str, Any]:
    extra = args.serve_args.split()
    with _environment(config) as env, ServeStack(env, args.keep, extra) as stack:
        print(f"[{config}] stack at {stack.url}, var {stack.var}", flush=True)
        setup = prepare(stack.url, args.images, args.users)
        idle = HealthPoller(stack.url, interval=0.25)
        for _ in range(40):
            idle.once()
            time.sleep(0.25)
        print(f"[{config}] {len(setup['assets'])} assets ready; load for {args.duration} s")
        poller = HealthPoller(stack.url)
        started = time.time()
        poller.start()
        result = run_locust(stack.url, setup, args, stack.var)
        poller.halt.set()
        poller.join()
        elapsed = time.time() - started
        asset_ids = [a["id"] for a in setup["assets"]]
        stored = stored_ids(stack.url, setup["owner_token"], asset_ids)
        check = lost_check(result["saved_ids"], stored, len(result["save_unknown"]))
        stack.stop()
        lines = stack.log_lines()
        samples = result["samples"]
        row = {
            "config": config,
            "users": args.users,
            "duration_s": args.duration,
            "wall_s": round(elapsed, 1),
            "requests": len(samples),
            "peak_in_flight": peak_in_flight(samples),
            "peak_predicts_in_flight": peak_in_flight(samples, "predict"),
            "steps": {k: asdict(v) for k, v in summarise(samples).items()},
            "health_idle": asdict(step_stats(idle.samples)),
            "health": asdict(step_stats(poller.samples)),
            "worker_ms_p50": percentile(result["worker_ms"], 50),
            "embedding": result["embedding"],
            "lost": check,
            "nothing_lost": nothing_lost(check),
            "save_unknown": result["save_unknown"][:5],
            "errors": [s for s in samples if outcome(s) == "error"][:10],
            "server_statuses": access_log_statuses(lines),
            "server_problems": problem_lines(lines)[:20],
            "serve_exit": stack.exit_code,
            "log": str(stack.log_path) if stack.var.exists() else None,
        }
    print(format_run(row), flush=True)
    return row


@contextmanager
def _environment(config: str) -> Iterator[dict[str, str]]:
    if config == "embedded":
        yield {}
    elif config == "postgres":
        with fresh_postgres() as (database_url, redis_url):
            yield {"DATABASE_URL": database_url, "REDIS_URL": redis_url}
    else:
        raise SystemExit(f"unknown configuration {config!r} (embedded, postgres)")


# ------------------------------------------------------------------------------ report


def format_run(row: dict[str, Any]) -> str:
    steps = row["steps"]
    lines = [f"[{row['config']}] requests by step (latency of the successful ones, ms):"]
    lines.append(f"  {'step':<10} {'count':>6} {'ok':>6} {'503+RA':>7} {'errors':>6} "
                 f"{'p50':>8} {'p95':>8} {'max':>8}")  # fmt: skip
    for name in [n for n in (*STEPS, *sorted(set(steps) - set(STEPS))) if n in steps]:
        s = steps[name]
        lines.append(f"  {name:<10} {s['count']:>6} {s['ok']:>6} {s['retry']:>7} {s['errors']:>6} "
                     f"{s['p50']:>8.1f} {s['p95']:>8.1f} {s['max']:>8.1f}")  # fmt: skip
    for key, label in (("health_idle", "health idle"), ("health", "health load")):
        h = row[key]
        lines.append(f"  {label:<12} {h['count']:>4} ok {h['ok']}, errors {h['errors']}, p50 "
                     f"{h['p50']:.1f} p95 {h['p95']:.1f} max {h['max']:.1f} ms")  # fmt: skip
    lost = row["lost"]
    lines.append(
        f"  saves acknowledged {lost['acked']}, stored {lost['stored']}, missing "
        f"{lost['missing']}, extra {lost['extra']}, unknown outcome {lost['unknown']}: "
        f"{'nothing lost' if row['nothing_lost'] else 'LOST OR EXTRA ROWS'}"
    )
    lines.append(f"  peak requests in flight {row['peak_in_flight']} (predict "
                 f"{row['peak_predicts_in_flight']}); worker elapsed_ms p50 "
                 f"{row['worker_ms_p50']:.1f}, state from "
                 f"{row['embedding']}; server statuses "
                 f"{row['server_statuses']}; serve exit {row['serve_exit']}")  # fmt: skip
    lines += [f"  error: {sample}" for sample in row["errors"]]
    lines += [f"  server: {line}" for line in row["server_problems"]]
    return "\n".join(lines)


def table_row(label: str, rows: Sequence[dict[str, Any]]) -> str:
    """One markdown row: medians over ``rows`` of each figure."""

    def med(get: Any) -> float:
        return statistics.median(float(get(r)) for r in rows)

    def step(name: str, field: str) -> float:
        return med(lambda r: r["steps"].get(name, {}).get(field, 0))

    errors = med(lambda r: sum(s["errors"] for s in r["steps"].values()))
    return (
        f"| {label} | {len(rows)} | {med(lambda r: r['requests']):.0f} "
        f"| {step('predict', 'ok'):.0f} | {step('predict', 'p50'):.0f} / "
        f"{step('predict', 'p95'):.0f} | {step('save', 'ok'):.0f} | {step('save', 'p50'):.0f} / "
        f"{step('save', 'p95'):.0f} | {med(lambda r: r['health_idle']['p50']):.1f} | "
        f"{med(lambda r: r['health']['p50']):.1f} / {med(lambda r: r['health']['p95']):.1f} / "
        f"{med(lambda r: r['health']['max']):.0f} | "
        f"{med(lambda r: sum(s['retry'] for s in r['steps'].values())):.0f} | {errors:.0f} | "
        f"{sum(r['nothing_lost'] for r in rows)}/{len(rows)} |"
    )


TABLE_HEAD = (
    "| config | runs | requests | clicks ok | click p50 / p95 ms | saves ok | save p50 / p95 ms "
    "| health idle p50 ms | health load p50 / p95 / max ms | 503 + Retry-After | errors "
    "| nothing lost |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
    "| ---: | ---: |"
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", action="store_true", help="same as --configs postgres")
    parser.add_argument("--configs", default="embedded", help="embedded,postgres")
    parser.add_argument("--runs", type=int, default=1, help="runs per configuration")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--think-min", type=float, default=1.0, help="s between two actions")
    parser.add_argument("--think-max", type=float, default=3.0)
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    parser.add_argument("--keep", action="store_true", help="keep each run's var/ and logs")
    parser.add_argument("--serve-args", default="", help='e.g. "--web-workers 7" for serve')
    args = parser.parse_args(argv)
    configs = ["postgres"] if args.postgres else args.configs.split(",")
    rows = []
    for _ in range(args.runs):
        for config in configs:  # interleaved: both see the machine of the same minutes
            rows.append(one_run(config, args))
            if args.json:
                args.json.write_text(json.dumps(rows, indent=1))
    print(
        f"\n{args.users} users, {args.duration} s each run, think {args.think_min:g}-"
        f"{args.think_max:g} s; medians over runs\n{TABLE_HEAD}"
    )
    for config in configs:
        print(table_row(config, [r for r in rows if r["config"] == config]))
    ok = all(r["nothing_lost"] and not any(s["errors"] for s in r["steps"].values()) for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
