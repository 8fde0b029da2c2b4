"""The project model as the web side sees it: which annotations are labels, its state,
training as a job, and retraining once enough new labels arrived.

The model itself (features, classifier) is ``workers/learning``; the ``train`` job
(``workers/runtime/learning``) stores each version as a :class:`ProjectModel` row."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q, QuerySet

from annotator.errors import InvalidInput
from annotator.models import (
    Annotation,
    AnnotationSource,
    Job,
    JobStatus,
    ModelStatus,
    Project,
    ProjectModel,
    ReviewStatus,
)
from annotator.services.jobs import start_job

#: Sources a person stands behind without review (an import is someone's labels).
HUMAN_SOURCES = (AnnotationSource.MANUAL, AnnotationSource.INTERACTIVE, AnnotationSource.IMPORTED)
MAX_RETRAIN_AFTER = 10_000


def model_folder(project_id: int) -> str:
    """Where a project's model versions are stored in media storage."""
    return f"learning/{project_id}"


def label_annotations(project: Project | int) -> QuerySet[Annotation]:
    """The annotations the model learns from: a person's masks not rejected in review, and
    any accepted one (a proposal a reviewer accepted is a label too). Pending proposals,
    propagated masks and rejected annotations are not."""
    project_id = project if isinstance(project, int) else project.pk
    return Annotation.objects.filter(
        asset__project_id=project_id, mask__isnull=False, area__gt=0
    ).filter(
        Q(review_status=ReviewStatus.ACCEPTED)
        | (Q(source__in=HUMAN_SOURCES) & ~Q(review_status=ReviewStatus.REJECTED))
    )


def labelled_frames(project: Project | int) -> set[tuple[int, int]]:
    """``(asset id, frame)`` of every frame with at least one label."""
    return set(label_annotations(project).values_list("asset_id", "frame").distinct())


def latest_model(project: Project | int) -> ProjectModel | None:
    project_id = project if isinstance(project, int) else project.pk
    return (
        ProjectModel.objects.filter(project_id=project_id, status=ModelStatus.READY)
        .order_by("-version")
        .first()
    )


def retrain_after(project: Project) -> int:
    value = (project.settings or {}).get("retrain_after")
    return int(value) if isinstance(value, int) else settings.LEARNING_RETRAIN_AFTER


def set_retrain_after(project: Project, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_RETRAIN_AFTER:
        raise InvalidInput(
            f"retrain_after must be an integer from 0 to {MAX_RETRAIN_AFTER}",
            "invalid_retrain_after",
        )
    with transaction.atomic():
        locked = Project.objects.select_for_update().get(pk=project.pk)
        locked.settings = {**(locked.settings or {}), "retrain_after": value}
        locked.save(update_fields=["settings", "updated"])
    project.settings = locked.settings


def labels_since(project: Project, model: ProjectModel | None) -> int:
    """Labels added or changed since ``model`` was trained (all of them without one).

    Counted from when its training job started, not when the version was stored: a
    label written while it trained is not in it (one read just after the start is
    counted as well, which only brings the next training closer)."""
    labels = label_annotations(project)
    if model is not None:
        started = None
        if model.job_id is not None:
            started = Job.objects.filter(pk=model.job_id).values_list("started", flat=True).first()
        labels = labels.filter(updated__gt=started or model.created)
    return labels.count()


def training_job(project: Project) -> Job | None:
    """The project's train job queued or running, if any."""
    return (
        Job.objects.filter(
            project=project, kind="train", status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        )
        .order_by("-id")
        .first()
    )


def _last_training_failed(project: Project) -> bool:
    last = Job.objects.filter(project=project, kind="train").order_by("-id").first()
    return last is not None and last.status == JobStatus.FAILED


def start_training(project: Project, user: User | None, *, auto: bool = False) -> Job:
    """A ``train`` job (the one already queued or running, if any: one at a time).

    The check and the start are one step under the project's row lock (SQLite: one
    writer): two label writes reaching ``retrain_after`` together start one job."""
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        running = training_job(project)
        if running is not None:
            return running
        if not label_annotations(project).exists():
            raise InvalidInput("the project has no labels yet: annotate a frame first", "no_labels")
        return start_job(project=project, kind="train", user=user, params={"auto": auto})


def note_labels_changed(project: Project) -> Job | None:
    """Called after a label is written: start a training once ``retrain_after`` new labels
    have arrived since the last version (never while one is queued or running)."""
    every = retrain_after(project)
    if every <= 0 or training_job(project) is not None:
        return None
    if labels_since(project, latest_model(project)) < every:
        return None
    return start_training(project, None, auto=True)


def _summary(model: ProjectModel) -> dict[str, Any]:
    return {
        "version": model.version,
        "trained_on": model.trained_on,
        "num_labels": model.num_labels,
        "metrics": model.metrics,
        "created": model.created.isoformat(),
    }


def model_state(project: Project) -> dict[str, Any]:
    """``GET /api/projects/{id}/model/``: the latest version, whether one is training,
    and every version's figures (the label-efficiency curve)."""
    history = list(ProjectModel.objects.filter(project=project).order_by("version"))
    ready = [m for m in history if m.status == ModelStatus.READY]
    latest = ready[-1] if ready else None
    job = training_job(project)
    if job is not None:
        status = "training"
    elif latest is not None:
        status = "ready"
    elif history or _last_training_failed(project):
        status = "failed"  # no version to use: say why instead of "none"
    else:
        status = "none"
    return {
        "status": status,
        "version": latest.version if latest else None,
        "kind": latest.kind if latest else None,
        "trained_on": latest.trained_on if latest else 0,
        "num_labels": latest.num_labels if latest else 0,
        "metrics": latest.metrics if latest else {},
        "updated": latest.created.isoformat() if latest else None,
        "job": job.pk if job else None,
        "labels_since": labels_since(project, latest),
        "retrain_after": retrain_after(project),
        "history": [_summary(m) for m in ready],
    }
