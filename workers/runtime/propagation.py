"""The ``propagate`` job: carry one annotation's mask through a video's frames.

Thin: it plans the runs from the track's keyframes, feeds frames to
``workers.propagation`` (numpy in, numpy out) and stores what comes back through
``annotator.services.propagation`` in chunks, each in one transaction that first checks
the run still owns the job. A cancelled run stops at its next progress report; the
chunks stored before stay (each frame complete, confidence and review state with it).

The plan, for a run from keyframe A (the annotation asked for):
* forward: frames A+1.. up to ``end_frame`` (default the last); when the track has a
  keyframe B on the way, the run stops before it and, over the last ``BLEND_SPAN``
  frames before B, the forward run is blended with a backward run from B;
* backward: the same, mirrored; ``both``: one after the other.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from django.db import transaction

from annotator import task_routes
from annotator.media import load_rgb
from annotator.models import Annotation, Asset, Frame
from annotator.services.propagation import (
    PropagatedFrame,
    keyframes,
    store_propagated,
)
from formats.rle import decode_mask, encode_mask
from workers.engines.base import Prediction, Prompts
from workers.engines.embedding_cache import embedding_key
from workers.propagation import FrameResult, Segmenter, blend, propagate
from workers.runtime.engine_pool import (
    EngineNotConfigured,
    get_cache,
    get_engine,
    resolve_engine_name,
)
from workers.runtime.lifecycle import JobFailed, JobRun, job_task

#: Frames stored per transaction (the timeline shows them as they come).
CHUNK = 16
#: Frames before a closing keyframe over which the forward run is blended with the
#: backward run from that keyframe (both held in memory there).
BLEND_SPAN = 120
#: Seconds between progress reports.
REPORT_EVERY_S = 0.25


@dataclass(frozen=True)
class Segment:
    """Frames to walk, in walking order, from the keyframe ``start``; ``closing``: the
    keyframe that ends them (blended from), or None at the video's end / ``end_frame``."""

    start: int
    frames: list[int]
    closing: int | None


def plan(
    start: int, direction: str, end_frame: int | None, num_frames: int, keys: Iterable[int]
) -> list[Segment]:
    """The segments of a run from keyframe ``start`` (``keys``: the track's other
    keyframes)."""
    others = sorted(set(keys) - {start})
    segments = []
    if direction in ("forward", "both"):
        limit = num_frames - 1 if end_frame is None else end_frame
        ahead = [k for k in others if start < k <= limit]
        stop = ahead[0] if ahead else None
        last = stop - 1 if stop is not None else limit
        if last > start:
            segments.append(Segment(start, list(range(start + 1, last + 1)), stop))
    if direction in ("backward", "both"):
        limit = 0 if end_frame is None else end_frame
        behind = [k for k in others if limit <= k < start]
        stop = behind[-1] if behind else None
        first = stop + 1 if stop is not None else limit
        if first < start:
            segments.append(Segment(start, list(range(start - 1, first - 1, -1)), stop))
    return segments


class _Frames:
    """Frame images of one asset, read from storage one at a time."""

    def __init__(self, asset: Asset) -> None:
        self.storage = asset.file.storage
        self.paths = dict(
            Frame.objects.filter(asset=asset).exclude(image="").values_list("index", "image")
        )

    def read(self, index: int) -> np.ndarray:
        path = self.paths.get(index)
        if not path:
            raise JobFailed(f"frame {index} has no stored image")
        with self.storage.open(path, "rb") as stream:
            return load_rgb(stream)

    def walk(self, first: int, frames: list[int]) -> Iterator[tuple[int, np.ndarray]]:
        for index in [first, *frames]:
            yield index, self.read(index)


def _sam_segmenter(asset: Asset, engine_name: str) -> Segmenter | None:
    """With SAM asked for (``auto`` and SAM configured, or ``sam``), each frame is
    re-segmented by SAM (its embedding of that frame, cached like a click's) from the
    carried prompts and the previous frame's logits; otherwise ``None``: the package's
    weight-free default."""
    try:
        name = resolve_engine_name(engine_name)
    except EngineNotConfigured as exc:
        raise JobFailed(f"engine_unavailable: {exc}") from None
    if name != "sam":
        return None
    engine = get_engine(name)
    cache = get_cache(name)

    def segment(index: int, image: np.ndarray, prompts: Prompts) -> Prediction:
        key = embedding_key(asset.pk, index, engine.model_id, asset.checksum)
        state, _ = cache.get_state(key, lambda: image)
        return engine.predict(state, prompts)

    return segment


