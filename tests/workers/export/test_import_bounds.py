"""Untrusted numbers and strings of an import are bounded before any C code or the
database sees them: each case fails with its :class:`ArchiveError` code instead of a
segfault, an allocation of gigabytes, a database error or a silently cut value."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from formats.rle import decode_rle, encode_mask
from workers.export import ArchiveError, ArchiveErrorCode, ArchiveLimits, validate_and_load
from workers.export.coco_import import segmentation_to_rle

Code = ArchiveErrorCode
H, W = 30, 40
IMAGE = {"id": 1, "file_name": "a.png", "width": W, "height": H}
CATEGORY = {"id": 1, "name": "thing"}
SQUARE = [5, 5, 20, 5, 20, 15, 5, 15]


def coco(
    tmp_path: Path,
    *,
    segmentation: Any = None,
    image: dict[str, Any] | None = None,
    category: dict[str, Any] | None = None,
    annotation: dict[str, Any] | None = None,
    raw: bytes | None = None,
) -> Path:
    """A bare COCO JSON with one image, one category and one annotation."""
    document = {
        "images": [image or IMAGE],
        "categories": [category or CATEGORY],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [SQUARE] if segmentation is None else segmentation,
                **(annotation or {}),
            }
        ],
    }
    path = tmp_path / "instances.json"
    path.write_bytes(raw if raw is not None else json.dumps(document).encode())
    return path


def refused(path: Path, code: Code, limits: ArchiveLimits | None = None) -> str:
    with pytest.raises(ArchiveError) as info:
        validate_and_load(path, require_images=False, limits=limits)
    assert info.value.code == code, info.value.message
    assert len(info.value.message) < 1000  # never the huge value itself
    return info.value.message


# --- polygons -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "polygon",
    [
        [0, 0, 1e300, 0, 1e300, 1e300],  # segfaulted pycocotools' frPyObjects
        [0, 0, 1e7, 0, 1e7, 1e7],  # cost 1.2 GB
        [0, 0, 10**400, 0, 10, 10],  # too large for a float
        [0, 0, -1e9, 5, 10, 10],
        [0, 0, W + 6, 0, 10, 10],  # beyond 10% + 1 pixel of the side
        [0, 0, 10, H + 5, 10, 10],
    ],
    ids=["1e300", "1e7", "400 digits", "far left", "right", "below"],
)
def test_a_polygon_far_outside_the_image_is_refused(tmp_path: Path, polygon: list[Any]) -> None:
    message = refused(coco(tmp_path, segmentation=[SQUARE, polygon]), Code.INVALID_POLYGON)
    assert "polygon 1" in message


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_polygon_coordinate_that_is_not_finite_is_refused(tmp_path: Path, value: str) -> None:
    document = json.dumps({"images": [IMAGE], "categories": [CATEGORY], "annotations": []})
    polygon = f"[0, 0, {value}, 0, 10, 10]"
    annotation = f'{{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [{polygon}]}}'
    raw = document.replace('"annotations": []', f'"annotations": [{annotation}]').encode()
    refused(coco(tmp_path, raw=raw), Code.INVALID_POLYGON)


def test_a_polygon_slightly_outside_is_kept_and_cut_at_the_border(tmp_path: Path) -> None:
    """Within the tolerance nothing is changed: pycocotools cuts the mask at the image's
    border, so the mask is the in-image part of the polygon."""
    polygon = [-3.5, -2, W + 4, -2, W + 4, 10, -3.5, 10]  # 4 = 10% of 40
    with validate_and_load(coco(tmp_path, segmentation=[polygon]), require_images=False) as b:
        mask = decode_rle(b.annotations[0].rle).astype(bool)
    expected = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects([polygon], H, W)))
    np.testing.assert_array_equal(mask, expected.astype(bool))
    assert mask[:10].all() and not mask[11:].any()


def test_vertex_counts_are_bounded_per_polygon_and_per_annotation(tmp_path: Path) -> None:
    triangle = [0, 0, 10, 0, 10, 10]
    limits = ArchiveLimits(max_polygon_points=4, max_annotation_points=8)
    message = refused(
        coco(tmp_path, segmentation=[triangle + [0, 10, 0, 5]]), Code.INVALID_POLYGON, limits
    )
    assert "5 points" in message
    message = refused(coco(tmp_path, segmentation=[triangle] * 3), Code.INVALID_POLYGON, limits)
    assert "more than 8 points" in message
    with validate_and_load(
        coco(tmp_path, segmentation=[triangle, triangle]), require_images=False, limits=limits
    ) as bundle:
        assert len(bundle.annotations) == 1


def test_the_outline_pycocotools_walks_is_bounded(tmp_path: Path) -> None:
    """A zigzag inside the image costs pycocotools memory by its outline: 10 crossings
    of a 40-pixel-wide image are ~400 pixels of it."""
    zigzag = [v for i in range(10) for v in (0 if i % 2 else W, i * 3)]
    limits = ArchiveLimits(max_polygon_boundary=300)
    message = refused(coco(tmp_path, segmentation=[zigzag]), Code.INVALID_POLYGON, limits)
    assert "longer than 300 pixels" in message
    with validate_and_load(
        coco(tmp_path, segmentation=[zigzag]),
        require_images=False,
        limits=ArchiveLimits(max_polygon_boundary=500),
    ) as bundle:
        assert bundle.annotations[0].rle["size"] == [H, W]


def test_segmentation_to_rle_checks_before_converting() -> None:
    with pytest.raises(ArchiveError) as info:
        segmentation_to_rle([[0, 0, 1e300, 0, 1e300, 1e300]], H, W, "annotation 1")
    assert info.value.code == Code.INVALID_POLYGON
    rle = segmentation_to_rle([SQUARE], H, W, "annotation 1")
    assert rle["size"] == [H, W] and isinstance(rle["counts"], str)


# --- image sizes, RLE runs, JSON numbers ------------------------------------------------


@pytest.mark.parametrize(
    "size",
    [
        {"width": 10**400, "height": 3},
        {"width": 20_000, "height": 20_000},  # 4e8 pixels > MAX_IMAGE_PIXELS (1e8)
        {"width": 2**25, "height": 1},
    ],
    ids=["400 digits", "too many pixels", "too wide"],
)
def test_an_image_larger_than_the_server_takes_is_refused(
    tmp_path: Path, size: dict[str, int]
) -> None:
    path = coco(tmp_path, image={**IMAGE, **size}, segmentation={"size": [1, 1], "counts": "01"})
    refused(path, Code.IMAGE_TOO_LARGE)


def test_the_pixel_limit_is_the_servers(tmp_path: Path) -> None:
    refused(coco(tmp_path), Code.IMAGE_TOO_LARGE, ArchiveLimits(max_image_pixels=H * W - 1))


def _compress(runs: list[int]) -> str:
    """pycocotools' counts string of ``runs``, in Python integers (it keeps 32 bits)."""
    out = []
    for i, run in enumerate(runs):
        x = run - runs[i - 2] if i > 2 else run
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr((c | 0x20 if more else c) + 48))
    return "".join(out)


