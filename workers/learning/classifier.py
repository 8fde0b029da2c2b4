"""The project model: a random forest over :mod:`.features`, trained on sampled pixels.

ilastik's recipe: a fixed filter bank and a forest retrained in seconds from whatever the
user labelled. Pixels are sampled per frame and per class (balanced, capped), so twenty
labelled frames train as fast as two and a small object is not drowned by background.
Mixed pixels at a mask's edge (partly inside after downscaling) are left unknown.
"""

from __future__ import annotations

import io
import pickle
import warnings
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier

from .features import working_shape

__all__ = [
    "PixelModel",
    "TrainingFrame",
    "evaluate",
    "targets_from_masks",
    "train",
    "upsample_proba",
]

#: Pickle format of :meth:`PixelModel.to_bytes`; bump when the stored fields change.
MODEL_FORMAT = 1
#: Pixels sampled per class per frame: 20 frames x 2 classes x 2500 = 100k samples.
SAMPLES_PER_CLASS = 2500
#: Share of a class's samples taken from its band next to another class (the hard part).
EDGE_SHARE = 0.4
#: scikit-learn's forests warn this on every call under some joblib versions; harmless.
_JOBLIB_WARNING = ".*sklearn.utils.parallel.delayed.*"


@dataclass
class TrainingFrame:
    """One labelled frame: ``features`` ``(h, w, F) float32`` from ``frame_features``,
    ``targets`` ``(h, w) int16`` at the same size: -1 unknown, 0 background, k class k."""

    features: np.ndarray
    targets: np.ndarray


@dataclass
class PixelModel:
    """A fitted pixel classifier. ``classes`` are the label ids of classes 1..K (class 0
    is background); ``estimator`` a scikit-learn classifier over the feature channels
    ``channels`` (None: all) whose ``classes_`` are class indices within 0..K."""

    classes: list[int]
    estimator: Any
    channels: list[int] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """``(h, w, F)`` -> ``(h, w, K+1) float32``, rows summing to 1."""
        h, w, f = features.shape
        flat = features.reshape(-1, f)
        if self.channels is not None:
            flat = flat[:, self.channels]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_JOBLIB_WARNING)
            known = self.estimator.predict_proba(flat).astype(np.float32)
        out = np.zeros((h * w, len(self.classes) + 1), np.float32)
        out[:, np.asarray(self.estimator.classes_, dtype=int)] = known
        return out.reshape(h, w, -1)

    def to_bytes(self) -> bytes:
        """Pickle of this model (our own artefact: never load bytes from elsewhere)."""
        buffer = io.BytesIO()
        pickle.dump(
            {
                "format": MODEL_FORMAT,
                "classes": self.classes,
                "estimator": self.estimator,
                "channels": self.channels,
                "info": self.info,
            },
            buffer,
            protocol=pickle.HIGHEST_PROTOCOL,
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> PixelModel:
        payload = pickle.loads(data)  # noqa: S301 - bytes written by to_bytes only
        if payload.get("format") != MODEL_FORMAT:
            raise ValueError(f"unknown model format {payload.get('format')!r}")
        return cls(
            classes=list(payload["classes"]),
            estimator=payload["estimator"],
            channels=payload["channels"],
            info=dict(payload["info"]),
        )


def _resize_mask(mask: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    """Share of each working pixel covered by a full-resolution bool mask, float32."""
    h, w = shape_hw
    return cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)


def targets_from_masks(
    shape_hw: tuple[int, int],
    masks: list[tuple[np.ndarray, int]],
    scribbles: list[tuple[np.ndarray, int]] = (),  # type: ignore[assignment]
    complete: bool = True,
) -> np.ndarray:
    """Full-resolution labels -> ``(h, w) int16`` targets at ``working_shape(*shape_hw)``.

    ``masks``: ``(H, W) bool`` with a class index 1..K; later masks win where they
    overlap. Working pixels a mask covers between 25 and 75 % of are unknown (-1): they
    straddle the edge. ``complete``: pixels no mask touches are background (0), else
    unknown (a frame where not every object was drawn). ``scribbles``: ``(N, 2)`` float
    ``x, y`` polylines in full-resolution pixels with a class index (0 = background),
    drawn last, one working pixel wide.
    """
    height, width = shape_hw
    h, w = working_shape(height, width)
    targets = np.full((h, w), 0 if complete else -1, np.int16)
    for mask, index in masks:
        if mask.shape != (height, width):
            raise ValueError(f"mask shape {mask.shape} is not the frame's {shape_hw}")
        cover = _resize_mask(mask, (h, w))
        targets[(cover > 0.25) & (cover < 0.75)] = -1
        targets[cover >= 0.75] = index
    sx, sy = w / width, h / height
    for points, index in scribbles:
        pts = np.asarray(points, np.float64).reshape(-1, 2)
        if len(pts) == 0:
            continue
        # A point at (x, y) lies on pixel [int(y), int(x)] (workers.engines.base).
        scaled = np.floor(np.column_stack([pts[:, 0] * sx, pts[:, 1] * sy]))
        scaled = np.clip(scaled, 0, [w - 1, h - 1]).astype(np.int32)
        drawn = np.zeros((h, w), np.uint8)
        cv2.polylines(drawn, [scaled.reshape(-1, 1, 2)], False, 1, thickness=1)
        drawn[scaled[:, 1], scaled[:, 0]] = 1
        targets[drawn > 0] = index
    return targets


def _sample_frame(targets: np.ndarray, rng: np.random.Generator, cap: int) -> np.ndarray:
    """Flat pixel indices of one frame's training samples: up to ``cap`` per class, a
    share of them from the class's pixels that touch another class."""
    flat = targets.ravel()
    # Pixels whose 5x5 neighbourhood holds another known class: the boundary band.
    known = targets >= 0
    tmax = cv2.dilate(np.where(known, targets, -1).astype(np.float32), np.ones((5, 5)))
    tmin = cv2.erode(np.where(known, targets, 10_000).astype(np.float32), np.ones((5, 5)))
    edge = ((tmax != targets) | (tmin != targets)).ravel() & known.ravel()
    picked: list[np.ndarray] = []
    for index in np.unique(flat[flat >= 0]):
        members = flat == index
        near = np.flatnonzero(members & edge)
        rest = np.flatnonzero(members & ~edge)
        n_near = min(len(near), int(cap * EDGE_SHARE))
        n_rest = min(len(rest), cap - n_near)
        picked.append(rng.choice(near, n_near, replace=False))
        picked.append(rng.choice(rest, n_rest, replace=False))
    return np.concatenate(picked) if picked else np.zeros(0, np.int64)


def train(
    frames: list[TrainingFrame],
    classes: list[int],
    seed: int = 0,
    *,
    samples_per_class: int = SAMPLES_PER_CLASS,
    n_estimators: int = 60,
    kind: str = "forest",
    use_position: bool = True,
    n_jobs: int = 2,
) -> PixelModel:
    """Fit a model on the known pixels of ``frames`` (see the module docstring).

    ``classes``: label ids of classes 1..K. ``kind``: ``"forest"`` (random forest) or
    ``"extra"`` (extremely randomised trees). ``use_position``: let the model see the
    normalised pixel position channels. ``ValueError`` when no pixel is known.
    """
    rng = np.random.default_rng(seed)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for frame in frames:
        if frame.features.shape[:2] != frame.targets.shape:
            raise ValueError("features and targets of a frame differ in size")
        index = _sample_frame(frame.targets, rng, samples_per_class)
        xs.append(frame.features.reshape(-1, frame.features.shape[-1])[index])
        ys.append(frame.targets.ravel()[index])
    if not xs or sum(len(y) for y in ys) == 0:
        raise ValueError("no labelled pixels to train on")
    x = np.concatenate(xs)
    y = np.concatenate(ys).astype(np.int64)
    channels = None if use_position else list(range(x.shape[1] - 2))
    if channels is not None:
        x = x[:, channels]
    common: dict[str, Any] = {
        "n_estimators": n_estimators,
        "min_samples_leaf": 3,
        "max_features": "sqrt",
        "n_jobs": n_jobs,
        "random_state": seed,
    }
    estimator: Any
    if kind == "forest":
        estimator = RandomForestClassifier(max_depth=20, max_samples=0.6, **common)
    elif kind == "extra":
        estimator = ExtraTreesClassifier(max_depth=24, **common)
    else:
        raise ValueError(f"unknown classifier kind {kind!r}")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JOBLIB_WARNING)
        estimator.fit(x, y)
    info = {"samples": int(len(y)), "frames": len(frames), "kind": kind}
    return PixelModel(classes=list(classes), estimator=estimator, channels=channels, info=info)


