"""Read a COCO instance segmentation file into a validated :class:`ImportBundle`.

Accepted segmentations: polygons (list of ``[x1, y1, x2, y2, ...]``, merged into one
mask), uncompressed RLE (``counts`` a list of ints) and compressed RLE (``counts`` a
string). All end up as compressed RLE with ``str`` counts; ``iscrowd`` is ignored.
Our own extensions are honoured: category ``color``, image ``asset_id``,
``frame_index`` and ``video_name`` (or ``video_id``, named by a ``videos`` list as in
TAO / COCO-VID files), annotation ``score`` (0 to 1, as the API takes it) and
``track_id`` (the object's identity across the frames of a video).

Polygons are checked before pycocotools sees them (it converts coordinates to C ``int``
after scaling them by 5, and allocates by the length of the outline): every coordinate
a finite number within :data:`POLYGON_TOLERANCE` of the image (a vertex a little
outside is common and harmless: pycocotools cuts the mask at the image's border, the
coordinates are not changed), at most ``max_polygon_points`` vertices a polygon and
``max_annotation_points`` an annotation, and an outline of at most
``max_polygon_boundary`` pixels an annotation (:class:`ArchiveLimits`). Anything else
is ``INVALID_POLYGON``.

The JSON must be parsed whole (the standard library has no streaming parser); raw
entries are dropped as soon as they are converted so the peak stays near one copy of
the parsed file plus the compact records.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from workers.export.archive import (
    ArchiveError,
    ArchiveErrorCode,
    ArchiveLimits,
    CheckedZip,
    ImportBundle,
    parse_json,
)
from workers.export.fields import (
    MAX_FILE_NAME_BYTES,
    ImageResolver,
    check_color,
    check_rle_length,
    default_color,
    finite,
    import_rle,
    invalid,
    label_name,
    opt_float,
    opt_track,
    req_dict,
    req_int,
    req_str,
    sort_annotations,
)
from workers.export.records import ExportCategory, ImportAnnotation, ImportImage

#: How far outside the image a polygon's vertex may lie: 1 pixel plus this fraction of
#: the image's side (a 640-pixel-wide image takes x from -65 to 705).
POLYGON_TOLERANCE = 0.1


def _bad_polygon(what: str, message: str) -> ArchiveError:
    return ArchiveError(f"{what}: {message}", ArchiveErrorCode.INVALID_POLYGON)


def check_polygons(
    segmentation: list[Any], height: int, width: int, what: str, limits: ArchiveLimits
) -> list[list[float]]:
    """The polygons of a COCO segmentation as float lists, once they are safe to hand
    to pycocotools (see the module's docstring); ``INVALID_POLYGON`` otherwise."""
    if not segmentation:
        raise _bad_polygon(what, "empty polygon list")
    low = np.array([-1 - POLYGON_TOLERANCE * width, -1 - POLYGON_TOLERANCE * height])
    high = np.array([width, height]) - low
    polygons: list[list[float]] = []
    points = boundary = 0
    for index, polygon in enumerate(segmentation):
        # frPyObjects reads a 4-number list as a box, so require >= 3 points.
        if not isinstance(polygon, list) or len(polygon) < 6 or len(polygon) % 2:
            raise _bad_polygon(what, "a polygon must be a flat list of >= 3 (x, y) number pairs")
        if len(polygon) // 2 > limits.max_polygon_points:
            raise _bad_polygon(
                what,
                f"polygon {index} has {len(polygon) // 2} points, "
                f"the limit is {limits.max_polygon_points}",
            )
        points += len(polygon) // 2
        if points > limits.max_annotation_points:
            raise _bad_polygon(
                what,
                f"the polygons have more than {limits.max_annotation_points} points in all",
            )
        if not all(finite(v) for v in polygon):
            raise _bad_polygon(what, f"polygon {index} holds a value that is not a finite number")
        xy = np.array(polygon, dtype=np.float64).reshape(-1, 2)
        outside = (xy < low) | (xy > high)
        if outside.any():
            x, y = xy[np.flatnonzero(outside.any(axis=1))[0]]
            raise _bad_polygon(
                what,
                f"polygon {index} has the point ({x:g}, {y:g}), outside the {width} x {height} "
                f"image by more than the tolerance ({POLYGON_TOLERANCE:.0%} of a side + 1)",
            )
        # The outline pycocotools walks: the longer axis of each edge, closing edge too.
        edges = np.abs(np.diff(xy, axis=0, append=xy[:1]))
        boundary += int(np.ceil(edges.max(axis=1)).sum())
        if boundary > limits.max_polygon_boundary:
            raise _bad_polygon(
                what,
                f"the polygons' outline is longer than {limits.max_polygon_boundary} pixels",
            )
        polygons.append(xy.ravel().tolist())
    return polygons


def segmentation_to_rle(
    segmentation: Any,
    height: int,
    width: int,
    what: str,
    limits: ArchiveLimits | None = None,
) -> dict[str, Any]:
    """Any COCO segmentation -> ``{"size": [height, width], "counts": str}``.

    Raises ``ArchiveError`` with ``INVALID_POLYGON``, ``RLE_SIZE_MISMATCH`` or
    ``INVALID_RLE``.
    """
    limits = limits or ArchiveLimits()
    if isinstance(segmentation, list):
        polygons = check_polygons(segmentation, height, width, what, limits)
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, dict):
        size = segmentation.get("size")
        if not isinstance(size, list) or len(size) != 2:
            raise ArchiveError(f"{what}: RLE 'size' must be [h, w]", ArchiveErrorCode.INVALID_RLE)
        if size != [height, width]:
            raise ArchiveError(
                f"{what}: RLE size {size} differs from image size [{height}, {width}]",
                ArchiveErrorCode.RLE_SIZE_MISMATCH,
            )
        counts = segmentation.get("counts")
        check_rle_length(counts, what, limits)
        if isinstance(counts, list):
            if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts):
                raise ArchiveError(
                    f"{what}: RLE counts must be non-negative integers",
                    ArchiveErrorCode.INVALID_RLE,
                )
            if sum(counts) != height * width:
                raise ArchiveError(
                    f"{what}: RLE runs cover {sum(counts)} pixels, image has {height * width}",
                    ArchiveErrorCode.INVALID_RLE,
                )
            rle = mask_utils.frPyObjects({"size": size, "counts": counts}, height, width)
        elif isinstance(counts, str):
            return import_rle(segmentation, height, width, what, limits)
        else:
            raise ArchiveError(f"{what}: RLE 'counts' missing", ArchiveErrorCode.INVALID_RLE)
    else:
        raise ArchiveError(f"{what}: unsupported segmentation", ArchiveErrorCode.INVALID_RLE)
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def _categories(raw: Any) -> list[ExportCategory]:
    if not isinstance(raw, list):
        raise invalid("COCO file", "'categories' must be a list")
    categories: list[ExportCategory] = []
    seen: set[int] = set()
    for index, item in enumerate(raw):
        what = f"category #{index}"
        record = req_dict(item, what)
        category_id = req_int(record, "id", what)
        if category_id in seen:
            raise ArchiveError(
                f"duplicate category id {category_id}", ArchiveErrorCode.DUPLICATE_ID
            )
        seen.add(category_id)
        color = record.get("color")
        categories.append(
            ExportCategory(
                id=category_id,
                name=label_name(record, what),
                color=default_color(index) if color is None else check_color(color, what),
            )
        )
    return categories


