"""COCO RLE validation against pycocotools, on many random masks."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from formats.rle import (
    MaskError,
    decode_mask,
    encode_mask,
    mask_stats,
    rle_run_lengths,
    validate_rle,
)
from tests.annotator.sample_images import box_mask, random_mask, rle_of

SEEDS = range(300)


def coco_runs(mask: np.ndarray) -> list[int]:
    """Run lengths of a mask in column-major order, starting with a run of zeros."""
    flat = mask.flatten(order="F").astype(np.uint8)
    changes = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    return [0, *runs] if flat.size and flat[0] else runs


def random_shape(rng: np.random.Generator) -> tuple[int, int]:
    if rng.random() < 0.2:
        return int(rng.integers(1, 4)), int(rng.integers(1, 4))
    return int(rng.integers(1, 120)), int(rng.integers(1, 120))


@pytest.mark.parametrize("seed", range(0, 300, 30))
def test_it_accepts_what_pycocotools_writes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(30):
        h, w = random_shape(rng)
        mask = random_mask(h, w, rng)
        rle = rle_of(mask)
        assert validate_rle(rle, h, w) == rle
        # bytes counts (what pycocotools returns) are accepted and given back as str
        raw = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert validate_rle({"size": list(raw["size"]), "counts": raw["counts"]}, h, w) == rle


@pytest.mark.parametrize("seed", range(0, 300, 30))
def test_run_lengths_match_pycocotools(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(30):
        h, w = random_shape(rng)
        mask = random_mask(h, w, rng)
        rle = rle_of(mask)
        runs = rle_run_lengths(rle["counts"]).tolist()
        assert runs == coco_runs(mask)
        assert sum(runs) == h * w
        # and pycocotools' own uncompressed form says the same
        from_runs = mask_utils.frPyObjects({"size": [h, w], "counts": runs}, h, w)
        assert from_runs["counts"].decode() == rle["counts"]


def test_it_handles_long_runs() -> None:
    mask = np.zeros((1000, 1000), dtype=bool)
    mask[500:, 999] = True
    runs = rle_run_lengths(rle_of(mask)["counts"]).tolist()
    assert runs == [999_500, 500]


@pytest.mark.parametrize("seed", range(0, 300, 30))
def test_mask_stats_match_pycocotools(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(30):
        h, w = random_shape(rng)
        mask = random_mask(h, w, rng)
        raw = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        stats = mask_stats(rle_of(mask))
        assert stats.area == int(mask_utils.area(raw)) == int(mask.sum())
        assert stats.bbox == [float(v) for v in mask_utils.toBbox(raw)]


def test_mask_stats_of_a_box() -> None:
    stats = mask_stats(rle_of(box_mask(48, 64, 5, 6, 15, 26)))
    assert stats.area == 200
    assert stats.bbox == [5.0, 6.0, 10.0, 20.0]


def test_encode_and_decode_round_trip() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        h, w = random_shape(rng)
        mask = random_mask(h, w, rng)
        rle = encode_mask(mask)
        assert rle == rle_of(mask)
        assert np.array_equal(decode_mask(rle), mask)


def test_it_compresses_uncompressed_counts() -> None:
    mask = box_mask(10, 12, 2, 3, 7, 9)
    assert validate_rle({"size": [10, 12], "counts": coco_runs(mask)}, 10, 12) == rle_of(mask)


GOOD = rle_of(box_mask(10, 12, 2, 3, 7, 9))["counts"]


@pytest.mark.parametrize(
    ("rle", "code"),
    [
        (None, "invalid_mask"),
        ("abc", "invalid_mask"),
        ({"counts": GOOD}, "invalid_mask"),
        ({"size": [10, 12]}, "invalid_mask"),
        ({"size": [10], "counts": GOOD}, "invalid_mask"),
        ({"size": [0, 12], "counts": GOOD}, "invalid_mask"),
        ({"size": [-10, 12], "counts": GOOD}, "invalid_mask"),
        ({"size": [True, 12], "counts": GOOD}, "invalid_mask"),
        ({"size": "10x12", "counts": GOOD}, "invalid_mask"),
        ({"size": [12, 10], "counts": GOOD}, "mask_size_mismatch"),
        ({"size": [10, 12], "counts": ""}, "invalid_rle"),
        ({"size": [10, 12], "counts": None}, "invalid_rle"),
        ({"size": [10, 12], "counts": 120}, "invalid_rle"),
        ({"size": [10, 12], "counts": {"a": 1}}, "invalid_rle"),
        ({"size": [10, 12], "counts": GOOD + "1"}, "invalid_rle"),  # one pixel too many
        ({"size": [10, 12], "counts": GOOD[:-1]}, "invalid_rle"),
        ({"size": [10, 12], "counts": " " + GOOD}, "invalid_rle"),
        ({"size": [10, 12], "counts": GOOD + "p"}, "invalid_rle"),  # 'p' is past 'o'
        ({"size": [10, 12], "counts": GOOD + "\x00"}, "invalid_rle"),
        ({"size": [10, 12], "counts": GOOD + "é"}, "invalid_rle"),
        ({"size": [10, 12], "counts": b"\xff\xfe"}, "invalid_rle"),
        ({"size": [10, 12], "counts": "P"}, "invalid_rle"),  # continuation bit, then nothing
        ({"size": [10, 12], "counts": "_"}, "invalid_rle"),  # a negative first run
        ({"size": [10, 12], "counts": "o" * 40}, "invalid_rle"),  # a run too long to be real
        ({"size": [10, 12], "counts": [120.0]}, "invalid_rle"),
        ({"size": [10, 12], "counts": [-5, 125]}, "invalid_rle"),
        ({"size": [10, 12], "counts": [True, 119]}, "invalid_rle"),
        ({"size": [10, 12], "counts": [60, 61]}, "invalid_rle"),
        ({"size": [10, 12], "counts": []}, "invalid_rle"),
        ({"size": [10, 12], "counts": ["120"]}, "invalid_rle"),
    ],
)
def test_it_rejects_malformed_masks(rle: object, code: str) -> None:
    with pytest.raises(MaskError) as caught:
        validate_rle(rle, 10, 12)
    assert caught.value.code == code
    assert str(caught.value)


def test_it_never_crashes_on_random_strings() -> None:
    """Random strings are either valid masks or a MaskError, never anything else."""
    rng = np.random.default_rng(7)
    alphabet = [chr(c) for c in range(32, 127)]
    for _ in range(2000):
        length = int(rng.integers(1, 30))
        counts = "".join(rng.choice(alphabet, length))
        h, w = int(rng.integers(1, 20)), int(rng.integers(1, 20))
        try:
            rle = validate_rle({"size": [h, w], "counts": counts}, h, w)
        except MaskError:
            continue
        # Whatever passes must be something pycocotools decodes to the right shape.
        decoded = decode_mask(rle)
        assert decoded.shape == (h, w)
        assert mask_stats(rle).area == int(decoded.sum())


def test_it_never_crashes_on_corrupted_real_masks() -> None:
    rng = np.random.default_rng(11)
    for _ in range(500):
        h, w = random_shape(rng)
        counts = list(rle_of(random_mask(h, w, rng))["counts"])
        position = int(rng.integers(0, len(counts)))
        counts[position] = chr(int(rng.integers(48, 112)))
        try:
            rle = validate_rle({"size": [h, w], "counts": "".join(counts)}, h, w)
        except MaskError:
            continue
        assert decode_mask(rle).shape == (h, w)
