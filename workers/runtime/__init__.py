"""The worker runtime: Celery tasks and the database side of worker code.

The only part of ``workers`` that imports Django, Celery or ``annotator``; the compute
packages beside it (``engines``, ``export``, ``evaluation``, ...) are numpy in, numpy
out. Tasks are thin: load ids, call compute code, store results, through the one job
lifecycle (:mod:`workers.runtime.lifecycle`).

- :mod:`.lifecycle`: claim, progress, heartbeat, finish, fail, recover (every job kind)
- :mod:`.predict`: ``predict`` and ``ping`` (``interactive`` queue)
- :mod:`.embed`: per-image engine state (``embed`` queue)
- :mod:`.thumbnails`, :mod:`.exports`, :mod:`.imports`: jobs (``jobs`` queue)
- :mod:`.engine_pool`: engines and embedding caches per process
- :mod:`.liveness`, :mod:`.torch_threads`: worker process set-up and duties
- :mod:`.tasks`: the list of modules a worker loads
- :mod:`.sam_checkpoint`: ``python -m workers.runtime.sam_checkpoint`` (register a SAM
  checkpoint on a worker host)
"""
