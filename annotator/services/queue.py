"""The active-learning queue: which frame a member labels next, leased to one at a time.

Items carry a score per strategy (filled in by the ``queue`` job, ``workers/runtime/
learning``). A lease is won with a conditional UPDATE (free or expired -> mine): of two
members asking at the same moment for the same item, exactly one matches the row, on
PostgreSQL (the second waits for the first's row lock, then finds it taken) and on SQLite
(one writer) alike; the loser moves on to the next candidate."""

from __future__ import annotations

import random
import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from annotator.errors import Conflict, InvalidInput
from annotator.models import (
    Annotation,
    Asset,
    AssetStatus,
    Job,
    JobStatus,
    Membership,
    Project,
    QueueItem,
    QueueReason,
    QueueSkip,
    ReviewStatus,
)
from annotator.services.jobs import start_job
from annotator.services.project_model import labelled_frames

#: Strategy -> the column it orders by (``combined`` is ``score``).
STRATEGIES: dict[str, str] = {
    "combined": "score",
    "random": "random",
    "entropy": "entropy",
    "margin": "margin",
    "sensitivity": "sensitivity",
    "diversity": "diversity",
}
DEFAULT_STRATEGY = "combined"
#: Candidates tried per ``next`` before giving up on a very busy queue.
ATTEMPTS = 20


def check_strategy(strategy: str | None) -> str:
    strategy = strategy or DEFAULT_STRATEGY
    if strategy not in STRATEGIES:
        raise InvalidInput(f"strategy must be one of {', '.join(STRATEGIES)}", "invalid_strategy")
    return strategy


def candidate_frames(asset: Asset) -> list[int]:
    """The frames of ``asset`` the queue offers: every frame of an image, every
    ``QUEUE_VIDEO_STRIDE``-th of a video (neighbouring frames teach the model little)."""
    if asset.num_frames <= 1:
        return [0]
    return list(range(0, asset.num_frames, settings.QUEUE_VIDEO_STRIDE))


def add_new_assets(project: Project) -> int:
    """Queue the frames of ready assets that have no item yet (uploaded since the last
    refresh) with a random order; the next ``queue`` job scores them properly."""
    assets = Asset.objects.filter(
        project=project, status=AssetStatus.READY, queue_items__isnull=True
    ).distinct()
    rng = random.Random()
    items = [
        QueueItem(
            project=project,
            asset=asset,
            frame=frame,
            random=rng.random(),
            score=rng.random() * 1e-3,  # below every scored item, in a random order
            diversity=rng.random() * 1e-3,
        )
        for asset in assets
        for frame in candidate_frames(asset)
    ]
    QueueItem.objects.bulk_create(items, ignore_conflicts=True)
    if items and not _refresh_pending(project):
        start_refresh(project, None)
    return len(items)


def _refresh_pending(project: Project) -> bool:
    return Job.objects.filter(
        project=project, kind="queue", status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).exists()


def start_refresh(project: Project, user: User | None) -> Job:
    """A ``queue`` job: score every open item under every strategy with the latest model."""
    with transaction.atomic():
        return start_job(project=project, kind="queue", user=user)


def _await_first_ranking(project: Project) -> None:
    """A project's first ranking (the ``queue`` job that ``add_new_assets`` started) is
    waited for, up to ``QUEUE_RANK_WAIT_S``: without it the first item would be a random
    one, and the first label decides how good the first model is (the ranking picks the
    most typical frame). Later calls never wait: an older ranking is good enough."""
    jobs = Job.objects.filter(project=project, kind="queue")
    first = jobs.order_by("id").values_list("created", flat=True).first()
    if first is None:
        return
    # Counted from the first ranking's start, not per call: with no worker to run it,
    # only the first calls wait, never every call.
    age = (timezone.now() - first).total_seconds()
    deadline = time.monotonic() + settings.QUEUE_RANK_WAIT_S - age
    while time.monotonic() < deadline:
        if jobs.filter(status=JobStatus.DONE).exists() or not _refresh_pending(project):
            return
        time.sleep(0.2)


def _live(now: object) -> Q:
    return Q(leased_by__isnull=False, lease_expires__gt=now)


def _lease(item_id: int, user: User, strategy: str, now: object) -> bool:
    return bool(
        QueueItem.objects.filter(pk=item_id, done=False)
        .exclude(_live(now))
        .update(
            leased_by=user,
            lease_expires=now + timedelta(seconds=settings.QUEUE_LEASE_S),  # type: ignore[operator]
            strategy=strategy,
            updated=now,
        )
    )


def _open_for(project: Project, user: User, now: object) -> QuerySet[QueueItem]:
    return (
        QueueItem.objects.filter(project=project, done=False)
        # Rework goes to its author; to anyone once the author has left the project.
        .filter(
            Q(assigned_to__isnull=True)
            | Q(assigned_to=user)
            | ~Exists(
                Membership.objects.filter(project=project, user_id=OuterRef("assigned_to_id"))
            )
        )
        .exclude(_live(now))
        .exclude(skipped__user=user)
    )


