"""The numpy parser of COCO compressed counts agrees with pycocotools."""

from __future__ import annotations

import numpy as np
import pytest

from formats.rle import SizeMismatch, check_rle, decode_rle, encode_mask, rle_run_lengths


def runs_of(mask: np.ndarray) -> list[int]:
    """Reference run lengths: column-major, starting with a (possibly empty) 0-run."""
    flat = mask.T.ravel().astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
    return [0, *runs] if flat.size and flat[0] else runs


@pytest.mark.parametrize("seed", range(20))
def test_run_lengths_match_masks(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(1, 70, 2))
    mask = rng.random((h, w)) < rng.random()
    rle = encode_mask(mask)
    assert rle_run_lengths(rle["counts"]).tolist() == runs_of(mask)
    assert check_rle(rle, h, w) == rle
    np.testing.assert_array_equal(decode_rle(rle), mask)


def test_large_runs() -> None:
    mask = np.zeros((3000, 4000), bool)
    mask[7:2990, 1:3999] = True
    rle = encode_mask(mask)
    assert rle_run_lengths(rle["counts"]).tolist() == runs_of(mask)


@pytest.mark.parametrize("counts", ["0", "", "?", "zz", "é", "1" + chr(48 + 0x20)])
def test_bad_counts_are_rejected(counts: str) -> None:
    with pytest.raises(ValueError):
        check_rle({"size": [5, 4], "counts": counts}, 5, 4)


def test_size_mismatch_is_its_own_error() -> None:
    with pytest.raises(SizeMismatch):
        check_rle(encode_mask(np.ones((5, 4), bool)), 4, 5)
