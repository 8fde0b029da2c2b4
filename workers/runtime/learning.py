"""The learning loop's jobs: ``train`` the project model, refresh the ``queue``, write
``proposals``; and the model's prior for clicks.

Thin: labels and frames are read here, everything computed is ``workers.learning``
(numpy in, numpy out), and results are stored in one transaction that first checks the
run still owns its job (``JobRun.hold``)."""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import cv2
import joblib
import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max

from annotator import task_routes
from annotator.models import (
    Annotation,
    AnnotationSource,
    Asset,
    Interaction,
    Job,
    JobStatus,
    Project,
    ProjectModel,
    QueueItem,
    QueueReason,
    ReviewStatus,
)
from annotator.services.annotations import create_annotation
from annotator.services.project_model import (
    label_annotations,
    labelled_frames,
    latest_model,
    model_folder,
)
from annotator.services.proposals import frames_to_propose, replaceable_proposals
from annotator.services.queue import add_new_assets, start_refresh
from formats.rle import decode_mask, encode_mask
from workers.engines.embedding_cache import embedding_key
from workers.learning.classifier import (
    PixelModel,
    TrainingFrame,
    evaluate,
    targets_from_masks,
    train,
    upsample_proba,
)
from workers.learning.features import FEATURE_NAMES, frame_descriptor
from workers.learning.proposals import prior_for, propose
from workers.learning.selection import frame_scores, rank
from workers.runtime.engine_pool import forget_deleted, get_cache, get_engine
from workers.runtime.features import SAM_HEAD, features_of, frame_and_features, model_kind
from workers.runtime.lifecycle import JobFailed, JobRun, job_task

logger = logging.getLogger(__name__)
_T = TypeVar("_T")
_R = TypeVar("_R")
_P = ParamSpec("_P")

#: Channels of the filter features (a ``sam-head`` model's first ones).
FEATURE_CHANNELS = len(FEATURE_NAMES)
#: Labelled frames held back to measure a version (the rest train it), at least 3 frames.
HOLD_OUT_SHARE = 0.2
#: Seconds between progress reports.
REPORT_EVERY_S = 0.5
#: Models kept in memory per worker process (the click prior), and probability maps
#: (at the features' working size).
MODELS_IN_MEMORY = 4
PRIORS_IN_MEMORY = 64


class _Progress:
    def __init__(self, run: JobRun, start: float, end: float, total: int) -> None:
        self.run, self.start, self.end, self.total = run, start, end, max(1, total)
        self.done, self.last = 0, 0.0

    def step(self, message: str) -> None:
        self.done += 1
        now = time.perf_counter()
        if now - self.last >= REPORT_EVERY_S or self.done == self.total:
            self.last = now
            fraction = self.start + (self.end - self.start) * self.done / self.total
            self.run.progress(min(0.99, fraction), message)


# --- train ----------------------------------------------------------------------------


def _scribbles(annotation_ids: list[int]) -> dict[int, list[tuple[np.ndarray, bool]]]:
    """The scribbles behind each annotation (from its interactions), as given."""
    out: dict[int, list[tuple[np.ndarray, bool]]] = defaultdict(list)
    rows = Interaction.objects.filter(annotation_id__in=annotation_ids).values_list(
        "annotation_id", "prompts"
    )
    for annotation_id, prompts in rows:
        for stroke in (prompts or {}).get("scribbles") or []:
            try:
                points = np.asarray(stroke["points"], dtype=np.float64).reshape(-1, 2)
            except (KeyError, TypeError, ValueError):
                continue
            if len(points) and np.isfinite(points).all():
                out[annotation_id].append((points, bool(stroke.get("positive", True))))
    return out


