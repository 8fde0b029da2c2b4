"""The one job lifecycle, written once for every job kind.

::

    queued --claim--> running --finish--> done
                         |------fail----> failed
                         |--cancel (user, web side)--> cancelled: the run stops at its
                         |                             next progress report
                         '--worker lost--> queued again as a new delivery, or failed
                                           after JOB_MAX_ATTEMPTS claims

- A job is started on the web side (``annotator.services.jobs.start_job``): a queued
  row whose ``celery_id`` names the one delivery (task message) that may claim it.
- A delivery claims with a conditional UPDATE (queued -> running, its own id only), so
  a message delivered twice, a stale redelivery after a visibility timeout, or the own
  message of a job another run already took does nothing. Tasks are ``acks_late``.
- While it runs, a thread of the worker process stamps ``Job.heartbeat`` every
  ``JOB_HEARTBEAT_S`` (progress reports stamp it too). Every other write of the run
  (progress, finish, fail) is conditional on the run still owning the job (status
  running, same ``celery_id``): a run that lost the job stops at its next report.
- A worker lost mid-job is noticed twice over: the worker's main process sees its pool
  process die (``WorkerLostError``) and recovers the job at once; and every worker
  sweeps for running jobs without a heartbeat for ``JOB_STALE_AFTER_S`` (a whole
  machine that died), also at start-up. Recovery sends the job again as a new delivery
  (new ``celery_id``) while claims remain, else fails it with an error that says so.
- One run may claim queued jobs of the same kind to do them in one pass (the embed
  queue's batches): :meth:`JobRun.claim_companions`. The run beats for them and finishes
  each; if it fails they go back to the queue as new deliveries.

A job task is a function of a :class:`JobRun`, registered with :func:`job_task` under
its name from ``annotator/task_routes.py``; see docs/architecture.md ("Writing a new job
kind").
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import Task, shared_task
from celery.exceptions import WorkerLostError
from celery.signals import task_failure
from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from annotator import task_routes
from annotator.models import Job, JobStatus
from annotator.services.dispatch import send_task

logger = logging.getLogger(__name__)

#: What a job task returns (its Celery result, kept ``CELERY_RESULT_EXPIRES``).
SKIPPED, DONE, FAILED, CANCELLED = "skipped", "done", "failed", "cancelled"
_JOB_TASK_NAMES = frozenset(task_routes.JOB_TASKS.values())


class JobCancelled(Exception):
    """The run no longer owns its job: the user cancelled it, or the job was handed to
    another delivery after this worker was taken for lost."""


class JobFailed(Exception):
    """Raise with a user-facing message to fail the job without a traceback."""


@dataclass(frozen=True)
class Lease:
    """A run's hold on a job: the job and the delivery (``celery_id``) that claimed it."""

    job_id: int
    token: str


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _held(lease: Lease, stale_before: datetime | None = None) -> QuerySet[Job]:
    rows = Job.objects.filter(pk=lease.job_id, status=JobStatus.RUNNING, celery_id=lease.token)
    if stale_before is not None:
        rows = rows.filter(Q(heartbeat__lt=stale_before) | Q(heartbeat__isnull=True))
    return rows


def _take(rows: QuerySet[Job]) -> int:
    now = timezone.now()
    return rows.update(
        status=JobStatus.RUNNING,
        started=now,
        heartbeat=now,
        attempts=F("attempts") + 1,
        worker=worker_name()[:255],
    )


def claim(job_id: int, delivery: str | None) -> Lease | None:
    """queued -> running for ``delivery`` (the task message's id; ``None`` for a call
    in-process, which may claim any queued job). ``None`` when there is nothing to do:
    the job is not queued (finished, cancelled, running elsewhere, gone) or waits for
    another delivery."""
    rows = Job.objects.filter(pk=job_id, status=JobStatus.QUEUED)
    if delivery is not None:
        rows = rows.filter(celery_id=delivery)
    if not _take(rows):
        return None
    token = delivery
    if token is None:
        token = Job.objects.values_list("celery_id", flat=True).get(pk=job_id)
    return Lease(job_id, token)


