"""Celery tasks, one module per domain; imported here so the worker registers them all.

Tasks take ids, never model objects; they tolerate rows that vanished and can run twice
without harm (claim, compute, upsert).
"""

from workers.tasks import embeddings, thumbnails  # noqa: F401
from workers import heartbeat  # noqa: F401