def _training_frames(
    run: JobRun, project_id: int, kind: str
) -> tuple[list[tuple[int, int]], list[TrainingFrame], list[int], int]:
    """Every labelled frame as a :class:`TrainingFrame`; the label ids (class k is
    ``classes[k - 1]``) and the number of label annotations."""
    rows = list(
        label_annotations(project_id)
        .order_by("asset_id", "frame", "id")
        .values_list("id", "asset_id", "frame", "label_id", "mask")
    )
    if not rows:
        raise JobFailed("no_labels: the project has no labels to learn from")
    classes = sorted({label for _, _, _, label, _ in rows})
    index = {label: k + 1 for k, label in enumerate(classes)}
    scribbles = _scribbles([pk for pk, *_ in rows])
    by_frame: dict[tuple[int, int], list[tuple[int, int, Any]]] = defaultdict(list)
    for pk, asset_id, frame, label, mask in rows:
        by_frame[(asset_id, frame)].append((pk, label, mask))
    by_frame = dict(_spread(sorted(by_frame.items()), settings.LEARNING_MAX_TRAIN_FRAMES))
    assets = Asset.objects.in_bulk({asset_id for asset_id, _ in by_frame})
    keys, frames = [], []
    progress = _Progress(run, 0.0, 0.6, len(by_frame))
    for (asset_id, frame), rows_of_frame in sorted(by_frame.items()):
        asset = assets.get(asset_id)
        if asset is None:
            continue
        image, features = frame_and_features(asset, frame, kind)
        height, width = image.shape[:2]
        masks: list[tuple[np.ndarray, int]] = []
        strokes: list[tuple[np.ndarray, int]] = []
        for pk, label, rle in rows_of_frame:
            mask = decode_mask(rle)
            if mask.shape != (height, width):
                continue
            masks.append((mask, index[label]))
            strokes.extend(
                (points, index[label] if positive else 0) for points, positive in scribbles[pk]
            )
        targets = targets_from_masks((height, width), masks, strokes, complete=True)
        keys.append((asset_id, frame))
        frames.append(TrainingFrame(features, targets))
        progress.step(f"features of frame {len(frames)}/{len(by_frame)}")
    return keys, frames, classes, len(rows)