def evaluate(model: PixelModel, frames: list[TrainingFrame]) -> dict[str, Any]:
    """IoU per class of the argmax prediction on held-back frames (known pixels only).

    Returns ``{"miou": mean over classes present or predicted | None, "per_class":
    {label_id: iou}, "frames": n}``; a class neither present nor predicted is left out.
    """
    k = len(model.classes)
    inter = np.zeros(k + 1)
    union = np.zeros(k + 1)
    for frame in frames:
        pred = model.predict_proba(frame.features).argmax(axis=-1)
        known = frame.targets >= 0
        for c in range(1, k + 1):
            p = (pred == c) & known
            t = frame.targets == c
            inter[c] += np.count_nonzero(p & t)
            union[c] += np.count_nonzero(p | t)
    per_class = {
        model.classes[c - 1]: float(inter[c] / union[c]) for c in range(1, k + 1) if union[c] > 0
    }
    miou = float(np.mean(list(per_class.values()))) if per_class else None
    return {"miou": miou, "per_class": per_class, "frames": len(frames)}


def upsample_proba(proba: np.ndarray, height: int, width: int) -> np.ndarray:
    """``(h, w, K+1)`` -> ``(H, W, K+1) float32`` (bilinear, renormalised to sum to 1)."""
    channels = [
        cv2.resize(proba[..., c], (width, height), interpolation=cv2.INTER_LINEAR)
        for c in range(proba.shape[-1])
    ]
    out = np.stack(channels, axis=-1).astype(np.float32)
    out /= np.maximum(out.sum(axis=-1, keepdims=True), 1e-6)
    return out
