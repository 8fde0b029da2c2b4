"""Locust users for ``bench/load.py``: simulated annotators on a running server.

Each user logs in with its own token and walks the project's assets: open one (its
record and its image), click once or twice through ``/predict/`` (classical engine; the
second click sends the first mask back, as the UI does), save the mask as an annotation,
then ask ``/neighbors/`` for the next asset. A 503 that carries ``Retry-After`` is
honoured (wait, then try the click again, at most twice).

Not meant to be run by hand: ``bench/load.py`` writes the config (``LOAD_CONFIG``, JSON:
tokens, assets with their clicks, label, think times) and reads back what this process
writes to ``LOAD_SAMPLES`` when it quits: one record per request, the ids of the
annotations the server acknowledged, and the worker's ``elapsed_ms`` of each click.
Self-contained (no import of the project): locust imports it by path.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import time
from typing import Any

from locust import HttpUser, between, events, task

CONFIG: dict[str, Any] = {}
if os.environ.get("LOAD_CONFIG"):
    with open(os.environ["LOAD_CONFIG"]) as handle:
        CONFIG = json.load(handle)

THINK = (float(CONFIG.get("think_min", 1.0)), float(CONFIG.get("think_max", 3.0)))
TIMEOUT_S = 60
MAX_RETRIES = 2

SAMPLES: list[dict[str, Any]] = []
SAVED_IDS: list[int] = []
SAVE_UNKNOWN: list[str] = []  # saves whose outcome the client never learned
WORKER_MS: list[float] = []
EMBEDDING: dict[str, int] = {}  # where each click's per-image state came from
_user_numbers = itertools.count()


@events.request.add_listener
def _record(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int,
    response: Any = None,
    exception: BaseException | None = None,
    start_time: float | None = None,
    **kwargs: Any,
) -> None:
    status = int(getattr(response, "status_code", 0) or 0)
    headers = getattr(response, "headers", None) or {}
    SAMPLES.append(
        {
            "name": name,
            "t": start_time or time.time(),
            "ms": float(response_time),
            "status": status,
            "retry_after": headers.get("Retry-After") is not None,
            "error": None if exception is None else f"{type(exception).__name__}: {exception}",
        }
    )


@events.quitting.add_listener
def _dump(**kwargs: Any) -> None:
    path = os.environ.get("LOAD_SAMPLES")
    if not path:
        return
    with open(path, "w") as handle:
        json.dump(
            {
                "samples": SAMPLES,
                "saved_ids": SAVED_IDS,
                "save_unknown": SAVE_UNKNOWN,
                "worker_ms": WORKER_MS,
                "embedding": EMBEDDING,
            },
            handle,
        )


def think() -> None:
    """A person looking at the screen (gevent sleeps: other users go on)."""
    time.sleep(random.uniform(*THINK))


class Annotator(HttpUser):
    wait_time = between(0.5, 1.5)  # between two assets, after the neighbors request

    def on_start(self) -> None:
        number = next(_user_numbers)
        tokens = CONFIG["tokens"]
        self.client.headers["Authorization"] = f"Token {tokens[number % len(tokens)]}"
        assets = CONFIG["assets"]
        # Spread the users over the assets, as a team splitting a data set would.
        self.asset_id = int(assets[number % len(assets)]["id"])
        self.clicks = {int(a["id"]): a["clicks"] for a in assets}
        self.first_id = min(self.clicks)
        self.random = random.Random(number)

    def predict(self, asset_id: int, body: dict[str, Any]) -> dict[str, Any] | None:
        """One click; ``None`` when the server never answered it with a mask."""
        for attempt in range(MAX_RETRIES + 1):
            with self.client.post(
                f"/api/assets/{asset_id}/predict/",
                json=body,
                name="predict",
                timeout=TIMEOUT_S,
                catch_response=True,
            ) as response:
                if response.status_code == 200:
                    result: dict[str, Any] = response.json()
                    WORKER_MS.append(float(result.get("elapsed_ms", 0.0)))
                    source = str(result.get("embedding"))
                    EMBEDDING[source] = EMBEDDING.get(source, 0) + 1
                    return result
                retry_after = response.headers.get("Retry-After")
                cause = getattr(response, "error", None) if response.status_code == 0 else None
                response.failure(f"{response.status_code} retry-after={retry_after} {cause!r}")
            if response.status_code != 503 or retry_after is None or attempt == MAX_RETRIES:
                return None
            time.sleep(min(float(retry_after), 10.0))
        return None

    @task
    def annotate_one(self) -> None:
        asset_id = self.asset_id
        self.client.get(f"/api/assets/{asset_id}/", name="asset", timeout=TIMEOUT_S)
        self.client.get(f"/api/assets/{asset_id}/frames/0/image", name="image", timeout=TIMEOUT_S)
        think()
        clicks = self.clicks[asset_id]
        count = self.random.choice((1, 2)) if len(clicks) > 1 else 1
        result = self.predict(asset_id, {"engine": "classical", "clicks": clicks[:1]})
        if result is not None and count == 2:
            think()
            body = {"engine": "classical", "clicks": clicks[:2], "mask": result["mask"]}
            result = self.predict(asset_id, body)
        if result is not None:
            think()
            self.save(asset_id, result)
        with self.client.get(
            f"/api/assets/{asset_id}/neighbors/",
            name="neighbors",
            timeout=TIMEOUT_S,
            catch_response=True,
        ) as response:
            if response.status_code == 200:
                following = response.json().get("next")
                self.asset_id = int(following) if following is not None else self.first_id

    def save(self, asset_id: int, result: dict[str, Any]) -> None:
        body = {
            "frame": 0,
            "label": CONFIG["label"],
            "mask": result["mask"],
            "source": "interactive",
            "score": min(1.0, max(0.0, float(result.get("score") or 0.0))),
            "interaction": {
                "engine": "classical",
                "prompts": result.get("prompts") or {},
                "elapsed_ms": float(result.get("elapsed_ms", 0.0)),
            },
        }
        try:
            response = self.client.post(
                f"/api/assets/{asset_id}/annotations/", json=body, name="save", timeout=TIMEOUT_S
            )
        except Exception as exc:  # locust's session records it; the outcome is unknown
            SAVE_UNKNOWN.append(f"{type(exc).__name__}: {exc}")
            return
        if response.status_code == 201:
            SAVED_IDS.append(int(response.json()["id"]))
        elif response.status_code == 0:
            # No response at all (connection error): the row may or may not exist.
            SAVE_UNKNOWN.append(str(getattr(response, "error", "no response")))
