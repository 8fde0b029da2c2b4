"""COCO and native readers: round trips and every rejected-archive case."""

from __future__ import annotations

import json
import stat
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from formats.rle import decode_rle, encode_mask
from tests.workers.export.helpers import Project, feed, small_project
from workers.export import (
    ArchiveError,
    ArchiveErrorCode,
    ArchiveLimits,
    ExportAnnotation,
    ExportImage,
    ImportBundle,
    build_writer,
    validate_and_load,
)

Code = ArchiveErrorCode


@pytest.fixture(scope="module")
def project() -> Project:
    return small_project()


def test_coco_export_import_round_trip(tmp_path: Path, project: Project) -> None:
    path = tmp_path / "coco.zip"
    feed("coco", project, path)
    with validate_and_load(path) as bundle:
        assert bundle.format == "coco"
        assert bundle.categories == project.categories
        assert [i.id for i in bundle.images] == [101, 102, 103, 104]
        frame = bundle.images[2]
        assert (frame.frame_index, frame.asset_id, frame.file_name) == (
            5,
            34,
            "images/34_f0005.jpg",
        )
        for image in bundle.images:
            assert image.open_image is not None
            assert image.open_image() == project.image_bytes[image.id]
        assert {a.id for a in bundle.annotations} == set(project.masks)
        for ann in bundle.annotations:
            np.testing.assert_array_equal(decode_rle(ann.rle), project.masks[ann.id])
        # Sorted by image, then id.
        assert [a.id for a in bundle.annotations][:3] == [2, 5, 9]


def test_bare_coco_json_with_separate_images_zip(tmp_path: Path, project: Project) -> None:
    path = tmp_path / "coco.zip"
    feed("coco", project, path)
    json_path = tmp_path / "instances.json"
    with zipfile.ZipFile(path) as zf:
        json_path.write_bytes(zf.read("annotations.json"))
    with validate_and_load(json_path, require_images=False) as bundle:
        assert all(i.open_image is None for i in bundle.images)
        assert len(bundle.annotations) == len(project.masks)
    with pytest.raises(ArchiveError) as info:
        validate_and_load(json_path)
    assert info.value.code == Code.MISSING_IMAGE
    with validate_and_load(json_path, images_zip=path) as bundle:
        image = bundle.images[0]
        assert image.open_image is not None and image.open_image() == project.image_bytes[101]


def test_coco_polygons_and_uncompressed_rle_become_compressed_rle(tmp_path: Path) -> None:
    h, w = 10, 12
    square = np.zeros((h, w), np.uint8)
    square[2:6, 3:8] = 1
    flat = square.T.ravel()
    change = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate(([0], change, [flat.size]))).tolist()
    polygons = [[1, 1, 5, 1, 5, 4, 1, 4], [8, 6, 11, 6, 11, 9]]
    document = {
        "images": [{"id": 1, "file_name": "a.png", "width": w, "height": h}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": polygons, "iscrowd": 0},
            {
                "id": 2,
                "image_id": 1,
                "category_id": 1,
                "iscrowd": 1,
                "segmentation": {"size": [h, w], "counts": runs},
            },
        ],
    }
    path = tmp_path / "in.json"
    path.write_text(json.dumps(document))
    with validate_and_load(path, require_images=False) as bundle:
        poly, rle = bundle.annotations
        assert isinstance(poly.rle["counts"], str) and poly.rle["size"] == [h, w]
        expected = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygons, h, w)))
        np.testing.assert_array_equal(decode_rle(poly.rle), expected)
        np.testing.assert_array_equal(decode_rle(rle.rle), square)
        assert bundle.categories[0].color.startswith("#")


def to_export(
    bundle: ImportBundle, id_offset: int
) -> tuple[list[ExportImage], list[ExportAnnotation]]:
    """What the import task + the next export do: store under new ids, read back."""
    images = [
        ExportImage(
            i.id + id_offset,
            i.asset_id or 0,
            i.file_name,
            i.width,
            i.height,
            i.frame_index,
            i.open_image,
        )
        for i in bundle.images
    ]
    annotations = [
        ExportAnnotation(
            id=a.id + id_offset,
            image_id=a.image_id + id_offset,
            category_id=a.category_id,
            rle=a.rle,
            source=a.source or "import",
            score=a.score,
            review_status=a.review_status or "pending",
            author=a.author,
            version=a.version or 1,
            created="2030-01-01T00:00:00+00:00",
            interaction=a.interaction,
        )
        for a in bundle.annotations
    ]
    return images, annotations


