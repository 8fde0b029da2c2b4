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
- The row is the truth, the task message only a wake-up call: a queued job whose
  message the broker no longer holds (a broker restarted without persistence, a send
  that failed while it was down) is sent again as a new delivery by the workers' sweep
  (:func:`resend_lost_deliveries`), so no job waits forever.
- A failed database connection (a server restart, a connection closed by an admin or a
  proxy) is reconnected once for each lifecycle write; a body that fails on one is
  taken for a lost worker (run again while claims remain), not for a broken job.

A job task is a function of a :class:`JobRun`, registered with :func:`job_task` under
its name from ``annotator/task_routes.py``; see docs/architecture.md ("Writing a new job
kind").
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from celery import Task, shared_task
from celery.exceptions import WorkerLostError
from celery.signals import task_failure
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from annotator import task_routes
from annotator.models import Job, JobStatus
from annotator.redis_client import task_ids_in_broker
from annotator.services.dispatch import send_task

logger = logging.getLogger(__name__)

#: What a job task returns (its Celery result, kept ``CELERY_RESULT_EXPIRES``).
SKIPPED, DONE, FAILED, CANCELLED = "skipped", "done", "failed", "cancelled"
#: The run lost its database connection and handed the job back to the queue.
REQUEUED = "requeued"
_JOB_TASK_NAMES = frozenset(task_routes.JOB_TASKS.values())
#: The database connection failed: the server restarted, an admin or a proxy closed it.
DB_CONNECTION_ERRORS = (OperationalError, InterfaceError)
_T = TypeVar("_T")


class JobCancelled(Exception):
    """The run no longer owns its job: the user cancelled it, or the job was handed to
    another delivery after this worker was taken for lost."""


class JobFailed(Exception):
    """Raise with a user-facing message to fail the job without a traceback."""


def internal_error(exc: BaseException) -> str:
    """A job's ``error`` for an unexpected exception: a code and the kind of fault, never
    a traceback or the exception's text (paths, settings, data of other projects)."""
    kind = type(exc).__name__
    return f"internal_error: the job failed on the server ({kind}); the worker's log has details"


@dataclass(frozen=True)
class Lease:
    """A run's hold on a job: the job and the delivery (``celery_id``) that claimed it."""

    job_id: int
    token: str


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def reconnecting(query: Callable[[], _T]) -> _T:
    """``query()``, and once more on a fresh connection when the database connection
    failed. A dead connection is only found out by using it (an idle one killed by the
    server raises at its next query), and Django does not reconnect by itself outside
    of a request. Not inside a transaction: the failure ended it."""
    try:
        return query()
    except DB_CONNECTION_ERRORS:
        if connection.in_atomic_block:
            raise
        logger.warning("database connection failed; reconnecting", exc_info=True)
        close_old_connections()  # drops a connection that failed and is unusable
        return query()


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


def _requeue(rows: QuerySet[Job], job_id: int, message: str, refund: bool = False) -> bool:
    """Make the job (if ``rows`` still select it) queued for a new delivery and send it.
    A queued job's ``heartbeat`` is when its delivery was sent. A send that fails (the
    broker is down) leaves the job queued: :func:`resend_lost_deliveries` sends it."""
    job = Job.objects.filter(pk=job_id).values("kind").first()
    task = task_routes.JOB_TASKS.get(job["kind"]) if job else None
    if task is None:
        return False
    new_token = str(uuid.uuid4())
    changes: dict[str, Any] = {
        "status": JobStatus.QUEUED,
        "celery_id": new_token,
        "heartbeat": timezone.now(),
        "worker": "",
        "message": message[:255],
    }
    if refund:
        changes["attempts"] = F("attempts") - 1
    if not rows.update(**changes):
        return False
    try:
        send_task(task, [job_id], task_id=new_token)
    except Exception:
        logger.warning("job %s: could not send it (sent again later)", job_id, exc_info=True)
    return True


def redeliver(
    lease: Lease, message: str, *, stale_before: datetime | None = None, refund: bool = False
) -> bool:
    """Give a held job back to the queue as a new delivery of its task (a new
    ``celery_id``; the old delivery can no longer claim or write it). ``refund``: the
    claim did not count as an attempt (a companion handed back unrun)."""
    return _requeue(_held(lease, stale_before), lease.job_id, message, refund)


#: Per job kind, what to remove once :func:`recover` gives a job up, since the lost run
#: never got to its own clean-up (an import's uploaded archive): ``cleanup(job)``,
#: registered by the kind's task module with :func:`on_given_up`.
_GIVEN_UP_CLEANUPS: dict[str, Callable[[Job], None]] = {}


def on_given_up(kind: str) -> Callable[[Callable[[Job], None]], Callable[[Job], None]]:
    """Register ``cleanup(job)`` for jobs of ``kind`` that :func:`recover` fails."""

    def register(cleanup: Callable[[Job], None]) -> Callable[[Job], None]:
        _GIVEN_UP_CLEANUPS[kind] = cleanup
        return cleanup

    return register


def _clean_up_given_up(job_id: int, kind: str) -> None:
    cleanup = _GIVEN_UP_CLEANUPS.get(kind)
    if cleanup is None:
        return
    try:
        cleanup(Job.objects.select_related("project").get(pk=job_id))
    except Exception:  # the job stays failed; what is left is logged
        logger.exception("job %s: the clean-up after giving it up failed", job_id)


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
        _clean_up_given_up(lease.job_id, job["kind"])
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


def resend_lost_deliveries(now: datetime | None = None) -> dict[int, str]:
    """The other sweep: every job queued (or sent again) more than ``JOB_STALE_AFTER_S``
    ago whose task message is neither in its queue nor with a worker (the broker
    restarted without persistence, or was down when it was sent) would wait forever; it
    is sent again as a new delivery. A message taken from the queue at the very moment
    of the check may be sent twice: the new delivery runs the job, the old one finds it
    is not its own. Returns ``{job_id: "resent"}``; raises ``redis.RedisError`` (and
    changes nothing) when the broker cannot be read."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.JOB_STALE_AFTER_S)
    waiting = list(
        Job.objects.filter(status=JobStatus.QUEUED, kind__in=list(task_routes.JOB_TASKS))
        .filter(Q(heartbeat__lt=cutoff) | Q(heartbeat__isnull=True, created__lt=cutoff))
        .values_list("pk", "celery_id", "kind")
    )
    if not waiting:
        return {}
    queues = {task_routes.queue_of(task_routes.JOB_TASKS[kind]) for _, _, kind in waiting}
    in_broker = task_ids_in_broker(sorted(queues))
    outcomes: dict[int, str] = {}
    for pk, token, _ in waiting:
        if token in in_broker:
            continue  # waiting its turn, or with a worker
        rows = Job.objects.filter(pk=pk, status=JobStatus.QUEUED, celery_id=token)
        message = "its task message was lost (the broker restarted?); sent again"
        if _requeue(rows, pk, message):
            logger.warning("job %s: %s", pk, message)
            outcomes[pk] = "resent"
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
                    reconnecting(partial(beat, leases))
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

    def hold(self) -> None:
        """Inside the caller's ``transaction.atomic()`` block: lock the job's row while
        this run still owns it, so results stored in the block are never written by a
        run that was cancelled or taken for lost; :class:`JobCancelled` otherwise."""
        if not _held(self.lease).select_for_update().values_list("pk", flat=True):
            raise JobCancelled(f"job {self.lease.job_id} is no longer this run's")

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
    :class:`JobFailed` with its message, anything else with :func:`internal_error`), and stops
    quietly on :class:`JobCancelled`."""
    lease = reconnecting(lambda: claim(job_id, delivery))
    if lease is None:
        yield None
        return
    heartbeat = _Heartbeat([lease])
    heartbeat.start()
    try:
        job = reconnecting(
            lambda: Job.objects.select_related("project", "created_by").get(pk=job_id)
        )
        run = JobRun(job, lease, heartbeat)
        try:
            yield run
        except JobCancelled:
            logger.info("job %s was cancelled or taken over", job_id)
            run.outcome = CANCELLED
        except JobFailed as exc:
            message = str(exc)
            reconnecting(lambda: fail(lease, message))
            run.outcome = FAILED
        except DB_CONNECTION_ERRORS as exc:
            # Not the job's fault: run it again while claims remain, like a lost worker.
            logger.warning("job %s lost its database connection", job_id, exc_info=True)
            reason = f"a database error interrupted it ({type(exc).__name__}; see the worker's log)"
            outcome = reconnecting(lambda: recover(lease, reason))
            run.outcome = {"failed": FAILED, "requeued": REQUEUED}.get(outcome, CANCELLED)
        except Exception as exc:
            # The traceback goes to the worker's log only: a job's error is read by
            # every member of the project and says what happened, not where in our code.
            logger.exception("job %s failed", job_id)
            error = internal_error(exc)
            reconnecting(lambda: fail(lease, error))
            run.outcome = FAILED
        else:
            if not run._finished:
                reconnecting(lambda: finish(lease, run.result))
        finally:
            try:
                reconnecting(run.release_companions)
            except Exception:  # running without a heartbeat now: the stale sweep's
                logger.exception("job %s: could not hand back its companions", job_id)
    finally:
        heartbeat.stop()


def job_task(name: str) -> Callable[[Callable[[JobRun], None]], Task]:
    """Register ``body(run)`` as the Celery task ``name`` (a job task of
    ``task_routes.JOB_TASKS``) that takes ``(job_id,)`` and runs the body through
    :func:`run_job`. The task returns the outcome (``done``, ``failed``,
    ``cancelled``, ``requeued``, ``skipped``) as its result."""
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
        lease = Lease(int(args[0]), task_id)
        reconnecting(
            lambda: recover(lease, f"the worker process running it was lost ({exception})")
        )
    except Exception:  # the stale sweep will get it
        logger.exception("could not recover job %s after its worker was lost", args[0])
