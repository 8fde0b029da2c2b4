"""Sending work to the Celery workers by task name.

The web process never imports ``workers``: tasks are sent by name, and only after the
surrounding transaction commits, so a worker never looks for a row that is not there.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from annotator.celery import app

QUEUES = ("interactive", "embed", "jobs")


def send_task(name: str, args: list[Any], queue: str, **options: Any) -> str:
    """Send now (for callers outside a transaction or that need the id). Returns the id."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    result = app.send_task(name, args=args, queue=queue, **options)
    return str(result.id)


def send_task_on_commit(name: str, args: list[Any], queue: str, task_id: str | None = None) -> None:
    transaction.on_commit(lambda: send_task(name, args, queue, task_id=task_id))