def test_native_round_trip(tmp_path: Path, project: Project) -> None:
    first = tmp_path / "first.zip"
    feed("native", project, first)
    with validate_and_load(first) as bundle:
        assert bundle.format == "native"
        images, annotations = to_export(bundle, 1000)
        second = tmp_path / "second.zip"
        with zipfile.ZipFile(second, "w", zipfile.ZIP_DEFLATED) as zf:
            writer = build_writer("native", zf, bundle.categories, include_images=True)
            for image in images:
                writer.add_image(image)
                for ann in annotations:
                    if ann.image_id == image.id:
                        writer.add_annotation(ann)
            writer.close()

    def records(path: Path, member: str) -> list[dict[str, Any]]:
        with zipfile.ZipFile(path) as zf:
            return [json.loads(line) for line in zf.read(member).splitlines()]

    before = sorted(records(first, "annotations.jsonl"), key=lambda r: r["id"])
    after = sorted(records(second, "annotations.jsonl"), key=lambda r: r["id"])
    assert len(before) == len(after) == len(project.masks)
    for old, new in zip(before, after, strict=True):
        assert new["id"] == old["id"] + 1000 and new["image_id"] == old["image_id"] + 1000
        unchanged = {k for k in old if k not in ("id", "image_id", "created")}
        assert {k: new[k] for k in unchanged} == {k: old[k] for k in unchanged}
    with zipfile.ZipFile(first) as a, zipfile.ZipFile(second) as b:
        assert a.read("categories.json") == b.read("categories.json")
        for image in project.images:
            assert a.read(image.file_name) == b.read(image.file_name)


# -- rejected archives ------------------------------------------------------------------

IMAGE = {"id": 1, "file_name": "images/1.png", "width": 4, "height": 3}
CATEGORY = {"id": 1, "name": "thing"}
RLE = encode_mask(np.eye(3, 4, dtype=bool))


