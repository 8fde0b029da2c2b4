"""The Celery app, configured from Django settings (``CELERY_*``).

The web process only *sends* tasks by name (``send_task``), so it never imports the
worker code or torch; workers discover ``workers.tasks``.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotator.settings")

app = Celery("annotator")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Tasks live in the ``workers`` package, which is not a Django app: name it directly.
app.conf.imports = ("workers.tasks",)