def _in_threads(body: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``body`` with joblib's threading backend: Celery's pool processes are daemons,
    where joblib's default (process-based) backend falls back to one core with a warning
    on every call; the forest's trees are built and read in C with the GIL released."""

    @functools.wraps(body)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with joblib.parallel_config(backend="threading"):
            return body(*args, **kwargs)

    return run


def _spread(items: list[_T], limit: int) -> list[_T]:
    """At most ``limit`` of ``items``, evenly spread over them (a project with thousands
    of labelled frames trains in bounded time and memory on a sample of all of them)."""
    if len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def _held_out(count: int) -> list[int]:
    """Indices of the frames held back to measure a version: every k-th one (spread over
    the project), none below 3 labelled frames."""
    if count < 3:
        return []
    n = max(1, round(count * HOLD_OUT_SHARE))
    step = count / n
    return sorted({min(count - 1, int(step * i + step / 2)) for i in range(n)})


def _metrics(frames: list[TrainingFrame], classes: list[int]) -> dict[str, Any]:
    held = _held_out(len(frames))
    if not held:
        return {"miou": None, "per_label": {}, "frames": 0}
    rest = [f for i, f in enumerate(frames) if i not in held]
    trial = train(rest, classes)
    result = evaluate(trial, [frames[i] for i in held])
    per_label = {str(label): round(float(v), 4) for label, v in result["per_class"].items()}
    miou = result.get("miou")
    return {
        "miou": None if miou is None else round(float(miou), 4),
        "per_label": per_label,
        "frames": len(held),
    }


@job_task(task_routes.TRAIN_MODEL)
@_in_threads
def train_model(run: JobRun) -> None:
    """Train a new version on every label of the project, measure it on held-back
    frames, store it, and refresh the queue with it."""
    started = time.perf_counter()
    project_id = run.job.project_id
    kind = model_kind()
    keys, frames, classes, num_labels = _training_frames(run, project_id, kind)
    run.progress(0.65, "measuring on held-back frames")
    metrics = _metrics(frames, classes)
    run.progress(0.85, f"training on {len(frames)} frames")
    model = train(frames, classes)
    path = default_storage.save(
        f"{model_folder(project_id)}/model-job{run.job.pk}.bin", ContentFile(model.to_bytes())
    )
    with transaction.atomic():
        run.hold()
        project = Project.objects.select_for_update().filter(pk=project_id).first()
        if project is None:
            default_storage.delete(path)
            run.result = {"skipped": "the project was deleted"}
            return
        version = (
            ProjectModel.objects.filter(project=project).aggregate(v=Max("version"))["v"] or 0
        ) + 1
        ProjectModel.objects.create(
            project=project,
            version=version,
            kind=kind,
            trained_on=len(frames),
            num_labels=num_labels,
            metrics=metrics,
            path=path,
            job=run.job,
        )
        run.finish_in_transaction(
            {
                "version": version,
                "kind": kind,
                "trained_on": len(frames),
                "num_labels": num_labels,
                "metrics": metrics,
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        start_refresh(project, None)


# --- the model of a version, in memory ---------------------------------------------------

_models: OrderedDict[str, PixelModel] = OrderedDict()
_priors: OrderedDict[tuple[str, int, int, str], tuple[np.ndarray, tuple[int, int]]] = OrderedDict()
_memory_lock = threading.Lock()


def _memory_key(row: ProjectModel) -> str:
    # The row's creation time too: ids and file names come back in a rolled-back test
    # database, and a model must never be taken for another one.
    return f"{row.pk}:{row.created.isoformat()}:{row.path}"


def load_model(row: ProjectModel) -> PixelModel:
    key = _memory_key(row)
    with _memory_lock:
        model = _models.get(key)
        if model is not None:
            _models.move_to_end(key)
            return model
    try:
        with default_storage.open(row.path, "rb") as stream:
            model = PixelModel.from_bytes(stream.read())
    except (FileNotFoundError, OSError):
        raise JobFailed(f"model version {row.version} has no stored file") from None
    with _memory_lock:
        _models[key] = model
        while len(_models) > MODELS_IN_MEMORY:
            _models.popitem(last=False)
    return model


# --- queue -------------------------------------------------------------------------------


class _FixedEmbedding:
    """A ``sam-head`` model as the sensitivity score sees it: the perturbed images get
    filter features only (re-encoding each with SAM would cost seconds), so the frame's
    own SAM channels, resized to their size, are appended. Sensitivity then measures how
    much the prediction moves with the imaging conditions the filters see."""

    def __init__(self, model: PixelModel, features: np.ndarray, pixel_channels: int) -> None:
        self.model = model
        self.classes = model.classes
        self.sam = features[..., pixel_channels:]
        self.pixel_channels = pixel_channels

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        if features.shape[-1] != self.pixel_channels:
            return self.model.predict_proba(features)
        h, w = features.shape[:2]
        sam = self.sam
        if sam.shape[:2] != (h, w):
            sam = np.stack(
                [
                    cv2.resize(sam[..., c], (w, h), interpolation=cv2.INTER_LINEAR)
                    for c in range(sam.shape[-1])
                ],
                axis=-1,
            )
        return self.model.predict_proba(np.concatenate([features, sam], axis=-1))


@job_task(task_routes.REFRESH_QUEUE)
@_in_threads
def refresh_queue(run: JobRun) -> None:
    """Score every open item under every strategy with the latest model (without one:
    diversity and random only)."""
    project = run.job.project
    add_new_assets(project)
    row = latest_model(project)
    model = load_model(row) if row is not None else None
    kind = row.kind if row is not None else "pixel"
    labelled = labelled_frames(project)
    items = list(
        QueueItem.objects.filter(project=project, done=False, reason=QueueReason.MODEL)
        .select_related("asset")
        .order_by("id")
    )
    closed = [item.pk for item in items if (item.asset_id, item.frame) in labelled]
    items = [item for item in items if (item.asset_id, item.frame) not in labelled]
    assets = Asset.objects.in_bulk({asset_id for asset_id, _ in labelled})
    labelled_descriptors = [
        frame_descriptor(features_of(assets[asset_id], frame, kind=kind))
        for asset_id, frame in sorted(labelled)
        if asset_id in assets
    ]
    progress = _Progress(run, 0.0, 0.95, len(items))
    scores, descriptors = [], []
    for item in items:
        image, features = frame_and_features(item.asset, item.frame, kind)
        seed = int(hashlib.sha1(f"{item.asset_id}:{item.frame}".encode()).hexdigest()[:8], 16)
        scorer: Any = model
        if model is not None and kind == SAM_HEAD:
            scorer = _FixedEmbedding(model, features, FEATURE_CHANNELS)
        scores.append(frame_scores(scorer, features, image, seed))
        descriptors.append(frame_descriptor(features))
        progress.step(f"scored {len(scores)}/{len(items)} frames")
    ranked = []
    if items:  # none left open: nothing to rank (every frame labelled)
        width = len(descriptors[0])
        ranked = rank(
            scores,
            np.asarray(descriptors, np.float32).reshape(len(items), width),
            np.asarray(labelled_descriptors, np.float32).reshape(len(labelled_descriptors), width),
            seed=run.job.pk,
        )
    version = row.version if row is not None else 0
    for item, values in zip(items, ranked, strict=True):
        item.score = values["combined"]
        for name in ("random", "entropy", "margin", "sensitivity", "diversity"):
            setattr(item, name, values[name])
        item.model_version = version
    with transaction.atomic():
        run.hold()
        QueueItem.objects.filter(pk__in=closed, done=False).update(done=True)
        QueueItem.objects.bulk_update(
            items,
            ["score", "random", "entropy", "margin", "sensitivity", "diversity", "model_version"],
            batch_size=500,
        )
    run.result = {"items": len(items), "closed": len(closed), "model_version": version}


# --- proposals ------------------------------------------------------------------------------


def _classical_state(asset: Asset, frame: int, image: np.ndarray) -> tuple[Any, Any]:
    """The classical engine and its prepared state of the frame (through the same cache
    as clicks, so proposals warm it for the annotator)."""
    engine = get_engine("classical")
    key = embedding_key(asset.pk, frame, engine.model_id, asset.checksum)
    cache = get_cache("classical")
    state, origin = cache.get_state(key, lambda: image)
    if origin == "computed":  # stored just now: not for an asset deleted meanwhile
        forget_deleted(cache, {asset.pk: [key]})
    return engine, state


def _await_training(run: JobRun, job_id: int) -> None:
    """Wait (reporting it, cancellable) for the training asked before these proposals, up
    to ``LEARNING_TRAIN_WAIT_S``; then go on with the latest version there is."""
    deadline = time.monotonic() + settings.LEARNING_TRAIN_WAIT_S
    pending = Job.objects.filter(pk=job_id, status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
    while pending.exists() and time.monotonic() < deadline:
        run.progress(0.0, "waiting for the model's training to finish")
        time.sleep(0.5)


@job_task(task_routes.PROPOSE)
@_in_threads
def propose_masks(run: JobRun) -> None:
    """The model's masks, refined by the classical engine, on target frames that have no
    annotation: ``source: generated``, ``review_status: pending``, ``score``. Earlier
    proposals nobody acted on are replaced, frame by frame, in the same transaction."""
    params = run.job.params
    project_id = run.job.project_id
    if params.get("after_training"):
        _await_training(run, int(params["after_training"]))
        row = latest_model(project_id)
    else:
        row = ProjectModel.objects.filter(
            project_id=project_id, version=params.get("model")
        ).first() or latest_model(project_id)
    if row is None:
        raise JobFailed("no_model: the project has no trained model")
    model = load_model(row)
    wanted = set(params.get("labels") or model.classes)
    targets = frames_to_propose(project_id, params.get("assets"))
    assets = Asset.objects.in_bulk({asset_id for asset_id, _ in targets})
    tracks: dict[tuple[int, int], int] = {}
    progress = _Progress(run, 0.0, 0.99, len(targets))
    written = frames_done = replaced = 0
    for asset_id, frame in targets:
        asset = assets[asset_id]
        image, features = frame_and_features(asset, frame, row.kind)
        height, width = image.shape[:2]
        proba = upsample_proba(model.predict_proba(features), height, width)
        engine, state = _classical_state(asset, frame, image)
        proposals = [
            p
            for p in propose(image, proba, engine, state)
            if model.classes[p.label_index - 1] in wanted
        ]
        with transaction.atomic():
            run.hold()
            rows = Annotation.objects.filter(asset_id=asset_id, frame=frame)
            earlier = replaceable_proposals(rows)
            if rows.exclude(pk__in=earlier.values("pk")).exists():
                proposals = []  # annotated meanwhile: never beside a person's work
            else:
                replaced += earlier.delete()[1].get("annotator.Annotation", 0)
            for proposal in proposals:
                label = model.classes[proposal.label_index - 1]
                created = create_annotation(
                    asset=asset,
                    frame=frame,
                    label=label,
                    mask=encode_mask(proposal.mask),
                    author=None,
                    source=AnnotationSource.GENERATED,
                    score=round(float(proposal.score), 4),
                    review_status=ReviewStatus.PENDING,
                    track=tracks.get((asset_id, label)),
                )
                tracks[(asset_id, label)] = created.track
                written += 1
        frames_done += 1
        progress.step(f"frame {frames_done}/{len(targets)}: {written} proposals")
    run.result = {
        "frames": frames_done,
        "proposals": written,
        "replaced": replaced,
        "model_version": row.version,
    }


# --- the prior of a click ------------------------------------------------------------------


@_in_threads
def click_prior(
    project_id: int, version: int, asset: Asset, frame: int, label: int | None
) -> np.ndarray | None:
    """The model's probability for ``label`` (any foreground with ``None``) on the frame,
    at full resolution; ``None`` when the version is gone or does not know the label.

    The map is kept in memory at the features' working size (a few hundred KB per
    frame, whatever the image's size) and resized for each click: one channel, cheap."""
    row = ProjectModel.objects.filter(project_id=project_id, version=version).first()
    if row is None:
        return None
    key = (_memory_key(row), asset.pk, frame, asset.checksum or "")
    with _memory_lock:
        cached = _priors.get(key)
        if cached is not None:
            _priors.move_to_end(key)
    model = load_model(row)
    if label is not None and label not in model.classes:
        return None
    if cached is None:
        image, features = frame_and_features(asset, frame, row.kind)
        cached = (model.predict_proba(features), image.shape[:2])
        with _memory_lock:
            _priors[key] = cached
            while len(_priors) > PRIORS_IN_MEMORY:
                _priors.popitem(last=False)
    proba, (height, width) = cached
    index = None if label is None else model.classes.index(label) + 1
    small = prior_for(proba, index)
    return np.clip(
        cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), 0.0, 1.0
    ).astype(np.float32)