def coco_zip(path: Path, document: Any, members: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(
            "annotations.json", document if isinstance(document, bytes) else json.dumps(document)
        )
        for name, data in (members if members is not None else {"images/1.png": b"png"}).items():
            zf.writestr(name, data)
    return path


def ann(**overrides: Any) -> dict[str, Any]:
    return {"id": 1, "image_id": 1, "category_id": 1, "segmentation": RLE, **overrides}


def doc(*annotations: dict[str, Any], images: list[Any] | None = None) -> dict[str, Any]:
    return {"images": images or [IMAGE], "categories": [CATEGORY], "annotations": list(annotations)}


def slip_zip(path: Path, name: str) -> Path:
    return coco_zip(path, doc(ann()), {"images/1.png": b"png", name: b"x"})


def symlink_zip(path: Path) -> Path:
    coco_zip(path, doc(ann()))
    with zipfile.ZipFile(path, "a") as zf:
        info = zipfile.ZipInfo("images/link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    return path


def empty_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("images/1.png", b"png")
    return path


def not_a_zip(path: Path) -> Path:
    path.write_bytes(b"PK\x03\x04 nope")
    return path


CASES: dict[str, tuple[Code, Any]] = {
    "dotdot": (Code.ZIP_SLIP, lambda p: slip_zip(p, "../evil.txt")),
    "nested dotdot": (Code.ZIP_SLIP, lambda p: slip_zip(p, "images/../../evil.txt")),
    "absolute": (Code.ZIP_SLIP, lambda p: slip_zip(p, "/etc/cron.d/evil")),
    "windows": (Code.ZIP_SLIP, lambda p: slip_zip(p, "..\\evil.txt")),
    "drive": (Code.ZIP_SLIP, lambda p: slip_zip(p, "C:/evil.txt")),
    "symlink": (Code.ZIP_SLIP, symlink_zip),
    "image file_name": (
        Code.ZIP_SLIP,
        lambda p: coco_zip(p, doc(images=[{**IMAGE, "file_name": "../1.png"}])),
    ),
    "missing image": (Code.MISSING_IMAGE, lambda p: coco_zip(p, doc(ann()), {})),
    "invalid json": (Code.INVALID_JSON, lambda p: coco_zip(p, b'{"images": [')),
    "not utf8": (Code.INVALID_JSON, lambda p: coco_zip(p, b"\xff\xfe{}")),
    "rle size": (
        Code.RLE_SIZE_MISMATCH,
        lambda p: coco_zip(p, doc(ann(segmentation=encode_mask(np.ones((4, 3), bool))))),
    ),
    "truncated rle": (
        Code.INVALID_RLE,
        lambda p: coco_zip(p, doc(ann(segmentation={"size": [3, 4], "counts": "0"}))),
    ),
    "garbage rle": (
        Code.INVALID_RLE,
        lambda p: coco_zip(p, doc(ann(segmentation={"size": [3, 4], "counts": "zz~~"}))),
    ),
    "short uncompressed rle": (
        Code.INVALID_RLE,
        lambda p: coco_zip(p, doc(ann(segmentation={"size": [3, 4], "counts": [3, 2]}))),
    ),
    "bad polygon": (
        Code.INVALID_POLYGON,
        lambda p: coco_zip(p, doc(ann(segmentation=[[1, 2, 3, 4]]))),
    ),
    "unknown category": (Code.UNKNOWN_CATEGORY, lambda p: coco_zip(p, doc(ann(category_id=9)))),
    "unknown image": (Code.UNKNOWN_IMAGE, lambda p: coco_zip(p, doc(ann(image_id=9)))),
    "duplicate annotation": (Code.DUPLICATE_ID, lambda p: coco_zip(p, doc(ann(), ann()))),
    "bad record": (Code.INVALID_RECORD, lambda p: coco_zip(p, doc(ann(id="1")))),
    "no json": (Code.MISSING_ANNOTATIONS, lambda p: empty_zip(p)),
    "not a zip": (Code.NOT_A_ZIP, lambda p: not_a_zip(p)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_archives_raise_archive_error(tmp_path: Path, case: str) -> None:
    code, build = CASES[case]
    path = build(tmp_path / "upload.zip")
    with pytest.raises(ArchiveError) as info:
        validate_and_load(path)
    assert info.value.code == code, info.value.message
    assert info.value.message


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        (ArchiveLimits(max_uncompressed_bytes=200), Code.TOO_LARGE),
        (ArchiveLimits(max_compressed_bytes=100), Code.TOO_LARGE),
        (ArchiveLimits(max_json_bytes=50), Code.TOO_LARGE),
        (ArchiveLimits(max_members=1), Code.TOO_MANY_MEMBERS),
    ],
)
def test_archive_limits(tmp_path: Path, limits: ArchiveLimits, code: Code) -> None:
    path = coco_zip(tmp_path / "upload.zip", doc(ann()), {"images/1.png": b"\0" * 1000})
    with pytest.raises(ArchiveError) as info:
        validate_and_load(path, limits=limits)
    assert info.value.code == code
    with validate_and_load(path) as bundle:  # the same archive passes default limits
        assert len(bundle.annotations) == 1


def native_zip(tmp_path: Path, edit: Any) -> Path:
    """A small native export with one member rewritten by ``edit(name, data) -> data``."""
    project = small_project()
    source = tmp_path / "native.zip"
    feed("native", project, source, include_images=False)
    target = tmp_path / "edited.zip"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, edit(info.filename, zin.read(info.filename)))
    return target


def _edit_first_annotation(change: dict[str, Any]) -> Any:
    def edit(name: str, data: bytes) -> bytes:
        if name != "annotations.jsonl":
            return data
        lines = data.splitlines()
        lines[0] = json.dumps({**json.loads(lines[0]), **change}).encode()
        return b"\n".join(lines)

    return edit


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        (_edit_first_annotation({"rle": {"size": [1, 1], "counts": "01"}}), Code.RLE_SIZE_MISMATCH),
        (_edit_first_annotation({"category_id": 999}), Code.UNKNOWN_CATEGORY),
        (_edit_first_annotation({"interaction": {"clicks": [{"x": "a"}]}}), Code.INVALID_RECORD),
        (
            lambda n, d: d.replace(b'"format_version": 1', b'"format_version": 9'),
            Code.UNSUPPORTED_FORMAT,
        ),
        (lambda n, d: d + b"\n{oops" if n == "images.jsonl" else d, Code.INVALID_JSON),
    ],
)
def test_bad_native_archives(tmp_path: Path, edit: Any, code: Code) -> None:
    path = native_zip(tmp_path, edit)
    with pytest.raises(ArchiveError) as info:
        validate_and_load(path, require_images=False)
    assert info.value.code == code, info.value.message


def test_native_without_images_needs_require_images_false(tmp_path: Path) -> None:
    path = native_zip(tmp_path, lambda n, d: d)
    with pytest.raises(ArchiveError) as info:
        validate_and_load(path)
    assert info.value.code == Code.MISSING_IMAGE
    with validate_and_load(path, require_images=False) as bundle:
        assert len(bundle.images) == 4
        assert replace(bundle.annotations[0], id=0).id == 0