# Runs that add up to 100 in 64 bits (wrapping around) but whose low 32 bits, which
# pycocotools keeps, run 2**32 - 1 pixels past a 10 x 10 image.
WRAPPING = _compress([(2**31 - 1) * 2**32 + 2**32 - 1, (2**31 - 1) * 2**32 + 101, 2**32])
# Runs of 32 bits whose total is 2**32 + 100 (pycocotools would write past the image).
OVERLONG = _compress([2**32 - 1, 101])


@pytest.mark.parametrize("counts", [WRAPPING, OVERLONG], ids=["wrapping", "overlong"])
def test_rle_runs_past_the_image_are_refused(tmp_path: Path, counts: str) -> None:
    image = {**IMAGE, "width": 10, "height": 10}
    path = coco(tmp_path, image=image, segmentation={"size": [10, 10], "counts": counts})
    refused(path, Code.INVALID_RLE)


def test_rle_counts_are_bounded_in_length(tmp_path: Path) -> None:
    """A counts string costs ~40 bytes a character to check: no longer than the API's
    10 MB body can carry (``max_rle_chars``), compressed or as a list of runs."""
    compressed = encode_mask(np.eye(H, W, dtype=bool))
    limits = ArchiveLimits(max_rle_chars=len(compressed["counts"]) - 1)
    message = refused(coco(tmp_path, segmentation=compressed), Code.INVALID_RLE, limits)
    assert "the limit is" in message
    runs = {"size": [H, W], "counts": [1] * (H * W)}
    refused(coco(tmp_path, segmentation=runs), Code.INVALID_RLE, ArchiveLimits(max_rle_chars=1000))
    with validate_and_load(coco(tmp_path, segmentation=runs), require_images=False) as bundle:
        assert bundle.annotations[0].rle["size"] == [H, W]