def claim_companions(lease: Lease, kind: str, limit: int, **filters: Any) -> list[Lease]:
    """Claim up to ``limit`` other queued jobs of ``kind`` (``filters`` on the Job rows)
    for the run holding ``lease`` to do in the same pass. Their own deliveries then
    find them taken and do nothing."""
    if limit <= 0:
        return []
    candidates = (
        Job.objects.filter(kind=kind, status=JobStatus.QUEUED, **filters)
        .exclude(pk=lease.job_id)
        .order_by("id")
        .values_list("pk", "celery_id")[: limit * 2]
    )
    leases: list[Lease] = []
    for pk, token in candidates:
        if _take(Job.objects.filter(pk=pk, status=JobStatus.QUEUED, celery_id=token)):
            leases.append(Lease(pk, token))
        if len(leases) >= limit:
            break
    return leases


def beat(leases: Iterable[Lease]) -> int:
    """Stamp the heartbeat of every job still held; returns how many."""
    held = Q(pk__in=[])
    for lease in leases:
        held |= Q(pk=lease.job_id, celery_id=lease.token)
    return Job.objects.filter(held, status=JobStatus.RUNNING).update(heartbeat=timezone.now())


def report_progress(lease: Lease, fraction: float, message: str = "") -> None:
    """Store progress in [0, 1] (and a heartbeat); raises :class:`JobCancelled` when
    the run no longer owns the job (the conditional UPDATE touches no row then)."""
    updated = _held(lease).update(
        progress=max(0.0, min(1.0, float(fraction))),
        message=message[:255],
        heartbeat=timezone.now(),
    )
    if not updated:
        raise JobCancelled(f"job {lease.job_id} is no longer this run's")


def finish(lease: Lease, result: dict[str, Any] | None = None) -> bool:
    return bool(
        _held(lease).update(
            status=JobStatus.DONE, progress=1.0, result=result, finished=timezone.now()
        )
    )


def fail(lease: Lease, error: str, stale_before: datetime | None = None) -> bool:
    return bool(
        _held(lease, stale_before).update(
            status=JobStatus.FAILED, error=error[:10_000], finished=timezone.now()
        )
    )


def redeliver(
    lease: Lease, message: str, *, stale_before: datetime | None = None, refund: bool = False
) -> bool:
    """Give a held job back to the queue as a new delivery of its task (a new
    ``celery_id``; the old delivery can no longer claim or write it). ``refund``: the
    claim did not count as an attempt (a companion handed back unrun)."""
    job = Job.objects.filter(pk=lease.job_id).values("kind").first()
    task = task_routes.JOB_TASKS.get(job["kind"]) if job else None
    if task is None:
        return False
    new_token = str(uuid.uuid4())
    changes: dict[str, Any] = {
        "status": JobStatus.QUEUED,
        "celery_id": new_token,
        "heartbeat": None,
        "worker": "",
        "message": message[:255],
    }
    if refund:
        changes["attempts"] = F("attempts") - 1
    if not _held(lease, stale_before).update(**changes):
        return False
    send_task(task, [lease.job_id], task_id=new_token)
    return True


def recover(lease: Lease, reason: str, stale_before: datetime | None = None) -> str:
    """A run whose worker was lost: the job goes back to the queue while claims remain
    (``JOB_MAX_ATTEMPTS``), else it fails with ``reason``. Returns ``"requeued"``,
    ``"failed"``, or ``""`` when the run no longer held the job (or, with
    ``stale_before``, its heartbeat came back meanwhile)."""
    job = _held(lease, stale_before).values("kind", "attempts").first()
    if job is None:
        return ""
    attempts, limit = int(job["attempts"]), settings.JOB_MAX_ATTEMPTS
    if attempts < limit and job["kind"] in task_routes.JOB_TASKS:
        message = f"{reason}; running it again (attempt {attempts + 1} of {limit})"
        if redeliver(lease, message, stale_before=stale_before):
            logger.warning("job %s: %s", lease.job_id, message)
            return "requeued"
        return ""
    error = (
        f"{reason}, on attempt {attempts} of {limit}: the job was given up "
        "(the worker may have been killed or run out of memory; see its log)"
    )
    if fail(lease, error, stale_before):
        logger.error("job %s: %s", lease.job_id, error)
        return "failed"
    return ""