def _video_names(raw: Any) -> dict[int, str]:
    """``{video id: name}`` of a COCO-video ``videos`` list (TAO, COCO-VID, ours)."""
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise invalid("COCO file", "'videos' must be a list")
    names: dict[int, str] = {}
    for index, item in enumerate(raw):
        what = f"video #{index}"
        record = req_dict(item, what)
        video_id = req_int(record, "id", what)
        if video_id in names:
            raise ArchiveError(f"duplicate video id {video_id}", ArchiveErrorCode.DUPLICATE_ID)
        names[video_id] = req_str(record, "name", what, max_chars=MAX_FILE_NAME_BYTES)
    return names


def _images(raw: Any, resolver: ImageResolver, videos: dict[int, str]) -> list[ImportImage]:
    """The image records; a frame that names its video only by ``video_id`` gets the
    name from ``videos`` (an id not listed there is ignored, as before videos were
    read)."""
    if not isinstance(raw, list):
        raise invalid("COCO file", "'images' must be a list")
    images: list[ImportImage] = []
    for index, item in enumerate(raw):
        what = f"image #{index}"
        if isinstance(item, dict) and item.get("video_name") is None:
            video_id = item.get("video_id")
            if isinstance(video_id, int) and video_id in videos:
                item["video_name"] = videos[video_id]
        images.append(resolver.image(item, what))
        raw[index] = None  # free the parsed entry now
    return images


