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


def test_an_over_long_run_that_pycocotools_reads_differently_is_refused() -> None:
    # Issue 15: accepted once, stored with area 32,760 on a 19,200-pixel frame, after
    # which the project's masks and yolo-seg exports failed.
    with pytest.raises(ValueError, match="too long"):
        check_rle({"size": [120, 160], "counts": "0PP`00PP`ooooooOPh2"}, 120, 160)


def test_runs_wrap_as_pycocotools_unsigned_counts() -> None:
    # Run 3 is stored as a delta to run 1: 0 + (-1) = -1 ("O" is the group 0x1F, a
    # negative one), which pycocotools keeps as 2**32 - 1: the runs cannot tile the frame.
    counts = "000O"
    assert rle_run_lengths(counts).tolist() == [0, 0, 0, 2**32 - 1]
    with pytest.raises(ValueError):
        check_rle({"size": [2, 2], "counts": counts}, 2, 2)


def test_strings_we_accept_decode_the_same_in_pycocotools() -> None:
    """Random short strings (negative deltas included): whenever the parser's runs
    tile the frame, pycocotools decodes exactly those runs."""
    rng = np.random.default_rng(0)
    weights = np.ones(64)
    weights[:8], weights[16:24], weights[32:40] = 30, 10, 3
    weights /= weights.sum()
    alphabet = [chr(48 + g) for g in range(64)]
    agreed = 0
    for _ in range(30_000):
        h, w = (int(v) for v in rng.integers(1, 5, 2))
        counts = "".join(rng.choice(alphabet, int(rng.integers(1, 10)), p=weights))
        try:
            runs = rle_run_lengths(counts)
        except ValueError:
            continue
        if runs.sum() != h * w:
            continue
        expected = np.repeat(np.arange(runs.size) % 2, runs).reshape(w, h).T
        np.testing.assert_array_equal(decode_rle({"size": [h, w], "counts": counts}), expected)
        agreed += 1
    assert agreed > 100
