"""COCO RLE helpers: encode, decode, and validate without trusting pycocotools' C decoder.

``pycocotools.mask.decode`` does not check that the runs of a compressed RLE add up to
``h * w``: a truncated string decodes into a mask that contains uninitialised memory.
Imported masks are therefore checked with :func:`rle_run_lengths`, a vectorised numpy
re-implementation of the compressed-string format, before they are ever decoded.

Compressed counts format (COCO ``maskApi.c``): each run length is written as a
little-endian series of 5-bit groups, one character per group (``chr(48 + group)``),
bit ``0x20`` set on every group but the last of a run, and bit ``0x10`` of the last group
the sign. From the fourth run on (index > 2), the value stored is the difference to the
run two places earlier.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

# 13 groups * 5 bits = 65 bits: anything longer cannot be a valid int64 run length.
_MAX_GROUPS_PER_RUN = 13


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """``(H, W) bool/uint8`` mask -> ``{"size": [H, W], "counts": str}``."""
    rle = mask_utils.encode(np.asfortranarray(mask, dtype=np.uint8))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode()}


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """Compressed RLE (``str`` or ``bytes`` counts) -> ``(H, W) uint8`` mask of 0/1."""
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    decoded: np.ndarray = mask_utils.decode({"size": list(rle["size"]), "counts": counts})
    return decoded


def rle_run_lengths(counts: str) -> np.ndarray:
    """Parse a compressed counts string into run lengths, ``(R,) int64``.

    Raises ``ValueError`` for characters outside the alphabet, a dangling continuation
    group, or an over-long run; does not check the total (see :func:`check_rle`).
    """
    try:
        raw = np.frombuffer(counts.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError as exc:
        raise ValueError("RLE counts contain non-ASCII characters") from exc
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64)
    groups = raw.astype(np.int64) - 48
    if groups.min() < 0 or groups.max() > 63:
        raise ValueError("RLE counts contain characters outside the COCO alphabet")
    last = (groups & 0x20) == 0  # the final group of each run
    if not last[-1]:
        raise ValueError("RLE counts end in the middle of a run")
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _MAX_GROUPS_PER_RUN:
        raise ValueError("RLE counts contain an over-long run")
    # Position of every group inside its run, so it can be shifted into place.
    position = np.arange(groups.size) - np.repeat(starts, lengths)
    values = np.add.reduceat((groups & 0x1F) << (5 * position), starts)
    negative = (groups[ends] & 0x10) != 0
    values = np.where(negative, values - (np.int64(1) << (5 * lengths)), values)
    # Undo the delta coding: run i (i > 2) was stored relative to run i - 2.
    runs = values.copy()
    if runs.size > 3:
        runs[3::2] = runs[1] + np.cumsum(values[3::2])
    if runs.size > 4:
        runs[4::2] = runs[2] + np.cumsum(values[4::2])
    return runs


def check_rle(rle: Any, height: int, width: int) -> dict[str, Any]:
    """Validate a compressed RLE against an ``height x width`` image.

    Returns the normalised ``{"size": [h, w], "counts": str}``; raises ``ValueError``
    (message says why) when the size differs or the runs do not tile the image exactly.
    """
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError("RLE must be an object with 'size' and 'counts'")
    size = rle["size"]
    if not (isinstance(size, list | tuple) and len(size) == 2):
        raise ValueError("RLE 'size' must be [height, width]")
    if [size[0], size[1]] != [height, width]:
        raise SizeMismatch(f"RLE size {list(size)} differs from image size [{height}, {width}]")
    counts = rle["counts"]
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", errors="replace")
    if not isinstance(counts, str):
        raise ValueError("compressed RLE 'counts' must be a string")
    runs = rle_run_lengths(counts)
    if runs.size and runs.min() < 0:
        raise ValueError("RLE contains a negative run length")
    if int(runs.sum()) != height * width:
        raise ValueError(f"RLE runs cover {int(runs.sum())} pixels, image has {height * width}")
    return {"size": [height, width], "counts": counts}


class SizeMismatch(ValueError):
    """The RLE is well formed but was made for another image size."""
