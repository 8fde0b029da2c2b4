"""COCO RLE masks: validation, measurement and conversion.

The API stores and returns masks exactly as ``pycocotools.mask.encode`` writes them:
``{"size": [h, w], "counts": "<compressed string>"}``, column-major (Fortran order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils


class MaskError(ValueError):
    """A mask that cannot be used; ``code`` is the API error code."""

    def __init__(self, message: str, code: str = "invalid_mask") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class MaskStats:
    area: int
    bbox: list[float]  # [x, y, w, h] in pixels


def _run_lengths(counts: str) -> list[int]:
    """Parse pycocotools' compressed counts string into run lengths.

    pycocotools' own decoder trusts its input and writes past its buffer when the runs
    add up to more than h*w, so an untrusted string is parsed and checked here first.
    The format: each run is a variable-length sequence of 6-bit groups offset by 48, the
    0x20 bit marks continuation, runs after the second are stored as a delta to the run
    two places before.
    """
    runs: list[int] = []
    pos = 0
    n = len(counts)
    while pos < n:
        value = 0
        shift = 0
        more = True
        while more:
            if pos >= n:
                raise MaskError("RLE counts end in the middle of a run", "invalid_rle")
            c = ord(counts[pos]) - 48
            if c < 0 or c > 63:
                raise MaskError("RLE counts contain a character outside '0'..'o'", "invalid_rle")
            value |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            pos += 1
            shift += 1
            if not more and (c & 0x10):
                value |= -1 << (5 * shift)
            if shift > 13:
                raise MaskError("RLE counts hold a run too long to be real", "invalid_rle")
        if len(runs) > 2:
            value += runs[-2]
        if value < 0:
            raise MaskError("RLE counts decode to a negative run length", "invalid_rle")
        runs.append(value)
    return runs


def validate_rle(rle: Any, height: int, width: int) -> dict[str, Any]:
    """Check an RLE against a ``height`` x ``width`` frame and return it normalised to
    compressed string counts. Uncompressed RLE (``counts`` a list of ints) is accepted
    and compressed. Raises :class:`MaskError` with a message saying what is wrong."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise MaskError('a mask must be an object {"size": [h, w], "counts": ...}')
    size = rle["size"]
    if (
        not isinstance(size, list | tuple)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)
    ):
        raise MaskError("mask size must be [height, width] with positive integers")
    h, w = int(size[0]), int(size[1])
    if (h, w) != (height, width):
        raise MaskError(
            f"mask size [{h}, {w}] does not match the frame size [{height}, {width}]",
            "mask_size_mismatch",
        )
    counts = rle["counts"]
    if isinstance(counts, list):
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts):
            raise MaskError("uncompressed RLE counts must be non-negative integers", "invalid_rle")
        if sum(counts) != h * w:
            raise MaskError(
                f"RLE counts cover {sum(counts)} pixels, the frame has {h * w}", "invalid_rle"
            )
        compressed = mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w)
        return {"size": [h, w], "counts": compressed["counts"].decode("ascii")}
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", errors="replace")
    if not isinstance(counts, str) or not counts:
        raise MaskError(
            "RLE counts must be a non-empty string or a list of integers", "invalid_rle"
        )
    total = sum(_run_lengths(counts))
    if total != h * w:
        raise MaskError(f"RLE counts cover {total} pixels, the frame has {h * w}", "invalid_rle")
    return {"size": [h, w], "counts": counts}


def _as_pycoco(rle: dict[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    return {
        "size": rle["size"],
        "counts": counts.encode("ascii") if isinstance(counts, str) else counts,
    }


def mask_stats(rle: dict[str, Any]) -> MaskStats:
    """Area in pixels and ``[x, y, w, h]`` bounding box of a validated RLE."""
    coco = _as_pycoco(rle)
    return MaskStats(
        area=int(mask_utils.area(coco)), bbox=[float(v) for v in mask_utils.toBbox(coco)]
    )


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """``(H, W)`` bool/uint8 array -> RLE dict with str counts."""
    encoded = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in encoded["size"]], "counts": encoded["counts"].decode("ascii")}


def decode_mask(rle: dict[str, Any]) -> np.ndarray:
    """Validated RLE dict -> ``(H, W)`` bool array."""
    return mask_utils.decode(_as_pycoco(rle)).astype(bool)
