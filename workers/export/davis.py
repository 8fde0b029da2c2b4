"""DAVIS-style video object segmentation export: one indexed PNG per frame, index = object.

Members (``<seq>`` is a video's folder, ``<asset id>_<name stem>``; a still image is a
one-frame sequence named after its image, ``<asset id>_<name stem>`` too)::

    Annotations/<seq>/<frame:05d>.png  (H, W) mode "P" with the DAVIS palette; pixel =
                                       object index 1..K, 0 = background. Every frame
                                       of the video has one: frames without annotations
                                       are all zero.
    JPEGImages/<seq>/<frame:05d>.<ext> the frames, when the export includes images (as
                                       stored: JPEG for decoded videos).
    objects/<seq>.json                 the sequence and its objects: {"sequence",
                                       "asset_id", "name", "num_frames", "width",
                                       "height", "fps", "objects": {"<index>": {"track",
                                       "label_id", "label", "first_frame", "frames"}}}
    ImageSets/all.txt                  the sequence names, one a line.
    README.txt                         this layout and the overlap rule.

Object indices: the tracks of a sequence are numbered 1..K in order of first appearance
(earliest frame first; tracks that first appear on the same frame by ascending track
number). A palette PNG holds 255 objects: a sequence with more fails the export with
:class:`~workers.export.base.ExportError` ``too_many_objects``. An object's ``label`` is
the label of its first annotation (``label_ids`` lists all when the track changed label).

Overlaps: masks are painted in ascending object index, so where two objects overlap the
one with the higher index (the one that appeared later) wins. Two annotations of the
same track on one frame are merged.

Memory: one frame's RLEs and one ``(H, W)`` canvas at a time; the all-zero PNG of a
sequence is encoded once and reused.
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from formats.rle import decode_rle
from workers.export.base import ExportError, Writer, image_stem, json_bytes, write_member
from workers.export.mask_pngs import png_bytes
from workers.export.records import ExportAnnotation, ExportCategory, ExportImage, ExportVideo

ANNOTATIONS_DIR = "Annotations/"
IMAGES_DIR = "JPEGImages/"
OBJECTS_DIR = "objects/"
SEQUENCES_NAME = "ImageSets/all.txt"
README_NAME = "README.txt"
MAX_OBJECTS = 255  # a palette PNG's indices, 0 being background

README = """\
DAVIS-style export
==================

Annotations/<seq>/<frame>.png  8-bit palette PNG (the DAVIS palette), one per frame of
                               every video; pixel = object index 1..K, 0 = background.
                               Frames without annotations are all zero.
JPEGImages/<seq>/<frame>.<ext> The frames (only when the export includes images).
objects/<seq>.json             Object index -> track (object identity in this server),
                               label id and name, first frame, number of frames.
ImageSets/all.txt              The sequence names.

<seq> is <asset id>_<asset name without extension>; <frame> is the 0-based frame number
with 5 digits. A still image is a sequence of one frame.

Object indices follow the order in which the tracks first appear (earliest frame first;
on the same frame, ascending track number). At most 255 objects per sequence.

