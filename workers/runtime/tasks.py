"""Everything a worker process loads (``annotator.celery``: ``app.conf.imports``): the
task modules, one per task family, and the modules that connect worker signals.

A new task family is one more module here (and its names in
``annotator/task_routes.py``).
"""

from workers.runtime import (  # noqa: F401
    embed,
    exports,
    imports,
    learning,
    lifecycle,
    liveness,
    predict,
    propagation,
    thumbnails,
    torch_threads,
    videos,
)
