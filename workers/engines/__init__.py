"""Interactive segmentation engines behind one interface (see ``base``).

Engines are built by name through :func:`build_engine`; heavy dependencies (torch,
segment-anything) are imported only inside the engine that needs them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Click, Engine, Prediction, Prompts, Scribble

__all__ = ["Click", "Engine", "Prediction", "Prompts", "Scribble", "ENGINE_NAMES", "build_engine"]


def _build_classical(**options: Any) -> Engine:
    from .classical import ClassicalEngine

    return ClassicalEngine(**options)


def _build_sam(**options: Any) -> Engine:
    from .sam import build_sam_engine

    return build_sam_engine(**options)


_REGISTRY: dict[str, Callable[..., Engine]] = {
    "classical": _build_classical,
    "sam": _build_sam,
}
ENGINE_NAMES = tuple(_REGISTRY)


def build_engine(name: str, **options: Any) -> Engine:
    """Build the engine registered as ``name``; ``KeyError`` for an unknown one."""
    return _REGISTRY[name](**options)
