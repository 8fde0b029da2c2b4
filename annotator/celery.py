"""The Celery app, configured from Django settings (``CELERY_*``).

The web process only *sends* tasks by name (``send_task``), so it never imports the
worker code or torch; workers load ``workers.runtime.tasks``.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")

app = Celery("annotator")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Tasks live in the worker runtime, which is not a Django app: name it directly.
app.conf.imports = ("workers.runtime.tasks",)


@worker_init.connect
def remember_concurrency(sender: Any = None, **_: Any) -> None:
    """Record the pool size for the pool processes (workers.runtime.torch_threads sizes torch's
    thread pool from it). Connected here because task modules load after this signal."""
    concurrency = getattr(sender, "concurrency", None)
    if concurrency:
        os.environ["ANNOTATOR_WORKER_CONCURRENCY"] = str(concurrency)