def next_item(project: Project, user: User, strategy: str | None) -> QueueItem | None:
    """Lease the best open item under ``strategy`` to ``user`` (``None``: nothing left).

    The member's own live lease comes back first (renewed): a reload or a second tab
    does not take a second item. Frames given back to this member after a rejection
    come before the ranking. A candidate whose frame got a label meanwhile (opened
    directly, imported) is closed and passed over."""
    strategy = check_strategy(strategy)
    add_new_assets(project)
    if strategy != "random":
        _await_first_ranking(project)
    now = timezone.now()
    mine = (
        QueueItem.objects.filter(project=project, done=False, leased_by=user, lease_expires__gt=now)
        .order_by("lease_expires")
        .first()
    )
    if mine is not None:
        QueueItem.objects.filter(pk=mine.pk).update(
            lease_expires=now + timedelta(seconds=settings.QUEUE_LEASE_S)
        )
        mine.refresh_from_db()
        return mine
    column = STRATEGIES[strategy]
    labelled: set[tuple[int, int]] | None = None
    for _ in range(ATTEMPTS):
        candidates = list(
            _open_for(project, user, now)
            .annotate(
                rework=Case(
                    When(reason=QueueReason.REWORK, then=Value(0)),
                    default=Value(1),
                    output_field=IntegerField(),
                )
            )
            .order_by("rework", f"-{column}", "id")
            .values_list("pk", "asset_id", "frame", "reason")[:10]
        )
        if not candidates:
            return None
        for pk, asset_id, frame, reason in candidates:
            if reason == QueueReason.REWORK and not _still_rejected(asset_id, frame):
                # Accepted after all, or corrected outside the queue: nothing to rework.
                QueueItem.objects.filter(pk=pk, done=False).update(done=True, updated=now)
                continue
            if reason != QueueReason.REWORK:
                if labelled is None:
                    labelled = labelled_frames(project)
                if (asset_id, frame) in labelled:
                    QueueItem.objects.filter(pk=pk, done=False).update(done=True, updated=now)
                    continue
            if _lease(pk, user, strategy, now):
                return QueueItem.objects.get(pk=pk)
    return None


def _still_rejected(asset_id: int, frame: int) -> bool:
    return Annotation.objects.filter(
        asset_id=asset_id, frame=frame, review_status=ReviewStatus.REJECTED
    ).exists()


def _holder_check(item: QueueItem, user: User) -> None:
    now = timezone.now()
    held = item.leased_by_id is not None and item.lease_expires and item.lease_expires > now
    if held and item.leased_by_id != user.pk:
        raise Conflict("another member holds this item's lease", "not_leased")
    assigned = item.assigned_to_id
    if not held and assigned is not None and assigned != user.pk and _is_member(item, assigned):
        raise Conflict("the item was given back to another member for rework", "not_leased")


def _is_member(item: QueueItem, user_id: int) -> bool:
    return Membership.objects.filter(project_id=item.project_id, user_id=user_id).exists()


def complete(item: QueueItem, user: User) -> QueueItem:
    """Close ``item``: its frame is labelled. Idempotent for a closed item."""
    if item.done:
        return item
    _holder_check(item, user)
    now = timezone.now()
    QueueItem.objects.filter(pk=item.pk).update(
        done=True, completed=now, completed_by=user, leased_by=None, lease_expires=None, updated=now
    )
    item.refresh_from_db()
    return item


def skip(item: QueueItem, user: User) -> QueueItem:
    """Give ``item`` back: it is not offered to ``user`` again, others still get it."""
    if item.done:
        raise Conflict("the item is closed already", "item_closed")
    _holder_check(item, user)
    with transaction.atomic():
        QueueSkip.objects.get_or_create(item=item, user=user)
        QueueItem.objects.filter(pk=item.pk).update(
            leased_by=None, lease_expires=None, skips=item.skips + 1, updated=timezone.now()
        )
    item.refresh_from_db()
    return item


def release(item: QueueItem, user: User) -> QueueItem:
    """Give the lease back without skipping (leaving queue mode): anyone may get it next,
    this member too."""
    if item.leased_by_id == user.pk and not item.done:
        QueueItem.objects.filter(pk=item.pk, leased_by=user).update(
            leased_by=None, lease_expires=None, updated=timezone.now()
        )
        item.refresh_from_db()
        return item
    _holder_check(item, user)
    return item


def requeue_for_rework(asset_id: int, frame: int, annotator: User | None) -> QueueItem:
    """A rejected annotation's frame goes back to the queue, to its author first."""
    project_id = Asset.objects.filter(pk=asset_id).values_list("project_id", flat=True).get()
    # The asset's own frames first: an asset whose only item is this one would never be
    # queued (``add_new_assets`` takes assets without items).
    add_new_assets(Project.objects.get(pk=project_id))
    item, _ = QueueItem.objects.get_or_create(
        project_id=project_id, asset_id=asset_id, frame=frame, defaults={"score": 1.0}
    )
    QueueItem.objects.filter(pk=item.pk).update(
        done=False,
        reason=QueueReason.REWORK,
        assigned_to=annotator,
        leased_by=None,
        lease_expires=None,
        updated=timezone.now(),
    )
    QueueSkip.objects.filter(item=item).delete()
    item.refresh_from_db()
    return item


def queue_counts(project: Project) -> dict[str, int]:
    now = timezone.now()
    items = QueueItem.objects.filter(project=project)
    return {
        "open": items.filter(done=False).exclude(_live(now)).count(),
        "leased": items.filter(done=False).filter(_live(now)).count(),
        "done": items.filter(done=True).count(),
    }