def test_integers_beyond_the_parsers_digits_and_deep_nesting_are_invalid_json(
    tmp_path: Path,
) -> None:
    refused(coco(tmp_path, raw=b'{"images": [' + b"9" * 5000 + b"]}"), Code.INVALID_JSON)
    refused(coco(tmp_path, raw=b"[" * 100_000 + b"]" * 100_000), Code.INVALID_JSON)


@pytest.mark.parametrize("score", [10**400, 2, -0.5, "0.5", True])
def test_a_score_is_a_number_from_0_to_1(tmp_path: Path, score: Any) -> None:
    refused(coco(tmp_path, annotation={"score": score}), Code.INVALID_RECORD)


def test_a_frame_index_is_a_frame_number(tmp_path: Path) -> None:
    refused(coco(tmp_path, image={**IMAGE, "frame_index": -1}), Code.INVALID_RECORD)
    refused(coco(tmp_path, image={**IMAGE, "frame_index": 10**40}), Code.INVALID_RECORD)


# --- strings the database stores -------------------------------------------------------


def test_a_label_name_is_refused_beyond_the_apis_100_characters(tmp_path: Path) -> None:
    message = refused(coco(tmp_path, category={"id": 1, "name": "x" * 101}), Code.NAME_TOO_LONG)
    assert "101 characters" in message and "x" * 101 not in message
    padded = {"id": 1, "name": "  " + "é" * 100 + "  "}  # stripped as the API strips
    with validate_and_load(coco(tmp_path, category=padded), require_images=False) as bundle:
        assert bundle.categories[0].name == "é" * 100


@pytest.mark.parametrize("name", ["   ", "a\x00b", "\ud800"], ids=["blank", "NUL", "surrogate"])
def test_a_label_name_the_database_cannot_store_is_refused(tmp_path: Path, name: str) -> None:
    refused(coco(tmp_path, category={"id": 1, "name": name}), Code.INVALID_RECORD)


def test_an_image_file_name_over_255_bytes_is_refused(tmp_path: Path) -> None:
    long_name = "图" * 86 + ".png"  # 262 bytes, 90 characters
    message = refused(coco(tmp_path, image={**IMAGE, "file_name": long_name}), Code.NAME_TOO_LONG)
    assert "262 bytes" in message
    deep = "d/" * 600 + "a.png"
    refused(coco(tmp_path, image={**IMAGE, "file_name": deep}), Code.NAME_TOO_LONG)
    fine = "图" * 83 + ".png"  # 253 bytes
    with validate_and_load(
        coco(tmp_path, image={**IMAGE, "file_name": fine}), require_images=False
    ) as bundle:
        assert bundle.images[0].file_name == fine


def test_a_file_name_with_a_nul_is_refused(tmp_path: Path) -> None:
    refused(coco(tmp_path, image={**IMAGE, "file_name": "a\x00.png"}), Code.INVALID_RECORD)


