"""The prompt schema of ``POST /api/assets/{id}/predict/``, validated in the web process.

Validation happens before anything is queued, so a worker only ever sees prompts that
lie inside the image and are well formed. The output is plain JSON the worker turns
into ``workers.engines.Prompts``. Errors are :class:`PromptError` with the API's code.
"""

from __future__ import annotations

import time
from typing import Any

from formats.errors import FormatError
from formats.rle import MaskError, validate_rle

#: ``engine`` values of a predict request: "auto" or an engine the workers build by name
#: (``workers.engines.ENGINE_NAMES``; a test pins the two together).
ENGINES = ("auto", "sam", "classical")
MAX_CLICKS = 200
MAX_SCRIBBLES = 50
MAX_SCRIBBLE_POINTS = 5000
#: All scribble points of one request together: a click must stay cheap to validate
#: and to ship to a worker (50 scribbles of 5,000 points stalled the web process).
MAX_PROMPT_POINTS = 20_000
#: No coordinate, time or box value of a prompt is larger than this in magnitude.
_MAX_MAGNITUDE = 1e15


class PromptError(FormatError):
    """A predict request that does not follow the schema (an API 400)."""

    default_code = "invalid_prompt"


def _number(value: Any, what: str) -> float:
    # Magnitude first: float() of a 400-digit integer raises OverflowError.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not -_MAX_MAGNITUDE <= value <= _MAX_MAGNITUDE
    ):
        raise PromptError(f"{what} must be a finite number", "invalid_prompt")
    return float(value)


def _point(x: Any, y: Any, width: int, height: int, what: str) -> tuple[float, float]:
    px, py = _number(x, f"{what} x"), _number(y, f"{what} y")
    if not (0 <= px < width and 0 <= py < height):
        raise PromptError(
            f"{what} ({px}, {py}) lies outside the {width}x{height} image", "prompt_outside_image"
        )
    return px, py


def validate_prompts(data: Any, width: int, height: int) -> dict[str, Any]:
    """Check a predict request body against a ``width`` x ``height`` frame and return the
    normalised prompts ``{"clicks", "box", "scribbles", "mask", "logits_key"}``."""
    if not isinstance(data, dict):
        raise PromptError("the request body must be a JSON object", "invalid_prompt")
    now = time.time()
    clicks_in = data.get("clicks") or []
    if not isinstance(clicks_in, list) or len(clicks_in) > MAX_CLICKS:
        raise PromptError(f"clicks must be a list of at most {MAX_CLICKS}", "invalid_prompt")
    clicks = []
    for i, click in enumerate(clicks_in):
        if not isinstance(click, dict):
            raise PromptError(f"click {i} must be an object", "invalid_prompt")
        x, y = _point(click.get("x"), click.get("y"), width, height, f"click {i}")
        positive = click.get("positive", True)
        if not isinstance(positive, bool):
            raise PromptError(f"click {i}: positive must be true or false", "invalid_prompt")
        t = click.get("t", now)
        clicks.append({"x": x, "y": y, "positive": positive, "t": _number(t, f"click {i} t")})

    box = data.get("box")
    if box is not None:
        if not isinstance(box, list) or len(box) != 4:
            raise PromptError("box must be [x0, y0, x1, y1]", "invalid_prompt")
        x0, y0, x1, y1 = (_number(v, "box coordinate") for v in box)
        if x1 < x0 or y1 < y0:
            raise PromptError("box must have x0 <= x1 and y0 <= y1", "invalid_prompt")
        if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
            raise PromptError(
                f"box {box} lies outside the {width}x{height} image", "prompt_outside_image"
            )
        box = [x0, y0, x1, y1]

    scribbles_in = data.get("scribbles") or []
    if not isinstance(scribbles_in, list) or len(scribbles_in) > MAX_SCRIBBLES:
        raise PromptError(f"scribbles must be a list of at most {MAX_SCRIBBLES}", "invalid_prompt")
    scribbles = []
    total = sum(
        len(s["points"])
        for s in scribbles_in
        if isinstance(s, dict) and isinstance(s.get("points"), list)
    )
    if total > MAX_PROMPT_POINTS:
        raise PromptError(
            f"the scribbles hold {total} points, at most {MAX_PROMPT_POINTS} in all",
            "too_many_points",
        )
    for i, scribble in enumerate(scribbles_in):
        points = scribble.get("points") if isinstance(scribble, dict) else None
        if not isinstance(points, list) or not 1 <= len(points) <= MAX_SCRIBBLE_POINTS:
            raise PromptError(
                f"scribble {i} needs 1 to {MAX_SCRIBBLE_POINTS} points [[x, y], ...]",
                "invalid_prompt",
            )
        clean = []
        for point in points:
            if not isinstance(point, list | tuple) or len(point) != 2:
                raise PromptError(f"scribble {i}: each point must be [x, y]", "invalid_prompt")
            clean.append(list(_point(point[0], point[1], width, height, f"scribble {i} point")))
        positive = scribble.get("positive", True)
        if not isinstance(positive, bool):
            raise PromptError(f"scribble {i}: positive must be true or false", "invalid_prompt")
        t = scribble.get("t", now)
        scribbles.append({"points": clean, "positive": positive, "t": _number(t, "t")})

    mask = data.get("mask")
    if mask is not None:
        try:
            mask = validate_rle(mask, height, width)
        except MaskError as exc:
            raise PromptError(f"mask: {exc}", exc.code) from None

    if not clicks and box is None and not scribbles and mask is None:
        raise PromptError("give at least one prompt: clicks, box, scribbles or mask", "no_prompt")
    return {"clicks": clicks, "box": box, "scribbles": scribbles, "mask": mask}


def validate_engine(value: Any) -> str:
    engine = "auto" if value is None else value
    if engine not in ENGINES:
        raise PromptError(f"engine must be one of {', '.join(ENGINES)}", "unknown_engine")
    return str(engine)