def _annotations(
    raw: Any, images: dict[int, ImportImage], category_ids: set[int], limits: ArchiveLimits
) -> list[ImportAnnotation]:
    if not isinstance(raw, list):
        raise invalid("COCO file", "'annotations' must be a list")
    annotations: list[ImportAnnotation] = []
    seen: set[int] = set()
    for index, item in enumerate(raw):
        what = f"annotation #{index}"
        record = req_dict(item, what)
        annotation_id = req_int(record, "id", what)
        what = f"annotation {annotation_id}"
        if annotation_id in seen:
            raise ArchiveError(
                f"duplicate annotation id {annotation_id}", ArchiveErrorCode.DUPLICATE_ID
            )
        seen.add(annotation_id)
        image_id = req_int(record, "image_id", what)
        image = images.get(image_id)
        if image is None:
            raise ArchiveError(
                f"{what}: unknown image id {image_id}", ArchiveErrorCode.UNKNOWN_IMAGE
            )
        category_id = req_int(record, "category_id", what)
        if category_id not in category_ids:
            raise ArchiveError(
                f"{what}: unknown category id {category_id}", ArchiveErrorCode.UNKNOWN_CATEGORY
            )
        if "segmentation" not in record:
            raise invalid(what, "'segmentation' missing")
        annotations.append(
            ImportAnnotation(
                id=annotation_id,
                image_id=image_id,
                category_id=category_id,
                rle=segmentation_to_rle(
                    record["segmentation"], image.height, image.width, what, limits
                ),
                score=opt_float(record, "score", what, low=0, high=1),
                track=opt_track(record, "track_id", what),
            )
        )
        raw[index] = None
    return annotations


def load_coco(
    data: bytes,
    source: CheckedZip | None,
    *,
    require_images: bool,
    name: str,
    limits: ArchiveLimits | None = None,
) -> ImportBundle:
    """Parse and validate COCO JSON ``data``; images are looked up in ``source``.

    ``name`` names the file in error messages. Raises :class:`ArchiveError`.
    """
    limits = limits or ArchiveLimits()
    document = parse_json(data, name)
    del data
    if not isinstance(document, dict):
        raise invalid(name, "top level must be a JSON object")
    for key in ("images", "categories"):
        if key not in document:
            raise invalid(name, f"{key!r} missing")
    resolver = ImageResolver(source, require_images, limits)
    categories = _categories(document.pop("categories"))
    videos = _video_names(document.pop("videos", None))
    images = _images(document.pop("images"), resolver, videos)
    warnings = resolver.check()
    annotations = _annotations(
        document.pop("annotations", []),
        {image.id: image for image in images},
        {category.id for category in categories},
        limits,
    )
    return ImportBundle(
        format="coco",
        categories=categories,
        images=images,
        annotations=sort_annotations(annotations, images),
        warnings=warnings,
    )
