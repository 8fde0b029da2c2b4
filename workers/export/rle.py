"""COCO RLE helpers for the export layer, on top of :mod:`annotator.masks` (the one
implementation of the format's checks): encode, decode, and validate without trusting
pycocotools' C decoder.

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

from annotator import masks


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """``(H, W) bool/uint8`` mask -> ``{"size": [H, W], "counts": str}``."""
    return masks.encode_mask(mask)


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """Compressed RLE (``str`` or ``bytes`` counts) -> ``(H, W) uint8`` mask of 0/1."""
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    decoded: np.ndarray = mask_utils.decode({"size": list(rle["size"]), "counts": counts})
    return decoded


def rle_run_lengths(counts: str) -> np.ndarray:
    """Run lengths of a compressed counts string, ``(R,) int64`` (see
    :func:`annotator.masks.rle_run_lengths`); ``ValueError`` for a malformed string."""
    return masks.rle_run_lengths(counts)


def check_rle(rle: Any, height: int, width: int) -> dict[str, Any]:
    """Validate a compressed RLE against an ``height x width`` image.

    Returns the normalised ``{"size": [h, w], "counts": str}``; raises
    :class:`SizeMismatch` when it was made for another size and ``ValueError`` when the
    runs do not tile the image exactly. Uncompressed (list) counts are refused here:
    importers convert them explicitly first.
    """
    if isinstance(rle, dict) and isinstance(rle.get("counts"), list):
        raise ValueError("compressed RLE 'counts' must be a string")
    try:
        return masks.validate_rle(rle, height, width)
    except masks.MaskError as exc:
        if exc.code == "mask_size_mismatch":
            raise SizeMismatch(str(exc)) from None
        raise


class SizeMismatch(ValueError):
    """The RLE is well formed but was made for another image size."""
