"""Celery tasks, one module per domain; imported here so the worker registers them all.

Tasks take ids, never model objects; they tolerate rows that vanished and can run twice
without harm (claim, compute, upsert).
"""

from workers import heartbeat, process_setup  # noqa: F401
from workers.tasks import datasets, embeddings, thumbnails  # noqa: F401
