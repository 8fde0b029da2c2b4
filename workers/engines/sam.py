"""Segment-anything (SAM) behind the :class:`~workers.engines.base.Engine` interface.

Split like segment-anything's ``SamPredictor``: :meth:`SamEngine.prepare` runs the
heavy ViT image encoder once per image and returns a :class:`SamState` (the image
embedding, kept by the caller's embedding cache); :meth:`SamEngine.predict` runs only
the prompt encoder and the mask decoder (milliseconds) and never re-embeds.

Coordinate frames
-----------------
* *original*: image pixels, ``(x, y)``, the frame of :class:`~.base.Prompts`.
* *input*: the image resized so its long side is ``img_size`` (1024), top-left
  aligned; ``input_size`` ``(h, w)``. Prompts are mapped here with
  ``ResizeLongestSide.apply_coords``/``apply_boxes``.
* *padded*: the input zero-padded to ``img_size x img_size``; the encoder sees this,
  and the ``(1, 256, 256)`` low-res logits cover it (so they include padding).

The model is loaded once per process (:func:`load_sam_model` caches it) and shared by
every engine built for the same checkpoint file.
"""

from __future__ import annotations

import io
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from segment_anything.modeling import Sam
from segment_anything.utils.transforms import ResizeLongestSide
from torch.nn import functional as F

from .base import Prediction, Prompts, Scribble
from .sam_models import (
    MODEL_BUILDERS,
    EngineUnavailable,
    build_tiny_sam,
    clear_model_cache,
    load_sam_model,
    save_tiny_checkpoint,
)

__all__ = [
    "DEFAULT_MODEL_TYPE",
    "MODEL_BUILDERS",
    "EngineUnavailable",
    "SamEngine",
    "SamState",
    "build_sam_engine",
    "build_tiny_sam",
    "clear_model_cache",
    "load_sam_model",
    "save_tiny_checkpoint",
    "scribble_points",
]

log = logging.getLogger(__name__)

DEFAULT_MODEL_TYPE = "vit_b"  # same default as settings.SAM_MODEL_TYPE

#: Total point prompts taken from scribbles. SAM was trained with a handful of points
#: per object; dozens of points add little and slow the decoder's token attention.
MAX_SCRIBBLE_POINTS = 24
#: At most this many samples per stroke, and roughly one per 1/16 of the long side.
MAX_POINTS_PER_STROKE = 6
_STROKE_SPACING_FRACTION = 1.0 / 16.0
#: Magnitude of the logits synthesised from a binary mask (no previous logits): large
#: enough to read as confident in/out, in the range of SAM's own low-res logits.
MASK_PROMPT_LOGIT = 10.0
_STATE_FORMAT = 1


def build_sam_engine(
    checkpoint: str | None = None, model_type: str | None = None, device: str | None = None
) -> SamEngine:
    """Build the SAM engine; ``None`` arguments default to ``$SAM_CHECKPOINT`` and
    ``$SAM_MODEL_TYPE`` (``vit_b``). Cheap after the first call in a process: the
    model is shared. Raises :class:`EngineUnavailable` if no usable checkpoint."""
    checkpoint = checkpoint or os.environ.get("SAM_CHECKPOINT") or None
    model_type = model_type or os.environ.get("SAM_MODEL_TYPE") or DEFAULT_MODEL_TYPE
    if not checkpoint:
        raise EngineUnavailable(
            "no SAM checkpoint configured: set SAM_CHECKPOINT to a .pth file "
            f"(model type {model_type!r}; see workers.engines.sam_checkpoints)"
        )
    model, model_id = load_sam_model(checkpoint, model_type, device)
    return SamEngine(model, model_id)


# --------------------------------------------------------------------------- engine


@dataclass
class SamState:
    """A prepared image.

    ``features``: ``(1, C, h, w) float32`` image embedding (``C, h, w`` = 256, 64, 64
    for the released models, 32, 64, 64 for ``tiny``), kept on the CPU so cached
    states never hold accelerator memory. ``original_size`` and ``input_size`` are
    ``(H, W)``: the image and its resized (long side 1024) version before padding.
    ``model_id`` guards against decoding one model's embedding with another.
    """

    features: np.ndarray
    original_size: tuple[int, int]
    input_size: tuple[int, int]
    model_id: str


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Validate an image and return it as ``(H, W, 3) uint8`` (grey and RGBA accepted)."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError("image must be a uint8 numpy array")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError("image is empty")
    return np.ascontiguousarray(image[:, :, :3])


