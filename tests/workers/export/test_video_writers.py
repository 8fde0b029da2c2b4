"""Every writer on the frames of a video (3 frames, 2 tracks) plus a still image: frame
and track fields, per-frame file names, DAVIS PNGs, and the native / COCO round trip."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from formats.rle import encode_mask
from tests.workers.export.helpers import CATEGORIES, ellipse
from tests.workers.export.video_helpers import (
    MASKS,
    STILL_MASK,
    VIDEO,
    H,
    W,
    export_video,
    video_project,
)
from workers.export import (
    ArchiveError,
    ExportAnnotation,
    ExportError,
    ExportImage,
    ExportVideo,
    build_writer,
    validate_and_load,
)
from workers.export.davis import PALETTE

FOLDER = VIDEO.folder  # "50_clip_one"


def mask_of(ann_id: int) -> np.ndarray:
    return next(m[4] for m in MASKS if m[0] == ann_id)


# -- COCO -------------------------------------------------------------------------------


def test_coco_has_one_image_per_annotated_frame_with_frame_and_track(tmp_path: Path) -> None:
    zf = export_video("coco", video_project(every_frame=False), tmp_path / "c.zip", True)
    (tmp_path / "annotations.json").write_bytes(zf.read("annotations.json"))
    coco = COCO(str(tmp_path / "annotations.json"))

    frames = [img for img in coco.dataset["images"] if img.get("video_id") == VIDEO.id]
    assert [(f["frame_index"], f["file_name"]) for f in frames] == [
        (0, f"images/{FOLDER}/00000.jpg"),
        (1, f"images/{FOLDER}/00001.jpg"),
    ]  # frame 2 has no annotation: not listed
    for image in frames:
        assert image["video_name"] == "clip one.mp4" and image["asset_id"] == VIDEO.id
        assert (image["width"], image["height"]) == (W, H)
        assert zf.read(image["file_name"])  # the frame's own image
    assert coco.dataset["videos"] == [
        {
            "id": 50,
            "name": "clip one.mp4",
            "folder": FOLDER,
            "width": W,
            "height": H,
            "num_frames": 3,
            "fps": 25.0,
        }
    ]
    by_frame = {img["frame_index"]: img["id"] for img in frames}
    for ann_id, frame, track, category, mask in MASKS:
        ann = coco.anns[ann_id]
        assert ann["image_id"] == by_frame[frame]
        assert (ann["track_id"], ann["category_id"], ann["video_id"]) == (track, category, 50)
        np.testing.assert_array_equal(coco.annToMask(ann), mask.astype(np.uint8))
    assert (coco.anns[2]["source"], coco.anns[2]["review_status"]) == ("propagated", "needs_review")
    assert coco.anns[2]["score"] == 0.75
    # The still image keeps the image-only layout; its annotation gains track_id only.
    still = coco.imgs[3]
    assert set(still) == {"id", "file_name", "width", "height", "asset_id", "frame_index"}
    assert still["frame_index"] is None
    assert coco.anns[9]["track_id"] == 1 and "video_id" not in coco.anns[9]


def test_coco_import_reads_track_id_and_frame_index_back(tmp_path: Path) -> None:
    export_video("coco", video_project(every_frame=False), tmp_path / "c.zip")
    bundle = validate_and_load(tmp_path / "c.zip", require_images=False)
    with bundle:
        frames = {i.id: i for i in bundle.images}
        got = {
            a.id: (frames[a.image_id].frame_index, frames[a.image_id].video_name, a.track)
            for a in bundle.annotations
        }
    assert got == {
        1: (0, "clip one.mp4", 5),
        2: (1, "clip one.mp4", 5),
        3: (1, "clip one.mp4", 2),
        9: (None, None, 1),
    }


# -- native -----------------------------------------------------------------------------


def test_native_round_trip_keeps_tracks_and_frames(tmp_path: Path) -> None:
    project = video_project(every_frame=False)
    zf = export_video("native", project, tmp_path / "n.zip", include_images=True)
    lines = [json.loads(line) for line in zf.read("annotations.jsonl").splitlines()]
    assert [(r["id"], r["frame_index"], r["track"]) for r in lines] == [
        (1, 0, 5),
        (2, 1, 5),
        (3, 1, 2),
        (9, None, 1),
    ]
    bundle = validate_and_load(tmp_path / "n.zip")
    with bundle:
        images = {i.id: i for i in bundle.images}
        assert [images[i].file_name for i in sorted(images)] == [
            f"images/{FOLDER}/00000.jpg",
            f"images/{FOLDER}/00001.jpg",
            "images/60_cat.jpg",
        ]
        assert images[1].open_image is not None
        assert images[1].open_image() == project.image_bytes[1]
        for ann in bundle.annotations:
            image = images[ann.image_id]
            if ann.id == 9:
                assert (image.frame_index, image.video_name, ann.track) == (None, None, 1)
                continue
            _id, frame, track, category, mask = next(m for m in MASKS if m[0] == ann.id)
            assert (image.frame_index, image.asset_id, image.video_name) == (
                frame,
                VIDEO.id,
                "clip one.mp4",
            )
            assert (ann.track, ann.category_id) == (track, category)
            assert ann.rle == encode_mask(mask)
        assert next(a for a in bundle.annotations if a.id == 2).review_status == "needs_review"


@pytest.mark.parametrize("track", [0, -3, 2**31, "5", 1.5, True])
def test_native_import_refuses_a_bad_track(tmp_path: Path, track: object) -> None:
    export_video("native", video_project(every_frame=False), tmp_path / "n.zip")
    source = zipfile.ZipFile(tmp_path / "n.zip")
    lines = [json.loads(line) for line in source.read("annotations.jsonl").splitlines()]
    lines[0]["track"] = track
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as out:
        for name in source.namelist():
            data = source.read(name)
            if name == "annotations.jsonl":
                data = "\n".join(json.dumps(line) for line in lines).encode()
            out.writestr(name, data)
    with pytest.raises(ArchiveError) as caught:
        validate_and_load(tmp_path / "bad.zip", require_images=False)
    assert caught.value.code == "invalid_record" and "track" in caught.value.message


# -- PNG masks and YOLO -----------------------------------------------------------------


def test_masks_are_per_frame_and_name_the_track(tmp_path: Path) -> None:
    zf = export_video("masks", video_project(every_frame=False), tmp_path / "m.zip")
    names = set(zf.namelist())
    for frame in (0, 1):
        assert f"masks/semantic/{FOLDER}/{frame:05d}.png" in names
        assert f"masks/instances/{FOLDER}/{frame:05d}.png" in names
    assert not any("00002" in name for name in names)
    mapping = json.loads(zf.read(f"masks/instances/{FOLDER}/00001.json"))
    assert mapping["frame_index"] == 1 and mapping["asset_id"] == VIDEO.id
    assert [(i["annotation_id"], i["track"]) for i in mapping["instances"].values()] == [
        (2, 5),
        (3, 2),
    ]
    instances = np.array(Image.open(io.BytesIO(zf.read(f"masks/instances/{FOLDER}/00001.png"))))
    assert (instances[mask_of(3)] == 2).all()  # the higher annotation id on top


def test_yolo_labels_are_per_frame(tmp_path: Path) -> None:
    zf = export_video("yolo-seg", video_project(every_frame=False), tmp_path / "y.zip", True)
    labels = {n for n in zf.namelist() if n.startswith("labels/")}
    assert labels == {
        f"labels/{FOLDER}/00000.txt",
        f"labels/{FOLDER}/00001.txt",
        "labels/60_cat.txt",
    }
    frame1 = zf.read(f"labels/{FOLDER}/00001.txt").decode().splitlines()
    assert sorted(line.split()[0] for line in frame1) == ["0", "1"]  # cell (7), nucleus (3)
    assert f"images/{FOLDER}/00001.jpg" in zf.namelist()


# -- DAVIS ------------------------------------------------------------------------------


def read_png(zf: zipfile.ZipFile, name: str) -> tuple[Image.Image, np.ndarray]:
    image = Image.open(io.BytesIO(zf.read(name)))
    return image, np.array(image)


def test_davis_palette_is_the_davis_one() -> None:
    assert PALETTE[:15] == [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128]
    assert PALETTE[15:27] == [128, 0, 128, 0, 128, 128, 128, 128, 128, 64, 0, 0]
    assert len(PALETTE) == 768 and PALETTE[-3:] == [224, 224, 192]


@pytest.mark.parametrize("every_frame", [True, False])
def test_davis_one_indexed_png_per_frame(tmp_path: Path, every_frame: bool) -> None:
    # The writer itself fills frames it was not given (every_frame=False) with zeros.
    zf = export_video("davis", video_project(every_frame), tmp_path / "d.zip")
    pngs = sorted(n for n in zf.namelist() if n.startswith("Annotations/"))
    assert pngs == [
        f"Annotations/{FOLDER}/00000.png",
        f"Annotations/{FOLDER}/00001.png",
        f"Annotations/{FOLDER}/00002.png",
        "Annotations/60_cat/00000.png",
    ]
    # Track 5 appears first (frame 0): object 1; track 2 (frame 1): object 2.
    first, pixels = read_png(zf, f"Annotations/{FOLDER}/00000.png")
    assert first.mode == "P" and first.size == (W, H)
    assert first.getpalette() == PALETTE
    expected = np.zeros((H, W), np.uint8)
    expected[mask_of(1)] = 1
    np.testing.assert_array_equal(pixels, expected)

    _image, pixels = read_png(zf, f"Annotations/{FOLDER}/00001.png")
    expected = np.zeros((H, W), np.uint8)
    expected[mask_of(2)] = 1
    expected[mask_of(3)] = 2  # the higher object index wins the overlap
    assert (mask_of(2) & mask_of(3)).any()
    np.testing.assert_array_equal(pixels, expected)

    empty, pixels = read_png(zf, f"Annotations/{FOLDER}/00002.png")
    assert empty.mode == "P" and not pixels.any() and pixels.shape == (H, W)

    objects = json.loads(zf.read(f"objects/{FOLDER}.json"))
    assert objects["objects"] == {
        "1": {"track": 5, "label_id": 7, "label": "cell", "first_frame": 0, "frames": 2},
        "2": {"track": 2, "label_id": 3, "label": "nucleus", "first_frame": 1, "frames": 1},
    }
    assert (objects["asset_id"], objects["name"], objects["num_frames"]) == (
        50,
        "clip one.mp4",
        3,
    )
    # The still image is a one-frame sequence.
    _image, still = read_png(zf, "Annotations/60_cat/00000.png")
    np.testing.assert_array_equal(still, STILL_MASK.astype(np.uint8))
    assert json.loads(zf.read("objects/60_cat.json"))["objects"]["1"]["label"] == "débris"
    assert zf.read("ImageSets/all.txt").decode().split() == [FOLDER, "60_cat"]
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["format"] == "davis" and manifest["sequences"] == 2
    assert "higher index" in zf.read("README.txt").decode()
    assert not any(n.startswith(("JPEGImages/", "images/")) for n in zf.namelist())


def test_davis_with_images_writes_jpegimages_per_frame(tmp_path: Path) -> None:
    project = video_project(every_frame=True)
    zf = export_video("davis", project, tmp_path / "d.zip", include_images=True)
    frames = sorted(n for n in zf.namelist() if n.startswith("JPEGImages/"))
    assert frames == [
        f"JPEGImages/{FOLDER}/00000.jpg",
        f"JPEGImages/{FOLDER}/00001.jpg",
        f"JPEGImages/{FOLDER}/00002.jpg",
        "JPEGImages/60_cat/00000.jpg",
    ]
    assert zf.read(f"JPEGImages/{FOLDER}/00002.jpg") == project.image_bytes[3]
    assert not any(n.startswith("images/") for n in zf.namelist())


def _frame(index: int, video: ExportVideo, image_id: int | None = None) -> ExportImage:
    return ExportImage(
        id=image_id if image_id is not None else index + 1,
        asset_id=video.id,
        file_name=f"images/{video.folder}/{index:05d}.png",
        width=video.width,
        height=video.height,
        frame_index=index,
        video=video,
    )


def _blob(ann_id: int, image_id: int, track: int, h: int, w: int) -> ExportAnnotation:
    mask = np.zeros((h, w), bool)
    mask.flat[ann_id % (h * w)] = True
    return ExportAnnotation(
        ann_id, image_id, 7, encode_mask(mask), "manual", None, "pending", None, 1, "t", None, track
    )


def test_davis_refuses_more_than_255_objects(tmp_path: Path) -> None:
    video = ExportVideo(1, "crowd.mp4", "1_crowd", 2, 20, 20)
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf:
        writer = build_writer("davis", zf, CATEGORIES, False)
        writer.add_image(_frame(0, video))
        for track in range(1, 201):
            writer.add_annotation(_blob(track, 1, track, 20, 20))
        writer.add_image(_frame(1, video))
        for track in range(150, 257):  # 56 new tracks: 256 objects in all
            writer.add_annotation(_blob(1000 + track, 2, track, 20, 20))
        with pytest.raises(ExportError) as caught:
            writer.close()
    assert caught.value.code == "too_many_objects"
    assert "crowd.mp4" in caught.value.message and "255" in caught.value.message


def test_davis_frames_must_come_in_order(tmp_path: Path) -> None:
    video = ExportVideo(1, "v.mp4", "1_v", 3, 8, 8)
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf:
        writer = build_writer("davis", zf, CATEGORIES, False)
        writer.add_image(_frame(1, video))
        with pytest.raises(ValueError, match="ascending order"):
            writer.add_image(_frame(0, video, image_id=9))


def davis_peak(tmp_path: Path, frames: int) -> int:
    video = ExportVideo(1, "long.mp4", "1_long", frames, 160, 120)
    mask = ellipse(120, 160, 60, 50, 30, 20)
    rle = encode_mask(mask)
    tracemalloc.start()
    try:
        with zipfile.ZipFile(tmp_path / f"{frames}.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            writer = build_writer("davis", zf, CATEGORIES, False)
            for index in range(0, frames, 2):  # every other frame annotated: the rest zero
                writer.add_image(_frame(index, video, image_id=index + 1))
                for track in (1, 2):
                    writer.add_annotation(
                        ExportAnnotation(
                            index * 2 + track,
                            index + 1,
                            3,
                            rle,
                            "propagated",
                            0.5,
                            "pending",
                            None,
                            1,
                            "t",
                            None,
                            track,
                        )
                    )
            writer.close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_davis_memory_is_flat_in_the_video_length(tmp_path: Path) -> None:
    davis_peak(tmp_path, 10)  # warm-up
    short = davis_peak(tmp_path, 40)
    long = davis_peak(tmp_path, 400)
    # What a frame leaves behind: its file-name stem (~100 B) and zipfile's entry of the
    # central directory for its PNG (~500 B). One frame's canvas is 19 KB: keeping
    # canvases (or any per-pixel state) would cost 360 times that.
    per_frame = (long - short) / 360
    assert per_frame < 1024, (short, long)


def test_coco_video_names_come_from_the_videos_list(tmp_path: Path) -> None:
    """A TAO / COCO-VID style file: frames name their video by ``video_id`` only."""
    rle = encode_mask(ellipse(H, W, 12, 14, 8, 6))
    document = {
        "videos": [{"id": 3, "name": "street.mp4"}],
        "images": [
            {"id": 1, "file_name": "a/0.jpg", "width": W, "height": H, "video_id": 3},
            {"id": 2, "file_name": "b.jpg", "width": W, "height": H, "video_id": 99},
        ],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 5, "image_id": 1, "category_id": 1, "segmentation": rle, "track_id": 8}
        ],
    }
    (tmp_path / "tao.json").write_text(json.dumps(document))
    with validate_and_load(tmp_path / "tao.json", require_images=False) as bundle:
        assert [i.video_name for i in bundle.images] == ["street.mp4", None]
        assert [a.track for a in bundle.annotations] == [8]
    document["videos"] = [{"id": 3}]
    (tmp_path / "bad.json").write_text(json.dumps(document))
    with pytest.raises(ArchiveError) as caught:
        validate_and_load(tmp_path / "bad.json", require_images=False)
    assert caught.value.code == "invalid_record" and "video #0" in caught.value.message
