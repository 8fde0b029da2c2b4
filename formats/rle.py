"""COCO RLE masks: validation, measurement and conversion.

The API stores and returns masks exactly as ``pycocotools.mask.encode`` writes them:
``{"size": [h, w], "counts": "<compressed string>"}``, column-major (Fortran order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from formats.errors import FormatError


class MaskError(FormatError):
    """A mask that cannot be used; ``code`` is the API error code."""

    default_code = "invalid_mask"


class SizeMismatch(MaskError):
    """The RLE is well formed but was made for another image size."""

    default_code = "mask_size_mismatch"


@dataclass(frozen=True)
class MaskStats:
    area: int
    bbox: list[float]  # [x, y, w, h] in pixels


# pycocotools accumulates a run's 5-bit groups in a 64-bit integer and stores each run
# as an unsigned 32-bit count. Seven groups (35 bits) hold any run of a 2**32-pixel frame
# and cannot overflow that accumulator, so a longer run is refused outright.
_MAX_GROUPS_PER_RUN = 7
_UINT32 = np.int64(1) << 32


def rle_run_lengths(counts: str) -> np.ndarray:
    """Parse pycocotools' compressed counts string into run lengths, ``(R,) int64``,
    exactly as pycocotools reads it.

    pycocotools' own decoder trusts its input and writes past its buffer when the runs
    add up to more than h*w, so an untrusted string is parsed and checked here first
    (vectorised: a 4K mask's string parses in well under a millisecond). The format:
    each run is a little-endian series of 5-bit groups, one character per group
    (``chr(48 + group)``), bit 0x20 set on all but the last group of a run, bit 0x10 of
    the last group the sign; from the fourth run on, the stored value is the difference
    to the run two places earlier, and every run is kept modulo 2**32 (pycocotools'
    ``uint`` counts), so a "negative" run wraps to a huge one and fails the total check
    of :func:`validate_rle` instead of being read two different ways. Raises
    :class:`MaskError` (code ``invalid_rle``) for characters outside the alphabet, a
    dangling group or an over-long run.
    """
    try:
        raw = np.frombuffer(counts.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        raise MaskError("RLE counts contain non-ASCII characters", "invalid_rle") from None
    if raw.size == 0:
        return np.zeros(0, dtype=np.int64)
    groups = raw.astype(np.int64) - 48
    if groups.min() < 0 or groups.max() > 63:
        raise MaskError("RLE counts contain a character outside '0'..'o'", "invalid_rle")
    last = (groups & 0x20) == 0  # the final group of each run
    if not last[-1]:
        raise MaskError("RLE counts end in the middle of a run", "invalid_rle")
    ends = np.flatnonzero(last)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts + 1
    if lengths.max() > _MAX_GROUPS_PER_RUN:
        raise MaskError("RLE counts hold a run too long to be real", "invalid_rle")
    position = np.arange(groups.size) - np.repeat(starts, lengths)
    values = np.add.reduceat((groups & 0x1F) << (5 * position), starts)
    negative = (groups[ends] & 0x10) != 0
    values = np.where(negative, values - (np.int64(1) << (5 * lengths)), values)
    runs = values.copy()
    if runs.size > 3:
        runs[3::2] = runs[1] + np.cumsum(values[3::2])
    if runs.size > 4:
        runs[4::2] = runs[2] + np.cumsum(values[4::2])
    result: np.ndarray = np.mod(runs, _UINT32)
    return result


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
        raise SizeMismatch(
            f"mask size [{h}, {w}] does not match the frame size [{height}, {width}]"
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
    total = int(rle_run_lengths(counts).sum())
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


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """Compressed RLE (``str`` or ``bytes`` counts) -> ``(H, W) uint8`` mask of 0/1
    (the export writers' form; :func:`decode_mask` gives bool)."""
    decoded: np.ndarray = mask_utils.decode(_as_pycoco({**rle, "size": list(rle["size"])}))
    return decoded


def check_rle(rle: Any, height: int, width: int) -> dict[str, Any]:
    """:func:`validate_rle` for imported masks, which must come compressed: uncompressed
    (list) counts are refused here (importers convert them explicitly first). Raises
    :class:`SizeMismatch` for a mask made for another size, :class:`MaskError` when the
    runs do not tile the image exactly."""
    if isinstance(rle, dict) and isinstance(rle.get("counts"), list):
        raise MaskError("compressed RLE 'counts' must be a string", "invalid_rle")
    return validate_rle(rle, height, width)