def recover_stale_jobs(now: datetime | None = None) -> dict[int, str]:
    """The sweep: every running job without a heartbeat for ``JOB_STALE_AFTER_S`` lost
    its worker; recover it. Safe to run from any number of workers at once (each change
    is a conditional UPDATE). Returns ``{job_id: outcome}`` for the jobs it changed."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.JOB_STALE_AFTER_S)
    stale = Job.objects.filter(status=JobStatus.RUNNING).filter(
        Q(heartbeat__lt=cutoff) | Q(heartbeat__isnull=True, started__lt=cutoff)
    )
    outcomes: dict[int, str] = {}
    for pk, token, worker in stale.values_list("pk", "celery_id", "worker"):
        reason = (
            f"the worker running it ({worker or 'unknown'}) sent no heartbeat for "
            f"{settings.JOB_STALE_AFTER_S:g} s"
        )
        outcome = recover(Lease(pk, token), reason, stale_before=cutoff)
        if outcome:
            outcomes[pk] = outcome
    return outcomes


class _Heartbeat:
    """A daemon thread stamping the heartbeats of a run's jobs until stopped."""

    def __init__(self, leases: list[Lease]) -> None:
        self.leases = list(leases)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="job-heartbeat")

    def start(self) -> None:
        self._thread.start()

    def add(self, leases: Iterable[Lease]) -> None:
        with self._lock:
            self.leases.extend(leases)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        try:
            while not self._stop.wait(settings.JOB_HEARTBEAT_S):
                with self._lock:
                    leases = list(self.leases)
                try:
                    beat(leases)
                except Exception:  # a missed beat is harmless; many look like a dead worker
                    logger.warning("job heartbeat failed", exc_info=True)
        finally:
            connection.close()  # this thread's own database connection


class JobRun:
    """The running job as a task sees it: ``job`` (the row at claim time),
    ``progress(fraction, message)``, which raises :class:`JobCancelled` when the run no
    longer owns the job, and ``result``, stored when the task returns."""

    def __init__(self, job: Job, lease: Lease, heartbeat: _Heartbeat) -> None:
        self.job = job
        self.lease = lease
        self.result: dict[str, Any] | None = None
        self.outcome = DONE
        self._heartbeat = heartbeat
        self._companions: dict[int, Lease] = {}
        self._finished = False

    def progress(self, fraction: float, message: str = "") -> None:
        report_progress(self.lease, fraction, message)

    def finish_in_transaction(self, result: dict[str, Any] | None = None) -> None:
        """Finish the job inside the caller's ``transaction.atomic()`` block, so that the
        results stored in it and the job's ``done`` commit together or not at all: raises
        :class:`JobCancelled` (rolling the block back) when the run no longer owns the
        job, e.g. it was cancelled, or taken for lost while a long transaction held the
        database and handed to another delivery."""
        if not finish(self.lease, result):
            raise JobCancelled(f"job {self.lease.job_id} is no longer this run's")
        self.result = result
        self._finished = True

    def handed_over(self) -> bool:
        """Whether another delivery now holds the job (this run was taken for lost):
        inputs it needs (uploaded files) must then stay."""
        return (
            Job.objects.filter(
                pk=self.lease.job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
            )
            .exclude(celery_id=self.lease.token)
            .exists()
        )

    def claim_companions(self, limit: int, **filters: Any) -> list[Job]:
        """Claim up to ``limit`` queued jobs of this kind to do in this pass; finish each
        with :meth:`finish_companion`. Those not finished go back to the queue when the
        run ends."""
        leases = claim_companions(self.lease, self.job.kind, limit, **filters)
        self._heartbeat.add(leases)
        self._companions.update({lease.job_id: lease for lease in leases})
        return list(Job.objects.filter(pk__in=[lease.job_id for lease in leases]).order_by("id"))

    def finish_companion(self, job_id: int, result: dict[str, Any] | None = None) -> None:
        lease = self._companions.pop(job_id, None)
        if lease is not None:
            finish(lease, result)

    def release_companions(self) -> None:
        """Hand every companion not finished back to the queue as a new delivery."""
        for lease in self._companions.values():
            redeliver(lease, f"handed back by job {self.lease.job_id}", refund=True)
        self._companions.clear()


