"""Sending work to the Celery workers by task name.

The web process never imports ``workers``: tasks are sent by name, and only after the
surrounding transaction commits, so a worker never looks for a row that is not there.
The queue comes from the task's route (``annotator/task_routes.py``), never from the
call site.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from annotator import task_routes
from annotator.celery import app


def send_task(name: str, args: list[Any], **options: Any) -> str:
    """Send now (for callers outside a transaction or that need the id). Returns the id.
    ``KeyError`` for a task name that has no route."""
    queue = task_routes.queue_of(name)
    result = app.send_task(name, args=args, queue=queue, **options)
    return str(result.id)


def send_task_on_commit(name: str, args: list[Any], task_id: str | None = None) -> None:
    task_routes.queue_of(name)  # an unknown name fails here, inside the caller's transaction
    # robust: a broker that cannot be reached must not turn the committed request into a
    # 500 (the error is logged); the job stays queued and the workers' sweep sends it
    # again once Redis is back (``workers.runtime.lifecycle.resend_lost_deliveries``).
    transaction.on_commit(lambda: send_task(name, args, task_id=task_id), robust=True)