Overlapping masks: objects are painted in ascending object index, so where masks
overlap the object with the higher index (the one that appeared later) wins.
"""


def davis_palette() -> list[int]:
    """The 256-colour palette of the DAVIS (and PASCAL VOC) annotations, flat
    ``[r0, g0, b0, r1, ...]``: index 1 is (128, 0, 0), 2 (0, 128, 0), 3 (128, 128, 0)..."""
    palette: list[int] = []
    for index in range(256):
        red = green = blue = 0
        bits = index
        for shift in range(7, -1, -1):  # the index's bits, spread over the channels' high bits
            red |= (bits & 1) << shift
            green |= ((bits >> 1) & 1) << shift
            blue |= ((bits >> 2) & 1) << shift
            bits >>= 3
        palette.extend((red, green, blue))
    return palette


PALETTE = davis_palette()


@dataclass
class _Object:
    index: int
    track: int | None
    label_id: int
    first_frame: int
    label_ids: list[int] = field(default_factory=list)
    frames: int = 0


@dataclass
class _Sequence:
    """The video being written: its objects so far and the next frame it expects."""

    name: str
    asset_id: int
    title: str
    num_frames: int
    width: int
    height: int
    fps: float | None
    objects: dict[Any, _Object] = field(default_factory=dict)
    next_frame: int = 0
    zero_png: bytes | None = None


class DavisWriter(Writer):
    """Writes ``Annotations/``, ``objects/``, ``ImageSets/`` (and ``JPEGImages/``)."""

    format_name = "davis"
    every_frame = True

    def __init__(
        self,
        zip_file: zipfile.ZipFile,
        categories: Sequence[ExportCategory],
        include_images: bool,
    ) -> None:
        super().__init__(zip_file, categories, include_images)
        self._names = {c.id: c.name for c in self.categories}
        self._sequence: _Sequence | None = None
        self._done: list[str] = []  # finished sequence names, in export order
        self._seen: set[str] = set()
        # (object key, annotation id, label id, rle) of the current frame.
        self._pending: list[tuple[Any, int, int, dict[str, Any]]] = []

    # -- naming -------------------------------------------------------------------------

    @staticmethod
    def _place(image: ExportImage) -> tuple[str, int]:
        """``(sequence name, frame number)`` of ``image``."""
        if image.video is not None and image.frame_index is not None:
            return image.video.folder, image.frame_index
        return image_stem(image.file_name), 0

    def _image_member(self, image: ExportImage) -> str:
        sequence, frame = self._place(image)
        ext = posixpath.splitext(image.file_name)[1].lower() or ".jpg"
        return f"{IMAGES_DIR}{sequence}/{frame:05d}{ext}"

    # -- hooks --------------------------------------------------------------------------

    def _on_image(self, image: ExportImage) -> None:
        name, frame = self._place(image)
        current = self._sequence
        if current is None or current.name != name:
            self._end_sequence()
            if name in self._seen:
                raise ValueError(f"the frames of sequence {name!r} must arrive together")
            self._seen.add(name)
            current = self._sequence = self._start_sequence(name, image)
        if frame < current.next_frame:
            raise ValueError(
                f"sequence {name!r}: frame {frame} after frame {current.next_frame - 1}; "
                "frames must arrive once each, in ascending order"
            )
        self._write_empty_frames(current, frame)

    def _on_annotation(self, image: ExportImage, annotation: ExportAnnotation) -> None:
        # No track (a record from elsewhere): the annotation is its own object.
        key: Any = (
            annotation.track if annotation.track is not None else ("annotation", annotation.id)
        )
        self._pending.append((key, annotation.id, annotation.category_id, annotation.rle))

    def _on_image_end(self, image: ExportImage) -> None:
        sequence = self._sequence
        assert sequence is not None
        _name, frame = self._place(image)
        pending, self._pending = self._pending, []
        # New objects of this frame get the next indices, by ascending track number.
        for key, _ann_id, label_id, _rle in sorted(pending, key=lambda p: (_order(p[0]), p[1])):
            obj = sequence.objects.get(key)
            if obj is None:
                if len(sequence.objects) >= MAX_OBJECTS:
                    raise ExportError(
                        f"video {sequence.title!r} has more than {MAX_OBJECTS} objects (tracks); "
                        f"a DAVIS PNG holds at most {MAX_OBJECTS}: export it in another format "
                        "or filter its labels",
                        "too_many_objects",
                    )
                obj = _Object(
                    index=len(sequence.objects) + 1,
                    track=key if isinstance(key, int) else None,
                    label_id=label_id,
                    first_frame=frame,
                )
                sequence.objects[key] = obj
            if label_id not in obj.label_ids:
                obj.label_ids.append(label_id)
        canvas = np.zeros((image.height, image.width), dtype=np.uint8)
        painted = sorted(pending, key=lambda p: sequence.objects[p[0]].index)
        seen_here: set[Any] = set()
        for key, _ann_id, _label_id, rle in painted:
            obj = sequence.objects[key]
            canvas[decode_rle(rle).view(bool)] = obj.index
            if key not in seen_here:
                seen_here.add(key)
                obj.frames += 1
        self._write_png(sequence, frame, canvas)
        sequence.next_frame = frame + 1

    def _finish(self) -> None:
        self._end_sequence()
        listing = "".join(name + "\n" for name in self._done)
        write_member(self.zip_file, SEQUENCES_NAME, listing.encode(), compress=True)
        write_member(self.zip_file, README_NAME, README.encode(), compress=True)

    def _manifest_extra(self) -> dict[str, Any]:
        return {
            "sequences": len(self._done),
            "files": {"sequences": SEQUENCES_NAME, "readme": README_NAME},
        }

    # -- internals ----------------------------------------------------------------------

    @staticmethod
    def _start_sequence(name: str, image: ExportImage) -> _Sequence:
        video: ExportVideo | None = image.video if image.frame_index is not None else None
        if video is None:
            return _Sequence(
                name=name,
                asset_id=image.asset_id,
                title=posixpath.basename(image.file_name),
                num_frames=1,
                width=image.width,
                height=image.height,
                fps=None,
            )
        return _Sequence(
            name=name,
            asset_id=video.id,
            title=video.name,
            num_frames=video.num_frames,
            width=video.width,
            height=video.height,
            fps=video.fps,
        )

    def _write_png(self, sequence: _Sequence, frame: int, canvas: np.ndarray) -> None:
        png = Image.fromarray(canvas)
        png.putpalette(PALETTE)  # "L" -> "P"
        write_member(
            self.zip_file,
            f"{ANNOTATIONS_DIR}{sequence.name}/{frame:05d}.png",
            png_bytes(png),
            compress=False,
        )

    def _write_empty_frames(self, sequence: _Sequence, end: int) -> None:
        """All-zero PNGs for the frames from ``sequence.next_frame`` up to ``end``."""
        for frame in range(sequence.next_frame, end):
            if sequence.zero_png is None:
                png = Image.fromarray(np.zeros((sequence.height, sequence.width), np.uint8))
                png.putpalette(PALETTE)
                sequence.zero_png = png_bytes(png)
            write_member(
                self.zip_file,
                f"{ANNOTATIONS_DIR}{sequence.name}/{frame:05d}.png",
                sequence.zero_png,
                compress=False,
            )
        sequence.next_frame = max(sequence.next_frame, end)

    def _end_sequence(self) -> None:
        """Finish the current sequence: empty PNGs for its remaining frames, its objects."""
        sequence = self._sequence
        if sequence is None:
            return
        self._sequence = None
        self._write_empty_frames(sequence, sequence.num_frames)
        objects = {
            str(obj.index): {
                "track": obj.track,
                "label_id": obj.label_id,
                "label": self._names.get(obj.label_id),
                "first_frame": obj.first_frame,
                "frames": obj.frames,
                **({"label_ids": obj.label_ids} if len(obj.label_ids) > 1 else {}),
            }
            for obj in sequence.objects.values()
        }
        record = {
            "sequence": sequence.name,
            "asset_id": sequence.asset_id,
            "name": sequence.title,
            "num_frames": max(sequence.num_frames, sequence.next_frame),
            "width": sequence.width,
            "height": sequence.height,
            "fps": sequence.fps,
            "objects": objects,
        }
        write_member(
            self.zip_file, f"{OBJECTS_DIR}{sequence.name}.json", json_bytes(record), compress=True
        )
        self._done.append(sequence.name)


def _order(key: Any) -> tuple[int, int]:
    """Sort key of an object key: tracks by number, then track-less annotations by id."""
    if isinstance(key, int):
        return (0, key)
    return (1, int(key[1]))