@contextmanager
def run_job(job_id: int, delivery: str | None = None) -> Iterator[JobRun | None]:
    """Claim the job for ``delivery`` and yield its :class:`JobRun`, or ``None`` when
    there is nothing to do. Beats while the body runs; finishes the job with
    ``run.result`` when the body returns, fails it when the body raises (a
    :class:`JobFailed` with its message, anything else with the traceback), and stops
    quietly on :class:`JobCancelled`."""
    lease = claim(job_id, delivery)
    if lease is None:
        yield None
        return
    heartbeat = _Heartbeat([lease])
    heartbeat.start()
    try:
        job = Job.objects.select_related("project", "created_by").get(pk=job_id)
        run = JobRun(job, lease, heartbeat)
        try:
            yield run
        except JobCancelled:
            logger.info("job %s was cancelled or taken over", job_id)
            run.outcome = CANCELLED
        except JobFailed as exc:
            fail(lease, str(exc))
            run.outcome = FAILED
        except Exception as exc:
            logger.exception("job %s failed", job_id)
            fail(lease, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
            run.outcome = FAILED
        else:
            if not run._finished:
                finish(lease, run.result)
        finally:
            run.release_companions()
    finally:
        heartbeat.stop()


def job_task(name: str) -> Callable[[Callable[[JobRun], None]], Task]:
    """Register ``body(run)`` as the Celery task ``name`` (a job task of
    ``task_routes.JOB_TASKS``) that takes ``(job_id,)`` and runs the body through
    :func:`run_job`. The task returns the outcome (``done``, ``failed``,
    ``cancelled``, ``skipped``) as its result."""
    if name not in _JOB_TASK_NAMES:
        raise ValueError(f"{name!r} is not a job task of annotator/task_routes.py")

    def register(body: Callable[[JobRun], None]) -> Task:
        def run_task(self: Task, job_id: int) -> str:
            with run_job(job_id, self.request.id) as run:
                if run is None:
                    return SKIPPED
                body(run)
            return run.outcome

        run_task.__name__ = body.__name__
        run_task.__qualname__ = body.__qualname__
        run_task.__module__ = body.__module__
        run_task.__doc__ = body.__doc__
        task: Task = shared_task(name=name, bind=True, acks_late=True, ignore_result=False)(
            run_task
        )
        return task

    return register


@task_failure.connect
def recover_after_lost_pool_process(
    sender: Task | None = None,
    task_id: str | None = None,
    exception: BaseException | None = None,
    args: Any = None,
    **_: Any,
) -> None:
    """In the worker's main process: a pool process died under a job task (killed,
    segfault, out of memory). Recover the job now rather than after the stale sweep."""
    if not isinstance(exception, WorkerLostError) or sender is None or task_id is None:
        return
    if sender.name not in _JOB_TASK_NAMES or not args:
        return
    try:
        close_old_connections()  # the main process's connection may be long idle
        recover(
            Lease(int(args[0]), task_id), f"the worker process running it was lost ({exception})"
        )
    except Exception:  # the stale sweep will get it
        logger.exception("could not recover job %s after its worker was lost", args[0])
