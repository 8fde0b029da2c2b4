"""Every Celery task by name, the queue it runs on, and the task that runs each job kind.

The one source of these lists: settings build ``CELERY_TASK_ROUTES`` from
:data:`TASK_QUEUES`, the web side sends tasks by these names (it never imports
``workers``), and the worker runtime registers its tasks under them
(``workers/runtime``). ``tests/workers/runtime/test_registry.py`` pins the two sides:
every task a worker registers is routed here, and every name here has a task.

A new job kind adds one task name and one :data:`JOB_TASKS` entry here, and one module
in ``workers/runtime`` (see docs/architecture.md, "Writing a new job kind").
"""

from __future__ import annotations

#: Queues: ``interactive`` (clicks, must feel instant), ``embed`` (per-image engine
#: state, batched), ``jobs`` (long work with progress).
INTERACTIVE = "interactive"
EMBED = "embed"
JOBS = "jobs"
QUEUES = (INTERACTIVE, EMBED, JOBS)

PREDICT = "workers.predict"
PING = "workers.ping"
EMBED_ASSET = "workers.embed_asset"
MAKE_THUMBNAIL = "workers.make_thumbnail"
EXPORT_PROJECT = "workers.export_project"
IMPORT_DATASET = "workers.import_dataset"
INGEST_VIDEO = "workers.ingest_video"
PROPAGATE = "workers.propagate"
TRAIN_MODEL = "workers.train_model"
REFRESH_QUEUE = "workers.refresh_queue"
PROPOSE = "workers.propose"

TASK_QUEUES: dict[str, str] = {
    PREDICT: INTERACTIVE,
    PING: INTERACTIVE,
    EMBED_ASSET: EMBED,
    MAKE_THUMBNAIL: JOBS,
    EXPORT_PROJECT: JOBS,
    IMPORT_DATASET: JOBS,
    INGEST_VIDEO: JOBS,
    PROPAGATE: JOBS,
    TRAIN_MODEL: JOBS,
    REFRESH_QUEUE: JOBS,
    PROPOSE: JOBS,
}

#: Job kind (``Job.kind``, visible in the API) -> the task that runs it with ``(job_id,)``.
JOB_TASKS: dict[str, str] = {
    "thumbnail": MAKE_THUMBNAIL,
    "embed": EMBED_ASSET,
    "export": EXPORT_PROJECT,
    "import": IMPORT_DATASET,
    "ingest": INGEST_VIDEO,
    "propagate": PROPAGATE,
    "train": TRAIN_MODEL,
    "queue": REFRESH_QUEUE,
    "proposals": PROPOSE,
}


def queue_of(task: str) -> str:
    """The queue ``task`` runs on; ``KeyError`` for a name no worker registers."""
    return TASK_QUEUES[task]
