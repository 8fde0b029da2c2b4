"""Each writer's output read back with the real readers (pycocotools, Pillow, cv2, yaml)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image
from pycocotools.coco import COCO

from formats.rle import encode_mask
from tests.workers.export.helpers import CATEGORIES, Project, ellipse, feed, small_project
from workers.export import ExportAnnotation, ExportImage, build_writer
from workers.export.yolo import mask_polygons


@pytest.fixture(scope="module")
def project() -> Project:
    return small_project()


def export(
    tmp_path: Path, fmt: str, project: Project, include_images: bool = True
) -> zipfile.ZipFile:
    path = tmp_path / f"{fmt}.zip"
    feed(fmt, project, path, include_images)
    return zipfile.ZipFile(path)


def check_manifest(zf: zipfile.ZipFile, fmt: str, project: Project) -> None:
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["format"] == fmt
    assert manifest["format_version"] == 1
    assert manifest["counts"] == {
        "categories": 3,
        "images": len(project.images),
        "annotations": len(project.masks),
    }
    assert manifest["created"].endswith("+00:00")


def check_images(zf: zipfile.ZipFile, project: Project) -> None:
    for image in project.images:
        assert zf.read(image.file_name) == project.image_bytes[image.id]
        assert zf.getinfo(image.file_name).compress_type == zipfile.ZIP_STORED


# -- COCO -------------------------------------------------------------------------------


def test_coco_loads_with_pycocotools_pixel_exact(tmp_path: Path, project: Project) -> None:
    zf = export(tmp_path, "coco", project)
    check_manifest(zf, "coco", project)
    check_images(zf, project)
    json_path = tmp_path / "annotations.json"
    json_path.write_bytes(zf.read("annotations.json"))
    coco = COCO(str(json_path))

    assert sorted(coco.getAnnIds()) == sorted(project.masks)
    for ann_id, mask in project.masks.items():
        ann = coco.anns[ann_id]
        np.testing.assert_array_equal(coco.annToMask(ann), mask.astype(np.uint8))
        assert ann["area"] == int(mask.sum())
        assert ann["iscrowd"] == 0
        assert isinstance(ann["segmentation"]["counts"], str)
        if mask.any():
            ys, xs = np.nonzero(mask)
            assert ann["bbox"] == [
                xs.min(),
                ys.min(),
                xs.max() - xs.min() + 1,
                ys.max() - ys.min() + 1,
            ]
    assert coco.anns[5]["score"] == pytest.approx(0.505)
    assert coco.anns[2]["score"] is None

    frame = coco.imgs[103]
    assert (frame["frame_index"], frame["asset_id"], frame["file_name"]) == (
        5,
        34,
        "images/34_f0005.jpg",
    )
    assert coco.imgs[101]["frame_index"] is None
    assert (coco.imgs[101]["width"], coco.imgs[101]["height"]) == (40, 30)
    assert coco.getAnnIds(imgIds=[104]) == []
    assert [c["id"] for c in coco.dataset["categories"]] == [7, 3, 11]
    assert coco.cats[11] == {"id": 11, "name": "débris", "supercategory": "", "color": "#2040c0"}


def test_coco_without_images(tmp_path: Path, project: Project) -> None:
    zf = export(tmp_path, "coco", project, include_images=False)
    assert sorted(zf.namelist()) == ["annotations.json", "manifest.json"]


# -- PNG masks --------------------------------------------------------------------------


def expected_canvases(project: Project, image: ExportImage) -> tuple[np.ndarray, np.ndarray]:
    """Paint in ascending annotation id: the higher id wins overlaps."""
    index = {c.id: i + 1 for i, c in enumerate(CATEGORIES)}
    semantic = np.zeros((image.height, image.width), np.uint8)
    instances = np.zeros((image.height, image.width), np.uint16)
    for k, ann in enumerate(sorted(project.annotations[image.id], key=lambda a: a.id), start=1):
        mask = project.masks[ann.id]
        semantic[mask] = index[ann.category_id]
        instances[mask] = k
    return semantic, instances


def test_masks_pngs_decode_to_expected_pixels(tmp_path: Path, project: Project) -> None:
    zf = export(tmp_path, "masks", project)
    check_manifest(zf, "masks", project)
    check_images(zf, project)
    classes = json.loads(zf.read("masks/classes.json"))
    assert classes["0"]["name"] == "background"
    assert [classes[str(i)]["id"] for i in (1, 2, 3)] == [7, 3, 11]
    assert "higher id" in zf.read("README.txt").decode()

    for image in project.images:
        stem = image.file_name.removeprefix("images/").rsplit(".", 1)[0]
        semantic_expected, instances_expected = expected_canvases(project, image)
        semantic = Image.open(io.BytesIO(zf.read(f"masks/semantic/{stem}.png")))
        assert semantic.mode == "P"
        np.testing.assert_array_equal(np.array(semantic), semantic_expected)
        palette = semantic.getpalette()
        assert palette is not None
        assert palette[3:6] == [255, 0, 0] and palette[9:12] == [0x20, 0x40, 0xC0]
        instances = Image.open(io.BytesIO(zf.read(f"masks/instances/{stem}.png")))
        assert instances.mode == "L"
        np.testing.assert_array_equal(np.array(instances), instances_expected)
        mapping = json.loads(zf.read(f"masks/instances/{stem}.json"))
        ids = sorted(a.id for a in project.annotations[image.id])
        assert [
            mapping["instances"][str(k)]["annotation_id"] for k in range(1, len(ids) + 1)
        ] == ids
        for k, entry in mapping["instances"].items():
            assert entry["visible_pixels"] == int((instances_expected == int(k)).sum())

    # Annotation 2 (lower id) lies under 5 where they overlap.
    overlap = project.masks[2] & project.masks[5]
    assert overlap.any()
    stem_png = np.array(Image.open(io.BytesIO(zf.read("masks/semantic/101.png"))))
    assert (stem_png[overlap] == 1).all()  # category 7 -> class index 1


def test_masks_sixteen_bit_instances(tmp_path: Path) -> None:
    project = Project(list(CATEGORIES))
    image = project.add_image(1, 20, 20)
    for k in range(300):  # 300 one-pixel instances
        mask = np.zeros((20, 20), bool)
        mask.flat[k] = True
        project.add_mask(k + 1, image, 3, mask)
    zf = export(tmp_path, "masks", project, include_images=False)
    instances = Image.open(io.BytesIO(zf.read("masks/instances/1.png")))
    assert instances.mode in ("I;16", "I")
    expected = np.zeros(400, np.int64)
    expected[:300] = np.arange(1, 301)
    np.testing.assert_array_equal(np.array(instances).astype(np.int64).ravel(), expected)


# -- YOLO -------------------------------------------------------------------------------


def rasterize(lines: list[str], h: int, w: int) -> dict[int, np.ndarray]:
    """YOLO label lines -> class index -> ``(h, w) bool`` union of its polygons."""
    out: dict[int, np.ndarray] = {}
    for line in lines:
        values = line.split()
        coords = np.array(values[1:], float).reshape(-1, 2)
        assert ((coords >= 0) & (coords <= 1)).all()
        points = np.round(coords * [w, h]).astype(np.int32)
        canvas = out.setdefault(int(values[0]), np.zeros((h, w), bool)).astype(np.uint8)
        cv2.fillPoly(canvas, [points], 1)
        out[int(values[0])] = canvas.astype(bool)
    return out


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


@pytest.mark.parametrize("seed", range(8))
def test_yolo_polygon_of_blob_rasterizes_back(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cx, cy = (int(v) for v in rng.integers(10, 50, 2))
    mask = ellipse(60, 80, cx, cy, 12, 7, float(rng.uniform(0, 180)))
    polygons, dropped = mask_polygons(mask)
    assert dropped == 0 and len(polygons) == 1
    canvas = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(canvas, polygons, 1)
    assert iou(canvas.astype(bool), mask) >= 0.9


def test_yolo_labels_and_data_yaml(tmp_path: Path, project: Project) -> None:
    zf = export(tmp_path, "yolo-seg", project)
    check_images(zf, project)
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["dropped_parts"] == 1  # the one-pixel mask
    data = yaml.safe_load(zf.read("data.yaml"))
    assert data["names"] == {0: "cell", 1: "nucleus", 2: "débris"}
    assert data["nc"] == 3 and data["train"] == data["val"] == "images"
    assert data["path"] == ""

    labels = {
        image.id: zf.read(f"labels/{image.file_name[7:-4]}.txt").decode()
        for image in project.images
    }
    assert labels[104] == ""
    # Blob image: per class, the rasterized polygons match the masks.
    index = {c.id: i for i, c in enumerate(CATEGORIES)}
    for image_id in (101, 103):
        image = next(i for i in project.images if i.id == image_id)
        got = rasterize(labels[image_id].splitlines(), image.height, image.width)
        for ann in project.annotations[image_id]:
            want = project.masks[ann.id]
            if ann.id == 20:  # the holed ring: YOLO polygons fill holes
                want = ellipse(32, 48, 24, 16, 12, 10)
            assert iou(got[index[ann.category_id]], want) >= 0.9, ann.id
    # Two connected components -> two lines; the 2x2 square survives, the pixel does not.
    assert sum(1 for line in labels[103].splitlines() if line.startswith("1 ")) == 2
    assert sum(1 for line in labels[102].splitlines() if line.startswith("2 ")) == 1


# -- native -----------------------------------------------------------------------------


def test_native_is_lossless(tmp_path: Path, project: Project) -> None:
    zf = export(tmp_path, "native", project)
    check_manifest(zf, "native", project)
    check_images(zf, project)
    lines = [json.loads(line) for line in zf.read("annotations.jsonl").splitlines()]
    by_id = {record["id"]: record for record in lines}
    for ann in project.all_annotations():
        record = by_id[ann.id]
        for field in ExportAnnotation.__dataclass_fields__:
            assert record[field] == getattr(ann, field), field
    assert by_id[20]["frame_index"] == 5 and by_id[20]["asset_id"] == 34
    assert by_id[20]["label"] == "cell" and by_id[20]["file_name"] == "images/34_f0005.jpg"
    assert by_id[12]["interaction"]["clicks"][1]["t"] == 0.25
    images = [json.loads(line) for line in zf.read("images.jsonl").splitlines()]
    assert [i["id"] for i in images] == [101, 102, 103, 104]
    assert json.loads(zf.read("categories.json"))[0] == {
        "id": 7,
        "name": "cell",
        "color": "#ff0000",
    }


# -- contract ---------------------------------------------------------------------------


def test_writer_contract_errors(tmp_path: Path) -> None:
    image = ExportImage(1, 1, "images/1.jpg", 4, 3, None, None)
    other = ExportImage(2, 2, "images/1.png", 4, 3, None, None)
    good = ExportAnnotation(
        1, 1, 7, encode_mask(np.ones((3, 4), bool)), "m", None, "p", None, 1, "t"
    )
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as zf:
        with pytest.raises(ValueError, match="unknown export format"):
            build_writer("voc", zf, CATEGORIES, False)
        writer = build_writer("coco", zf, CATEGORIES, False)
        with pytest.raises(ValueError, match="grouped"):
            writer.add_annotation(good)
        writer.add_image(image)
        with pytest.raises(ValueError, match="unknown category"):
            writer.add_annotation(ExportAnnotation(**{**good.__dict__, "category_id": 99}))
        with pytest.raises(ValueError, match="RLE size"):
            writer.add_annotation(
                ExportAnnotation(**{**good.__dict__, "rle": encode_mask(np.ones((4, 4)))})
            )
        with pytest.raises(ValueError, match="same name"):
            writer.add_image(other)
        with pytest.raises(ValueError, match="unsafe"):
            writer.add_image(ExportImage(3, 3, "images/../x.jpg", 4, 3, None, None))
        with pytest.raises(ValueError, match="open_image"):
            build_writer("native", zf, CATEGORIES, True).add_image(image)
        writer.add_annotation(good)
        writer.close()
        with pytest.raises(ValueError, match="closed"):
            writer.add_image(image)