class _Progress:
    def __init__(self, run: JobRun, total: int) -> None:
        self.run, self.total, self.done = run, max(1, total), 0
        self.last = 0.0
        self.started = time.perf_counter()

    def step(self, index: int) -> None:
        self.done += 1
        now = time.perf_counter()
        if now - self.last >= REPORT_EVERY_S or self.done == self.total:
            self.last = now
            self.run.progress(
                0.99 * self.done / self.total, f"frame {index} ({self.done}/{self.total})"
            )

    def fps(self) -> float:
        return round(self.done / max(1e-9, time.perf_counter() - self.started), 2)


@job_task(task_routes.PROPAGATE)
def propagate_track(run: JobRun) -> None:
    params = run.job.params
    asset = Asset.objects.filter(pk=run.job.asset_id or 0).first()
    if asset is None:
        run.result = {"skipped": "the asset was deleted"}
        return
    source = Annotation.objects.filter(pk=params.get("annotation"), asset=asset).first()
    if source is None or not source.mask or not source.area:
        raise JobFailed("the annotation to propagate was deleted or emptied meanwhile")
    track_rows = Annotation.objects.filter(asset=asset, track=source.track)
    keys = set(keyframes(track_rows).values_list("frame", flat=True))
    segments = plan(
        source.frame, params["direction"], params.get("end_frame"), asset.num_frames, keys
    )
    frames = _Frames(asset)
    segmenter = _sam_segmenter(asset, params.get("engine", "auto"))
    total = sum(
        len(s.frames) + (min(len(s.frames), BLEND_SPAN) if s.closing is not None else 0)
        for s in segments
    )
    progress = _Progress(run, total)
    writer = _Writer(run, asset, source, float(params["threshold"]))
    first_mask = decode_mask(source.mask)
    for segment in segments:
        if segment.closing is None:
            for result in propagate(
                frames.walk(segment.start, segment.frames), first_mask, segmenter=segmenter
            ):
                progress.step(result.index)
                writer.add(result)
        else:
            closing = (
                keyframes(track_rows).filter(frame=segment.closing).order_by("-updated").first()
            )
            _blended(segment, frames, first_mask, closing, segmenter, progress, writer)
        writer.flush()
    run.result = {
        "frames": writer.stored,
        "needs_review": writer.flagged,
        "fps": progress.fps(),
        "stopped_at": sorted(s.closing for s in segments if s.closing is not None),
        "engine": "sam" if segmenter is not None else "classical",
    }


def _blended(
    segment: Segment,
    frames: _Frames,
    first_mask: np.ndarray,
    closing: Annotation | None,
    segmenter: Segmenter | None,
    progress: _Progress,
    writer: _Writer,
) -> None:
    """Forward over the segment; over its last ``BLEND_SPAN`` frames, blended with the
    run back from the ``closing`` keyframe."""
    span = segment.frames[-BLEND_SPAN:]
    in_span = set(span)
    held: list[FrameResult] = []
    for result in propagate(
        frames.walk(segment.start, segment.frames), first_mask, segmenter=segmenter
    ):
        progress.step(result.index)
        if result.index in in_span:
            held.append(result)
        else:
            writer.add(result)
    if closing is None or not closing.mask or not closing.area:
        # Gone (or emptied) meanwhile: the forward run alone.
        for result in held:
            writer.add(result)
        return
    backward = []
    for result in propagate(
        frames.walk(closing.frame, list(reversed(span))),
        decode_mask(closing.mask),
        segmenter=segmenter,
    ):
        progress.step(result.index)
        backward.append(result)
    by_index = sorted(held, key=lambda r: r.index), sorted(backward, key=lambda r: r.index)
    for result in blend(*by_index):
        writer.add(result)


class _Writer:
    """Stores results ``CHUNK`` frames at a time, each chunk in one transaction that
    holds the job (nothing is stored by a run that lost it)."""

    def __init__(self, run: JobRun, asset: Asset, source: Annotation, threshold: float) -> None:
        self.run, self.asset, self.source, self.threshold = run, asset, source, threshold
        self.pending: list[PropagatedFrame] = []
        self.stored = 0
        self.flagged = 0

    def add(self, result: FrameResult) -> None:
        self.pending.append(
            PropagatedFrame(result.index, encode_mask(result.mask), float(result.confidence))
        )
        if len(self.pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        with transaction.atomic():
            self.run.hold()
            stored, flagged = store_propagated(
                asset=self.asset,
                track=self.source.track,
                label_id=self.source.label_id,
                results=self.pending,
                threshold=self.threshold,
                author=self.run.job.created_by,
            )
        self.stored += stored
        self.flagged += flagged
        self.pending = []