def scribble_points(
    scribbles: Sequence[Scribble],
    image_size: tuple[int, int],
    max_points: int = MAX_SCRIBBLE_POINTS,
) -> tuple[np.ndarray, np.ndarray]:
    """Turn strokes into SAM point prompts.

    Each stroke is resampled at evenly spaced arc-length positions (the centres of
    ``k`` equal pieces, so sloppy stroke ends weigh less): ``k`` grows with the
    stroke's length, 1 to :data:`MAX_POINTS_PER_STROKE`. If all strokes together want
    more than ``max_points``, the longest give up points first (each keeps at least
    one), and if there are more strokes than ``max_points`` only the newest count.

    ``image_size`` is ``(H, W)``. Returns ``coords (N, 2) float64`` in ``(x, y)`` image
    pixels and ``labels (N,) int64`` (1 positive, 0 negative).
    """
    if not scribbles or max_points <= 0:
        return np.zeros((0, 2)), np.zeros((0,), dtype=np.int64)
    strokes = list(scribbles)[-max_points:]
    spacing = max(image_size) * _STROKE_SPACING_FRACTION
    polylines: list[np.ndarray] = []
    wanted: list[int] = []
    for s in strokes:
        pts = np.asarray(s.points, dtype=np.float64).reshape(-1, 2)
        polylines.append(pts)
        length = float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum()) if len(pts) > 1 else 0.0
        wanted.append(int(min(MAX_POINTS_PER_STROKE, 1 + length // spacing)))
    # Over budget: take points from the stroke that has the most (ties: the oldest)
    # until it fits; every stroke keeps at least one, which fits as len <= max_points.
    while sum(wanted) > max_points:
        wanted[int(np.argmax(wanted))] -= 1

    coords: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for s, pts, k in zip(strokes, polylines, wanted, strict=True):
        coords.append(_resample_polyline(pts, k))
        labels.append(np.full(k, 1 if s.positive else 0, dtype=np.int64))
    return np.concatenate(coords), np.concatenate(labels)


def _resample_polyline(points: np.ndarray, k: int) -> np.ndarray:
    """``k`` points at arc-length fractions ``(i + 0.5) / k`` along ``points (N, 2)``."""
    if len(points) == 1:
        return np.repeat(points, k, axis=0)
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    if cum[-1] <= 0.0:  # a "stroke" that never moved: a dot
        return np.repeat(points[:1], k, axis=0)
    targets = (np.arange(k) + 0.5) / k * cum[-1]
    # np.interp per coordinate walks the polyline by arc length; repeated vertices
    # (zero-length segments) are harmless because cum is non-decreasing.
    return np.stack([np.interp(targets, cum, points[:, i]) for i in range(2)], axis=1)


class SamEngine:
    """SAM as an :class:`~workers.engines.base.Engine`. Build with :func:`build_sam_engine`.

    Thread-safe for concurrent ``predict`` calls (no per-image mutable state: the
    image lives in the :class:`SamState`, unlike ``SamPredictor``).
    """

    name = "sam"

    def __init__(self, model: Sam, model_id: str) -> None:
        self.model = model
        self.model_id = model_id
        self.img_size: int = model.image_encoder.img_size
        self.transform = ResizeLongestSide(self.img_size)
        low_h, low_w = model.prompt_encoder.mask_input_size  # (256, 256): 4x the embedding
        self.low_res_size: tuple[int, int] = (int(low_h), int(low_w))

    @property
    def device(self) -> torch.device:
        return self.model.device

    # ------------------------------------------------------------------ prepare

    def _to_input(self, image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int], tuple[int, int]]:
        """Image -> ``(3, img_size, img_size)`` normalised, padded float tensor on device."""
        rgb = _as_rgb(image)
        resized = self.transform.apply_image(rgb)  # (h, w, 3) uint8, long side img_size
        x = torch.as_tensor(resized, device=self.device).permute(2, 0, 1).contiguous()
        # Sam.preprocess normalises with the pixel mean/std and zero-pads bottom/right.
        x = self.model.preprocess(x[None].float())[0]
        return x, (rgb.shape[0], rgb.shape[1]), (resized.shape[0], resized.shape[1])

    def prepare(self, image: np.ndarray) -> SamState:
        """Run the image encoder on ``image`` ``(H, W, 3) uint8`` RGB -> :class:`SamState`."""
        return self.prepare_batch([image])[0]

    def prepare_batch(self, images: Sequence[np.ndarray], batch_size: int = 4) -> list[SamState]:
        """Embed several images, ``batch_size`` at a time through the encoder.

        Every image is padded to the same ``img_size x img_size`` input anyway, so they
        stack without waste; states come back in input order and equal (to float
        rounding) what :meth:`prepare` gives. ``batch_size`` bounds peak memory (vit_h
        activations are large).
        """
        states: list[SamState] = []
        with torch.inference_mode():
            for start in range(0, len(images), max(1, batch_size)):
                chunk = [self._to_input(im) for im in images[start : start + max(1, batch_size)]]
                feats = self.model.image_encoder(torch.stack([c[0] for c in chunk]))
                feats_np = feats.float().cpu().numpy()
                for i, (_, original_size, input_size) in enumerate(chunk):
                    states.append(
                        SamState(
                            features=np.ascontiguousarray(feats_np[i : i + 1]),
                            original_size=original_size,
                            input_size=input_size,
                            model_id=self.model_id,
                        )
                    )
        return states

    # ------------------------------------------------------------------ bytes

    def state_to_bytes(self, state: SamState) -> bytes:
        """``.npz`` bytes with the features as float16 (half the size; the decoder is
        insensitive to that rounding) plus sizes and model id."""
        f16 = np.clip(state.features, -65504.0, 65504.0).astype(np.float16)
        buf = io.BytesIO()
        np.savez(
            buf,
            format=np.int64(_STATE_FORMAT),
            features=f16,
            original_size=np.asarray(state.original_size, dtype=np.int64),
            input_size=np.asarray(state.input_size, dtype=np.int64),
            model_id=np.str_(state.model_id),
        )
        return buf.getvalue()

    def state_from_bytes(self, data: bytes) -> SamState:
        """Inverse of :meth:`state_to_bytes`; features come back as float32.
        ``ValueError`` for bytes that are not a state of this format."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                if int(npz["format"]) != _STATE_FORMAT:
                    raise ValueError(f"unsupported SAM state format {int(npz['format'])}")
                features = npz["features"].astype(np.float32)
                original = tuple(int(v) for v in npz["original_size"])
                inp = tuple(int(v) for v in npz["input_size"])
                model_id = str(npz["model_id"])
        except (OSError, KeyError, EOFError) as exc:
            raise ValueError(f"not a serialised SAM state: {exc}") from exc
        if features.ndim != 4 or len(original) != 2 or len(inp) != 2:
            raise ValueError("malformed SAM state")
        return SamState(features, (original[0], original[1]), (inp[0], inp[1]), model_id)

    def state_nbytes(self, state: SamState) -> int:
        """Bytes held by a state (its float32 features dominate; +1 KiB of overhead)."""
        return int(state.features.nbytes) + 1024

    # ------------------------------------------------------------------ predict

    def predict(self, state: SamState, prompts: Prompts) -> Prediction:
        """Decode a mask for ``prompts`` on a prepared image (no re-embedding).

        Clicks become labelled points, the box a box prompt, scribbles sampled points
        (:func:`scribble_points`), and ``prompts.logits`` (or, failing that,
        ``prompts.mask``) the dense mask prompt for iterative refinement. With exactly
        one click and nothing else SAM's three ambiguity masks are decoded and the one
        with the highest predicted IoU is kept; otherwise the single-mask output.

        Returns ``mask (H, W) bool`` at the original size, ``score`` = predicted IoU
        clipped to [0, 1], ``low_res_logits (1, 256, 256) float32`` to feed back.
        Raises ``ValueError`` for empty prompts, coordinates outside the image, or a
        state from another model.
        """
        if state.model_id != self.model_id:
            raise ValueError(f"state was prepared by {state.model_id}, not {self.model_id}")
        if prompts.is_empty():
            raise ValueError("no prompts: give a click, a box, a scribble or a mask")
        height, width = state.original_size

        coords, labels = self._points(prompts, (height, width))
        box = self._box(prompts.box, (height, width))
        mask_input = self._mask_input(prompts, state)
        single_click = (
            len(prompts.clicks) == 1
            and box is None
            and not prompts.scribbles
            and prompts.mask is None
            and prompts.logits is None
        )

        with torch.inference_mode():
            dev = self.device
            points = None
            if len(coords):
                pts = self.transform.apply_coords(coords, state.original_size)
                points = (
                    torch.as_tensor(pts[None], dtype=torch.float32, device=dev),
                    torch.as_tensor(labels[None], dtype=torch.int64, device=dev),
                )
            boxes = None
            if box is not None:
                b = self.transform.apply_boxes(box[None], state.original_size)
                boxes = torch.as_tensor(b, dtype=torch.float32, device=dev)
            masks = None
            if mask_input is not None:
                masks = torch.as_tensor(mask_input[None], dtype=torch.float32, device=dev)

            sparse, dense = self.model.prompt_encoder(points=points, boxes=boxes, masks=masks)
            features = torch.as_tensor(state.features, dtype=torch.float32, device=dev)
            low_res, iou = self.model.mask_decoder(
                image_embeddings=features,
                image_pe=self.model.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=sparse,
                dense_prompt_embeddings=dense,
                multimask_output=single_click,
            )
            best = int(torch.argmax(iou[0])) if single_click else 0
            chosen = low_res[:, best : best + 1]  # (1, 1, 256, 256)
            full = self.model.postprocess_masks(chosen, state.input_size, state.original_size)
            mask = (full[0, 0] > self.model.mask_threshold).cpu().numpy()
            score = float(iou[0, best])
            logits = chosen[0].float().cpu().numpy()  # (1, 256, 256)

        return Prediction(
            mask=mask,
            score=min(1.0, max(0.0, score)) if math.isfinite(score) else 0.0,
            low_res_logits=np.ascontiguousarray(logits, dtype=np.float32),
        )

    # ------------------------------------------------------------------ prompt parts

    @staticmethod
    def _points(prompts: Prompts, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Clicks then scribble samples as ``coords (N, 2) (x, y)`` and ``labels (N,)``."""
        height, width = size
        click_xy = np.array([[c.x, c.y] for c in prompts.clicks], dtype=np.float64).reshape(-1, 2)
        click_lab = np.array([1 if c.positive else 0 for c in prompts.clicks], dtype=np.int64)
        for s in prompts.scribbles:
            pts = np.asarray(s.points, dtype=np.float64)
            if pts.size == 0 or pts.ndim != 2 or pts.shape[1] != 2:
                raise ValueError("a scribble needs points of shape (N, 2), N >= 1")
            _check_inside(pts, width, height, "scribble point")
        _check_inside(click_xy, width, height, "click")
        s_xy, s_lab = scribble_points(prompts.scribbles, size)
        return np.concatenate([click_xy, s_xy]), np.concatenate([click_lab, s_lab])

    @staticmethod
    def _box(
        box: tuple[float, float, float, float] | None, size: tuple[int, int]
    ) -> np.ndarray | None:
        if box is None:
            return None
        b = np.asarray(box, dtype=np.float64).reshape(-1)
        height, width = size
        if b.shape != (4,) or not np.all(np.isfinite(b)):
            raise ValueError("box must be four finite numbers (x0, y0, x1, y1)")
        x0, y0, x1, y1 = b
        if x0 > x1 or y0 > y1:
            raise ValueError(f"box {tuple(b)} is not (x0, y0, x1, y1) with x0 <= x1, y0 <= y1")
        # The far edge may equal the image size: a box spanning the whole image.
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise ValueError(f"box {tuple(b)} lies outside the {width}x{height} image")
        return b

    def _mask_input(self, prompts: Prompts, state: SamState) -> np.ndarray | None:
        """The dense prompt ``(1, 256, 256) float32``: previous logits if given, else the
        previous binary mask turned into confident logits in the padded frame."""
        lh, lw = self.low_res_size
        if prompts.logits is not None:
            logits = np.asarray(prompts.logits, dtype=np.float32)
            if logits.size != lh * lw:
                raise ValueError(f"logits must be (1, {lh}, {lw}), got {logits.shape}")
            return logits.reshape(1, lh, lw)
        if prompts.mask is None:
            return None
        mask = np.asarray(prompts.mask)
        if mask.shape != tuple(state.original_size):
            raise ValueError(f"mask shape {mask.shape} != image size {state.original_size}")
        return mask_to_logits(mask.astype(bool), state.input_size, self.img_size, (lh, lw))


def _check_inside(xy: np.ndarray, width: int, height: int, what: str) -> None:
    """Points must be finite and on a pixel: ``0 <= x < W`` and ``0 <= y < H``."""
    if not len(xy):
        return
    if not np.all(np.isfinite(xy)):
        raise ValueError(f"{what} coordinates must be finite")
    x, y = xy[:, 0], xy[:, 1]
    bad = (x < 0) | (x >= width) | (y < 0) | (y >= height)
    if bad.any():
        px, py = xy[int(np.argmax(bad))]
        raise ValueError(f"{what} ({px:g}, {py:g}) lies outside the {width}x{height} image")


def mask_to_logits(
    mask: np.ndarray, input_size: tuple[int, int], img_size: int, low_res: tuple[int, int]
) -> np.ndarray:
    """A binary ``(H, W)`` mask as a SAM dense prompt ``(1, *low_res) float32``.

    SAM's low-res logits cover the *padded* input frame, so the mask is resized to
    the part of the ``low_res`` grid the image occupies (``input_size`` scaled by
    ``low_res / img_size``) and the padding is filled with "background".
    ``+MASK_PROMPT_LOGIT`` inside, ``-MASK_PROMPT_LOGIT`` outside, soft at the edges.
    """
    lh, lw = low_res
    th = max(1, min(lh, round(input_size[0] * lh / img_size)))
    tw = max(1, min(lw, round(input_size[1] * lw / img_size)))
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    # Area averaging keeps thin structures as partial values instead of dropping them.
    small = F.interpolate(m, size=(th, tw), mode="area")[0, 0].numpy()
    out = np.full((1, lh, lw), -MASK_PROMPT_LOGIT, dtype=np.float32)
    out[0, :th, :tw] = (2.0 * small - 1.0) * MASK_PROMPT_LOGIT
    return out
