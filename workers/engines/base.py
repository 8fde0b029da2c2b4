"""The engine interface shared by every interactive segmentation engine.

Modelled on segment-anything's ``SamPredictor``: an expensive :meth:`Engine.prepare`
once per image (cached by the caller) and a cheap :meth:`Engine.predict` per set of
prompts. Everything is numpy in, numpy out; no ORM, no storage.

Conventions
-----------
* Images are ``(H, W, 3) uint8`` RGB arrays.
* Coordinates are image pixels, ``x`` to the right and ``y`` down, as floats; a click
  at ``(x, y)`` falls on the pixel with array index ``[int(y), int(x)]``.
* Masks are ``(H, W) bool`` arrays.
* Low-resolution logits are ``(1, 256, 256) float32`` (SAM's convention); engines that
  have none return ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass(frozen=True)
class Click:
    """One click at image pixel ``(x, y)``; ``positive`` marks foreground."""

    x: float
    y: float
    positive: bool = True


@dataclass(frozen=True)
class Scribble:
    """A polyline stroke. ``points`` is ``(N, 2) float`` in ``(x, y)`` order, N >= 1."""

    points: np.ndarray
    positive: bool = True


@dataclass
class Prompts:
    """Everything a user said about one object on one image.

    ``box`` is ``(x0, y0, x1, y1)`` with ``x0 <= x1`` and ``y0 <= y1``.
    ``mask`` is the previous ``(H, W) bool`` result to refine, ``logits`` the previous
    prediction's low-resolution logits when the engine produced them.
    ``prior`` is the project model's ``(H, W) float32`` probability in [0, 1] that a
    pixel belongs to the object's label (``workers.learning``); engines that cannot use
    it ignore it.
    Clicks are in the order the user gave them; the last click is the newest.
    """

    clicks: list[Click] = field(default_factory=list)
    box: tuple[float, float, float, float] | None = None
    scribbles: list[Scribble] = field(default_factory=list)
    mask: np.ndarray | None = None
    logits: np.ndarray | None = None
    prior: np.ndarray | None = None

    def is_empty(self) -> bool:
        return not self.clicks and self.box is None and not self.scribbles and self.mask is None


@dataclass
class Prediction:
    """An engine's answer: ``mask`` ``(H, W) bool``, ``score`` in [0, 1] (the engine's
    own confidence, e.g. SAM's predicted IoU), and optional low-res logits to feed back."""

    mask: np.ndarray
    score: float
    low_res_logits: np.ndarray | None = None


class Engine(Protocol):
    """An interactive segmentation engine.

    ``name`` identifies it in the API (``"sam"``, ``"classical"``); ``model_id``
    identifies the weights/configuration so cached states of another model are never
    reused (it is part of the embedding cache key).
    """

    name: str
    model_id: str

    def prepare(self, image: np.ndarray) -> Any:
        """Expensive per-image work. ``image``: ``(H, W, 3) uint8`` RGB. Returns a state
        that :meth:`predict` accepts and that :meth:`state_to_bytes` can serialise."""
        ...

    def predict(self, state: Any, prompts: Prompts) -> Prediction:
        """Cheap per-prompt work. Raises ``ValueError`` for prompts it cannot use."""
        ...

    def state_to_bytes(self, state: Any) -> bytes:
        """Serialise a prepared state for the storage cache (compact; float16 for SAM)."""
        ...

    def state_from_bytes(self, data: bytes) -> Any:
        """Inverse of :meth:`state_to_bytes`."""
        ...

    def state_nbytes(self, state: Any) -> int:
        """Memory a state holds, for the in-memory LRU's budget."""
        ...