# --- native archives -------------------------------------------------------------------

RLE = encode_mask(np.eye(H, W, dtype=bool))


def native(
    tmp_path: Path, annotation: dict[str, Any], category: dict[str, Any] | None = None
) -> Path:
    line = {"id": 1, "image_id": 1, "category_id": 1, "rle": RLE, **annotation}
    path = tmp_path / "native.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "native", "format_version": 1}))
        zf.writestr("categories.json", json.dumps([category or {**CATEGORY, "color": "#ff0000"}]))
        zf.writestr("images.jsonl", json.dumps(IMAGE) + "\n")
        zf.writestr("annotations.jsonl", json.dumps(line) + "\n")
    return path


@pytest.mark.parametrize(
    ("interaction", "code"),
    [
        ({"clicks": [{"x": 10**400, "y": 1}]}, Code.INVALID_RECORD),
        ({"clicks": [], "extra": {"deep": [1e300 * 1e300]}}, Code.INVALID_RECORD),  # inf
        ({"clicks": [], "note": "a\x00b"}, Code.INVALID_RECORD),
        ({"clicks": [], "\x00": 1}, Code.INVALID_RECORD),
        ({"clicks": [], "t": 1e16}, Code.INVALID_RECORD),
        ({"clicks": [], "engine": "e" * 33}, Code.FIELD_TOO_LONG),
        ({"clicks": [], "engine": 5}, Code.INVALID_RECORD),
    ],
    ids=["huge click", "infinite", "NUL value", "NUL key", "huge number", "long engine", "engine"],
)
def test_a_native_interaction_must_be_storable(
    tmp_path: Path, interaction: dict[str, Any], code: Code
) -> None:
    refused(native(tmp_path, {"interaction": interaction}), code)


def test_native_records_are_bounded_like_coco(tmp_path: Path) -> None:
    refused(
        native(tmp_path, {}, {"id": 1, "name": "n" * 101, "color": "#00ff00"}), Code.NAME_TOO_LONG
    )
    refused(native(tmp_path, {"score": 10**400}), Code.INVALID_RECORD)
    refused(native(tmp_path, {"source": "s" * 5000}), Code.FIELD_TOO_LONG)
    wrapping = {"size": [10, 10], "counts": WRAPPING}
    path = tmp_path / "wrap.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("categories.json", json.dumps([{**CATEGORY, "color": "#ff0000"}]))
        zf.writestr("images.jsonl", json.dumps({**IMAGE, "width": 10, "height": 10}))
        line = {"id": 1, "image_id": 1, "category_id": 1, "rle": wrapping}
        zf.writestr("annotations.jsonl", json.dumps(line))
    refused(path, Code.INVALID_RLE)
    with validate_and_load(
        native(tmp_path, {"review_status": "accepted"}), require_images=False
    ) as b:
        assert b.annotations[0].review_status == "accepted"


def test_json_members_and_lines_are_bounded(tmp_path: Path) -> None:
    path = native(tmp_path, {"interaction": {"clicks": [], "note": "n" * 500}})
    refused(path, Code.TOO_LARGE, ArchiveLimits(max_json_bytes=400))  # the long line
    refused(path, Code.TOO_LARGE, ArchiveLimits(max_json_bytes=40))  # categories.json


def test_an_image_over_the_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "with-image.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("annotations.json", coco(tmp_path).read_bytes())
        zf.writestr("a.png", b"\0" * 5000)
    with validate_and_load(path, limits=ArchiveLimits(max_image_bytes=4000)) as bundle:
        image = bundle.images[0]
        assert image.open_image is not None
        with pytest.raises(ArchiveError) as info:
            image.open_image()
        assert info.value.code == Code.TOO_LARGE
    with validate_and_load(path) as bundle:
        assert bundle.images[0].open_image is not None
        assert len(bundle.images[0].open_image()) == 5000
