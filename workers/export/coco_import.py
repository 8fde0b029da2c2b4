"""Read a COCO instance segmentation file into a validated :class:`ImportBundle`.

Accepted segmentations: polygons (list of ``[x1, y1, x2, y2, ...]``, merged into one
mask), uncompressed RLE (``counts`` a list of ints) and compressed RLE (``counts`` a
string). All end up as compressed RLE with ``str`` counts; ``iscrowd`` is ignored.
Our own extensions are honoured: category ``color``, image ``asset_id`` and
``frame_index``, annotation ``score``.

The JSON must be parsed whole (the standard library has no streaming parser); raw
entries are dropped as soon as they are converted so the peak stays near one copy of
the parsed file plus the compact records.
"""

from __future__ import annotations

import math
from typing import Any

from pycocotools import mask as mask_utils

from formats.rle import check_rle
from workers.export.archive import (
    ArchiveError,
    ArchiveErrorCode,
    CheckedZip,
    ImageResolver,
    ImportBundle,
    check_color,
    default_color,
    invalid,
    opt_float,
    parse_json,
    req_dict,
    req_int,
    req_str,
    sort_annotations,
)
from workers.export.records import ExportCategory, ImportAnnotation, ImportImage


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def segmentation_to_rle(segmentation: Any, height: int, width: int, what: str) -> dict[str, Any]:
    """Any COCO segmentation -> ``{"size": [height, width], "counts": str}``.

    Raises ``ArchiveError`` with ``INVALID_POLYGON``, ``RLE_SIZE_MISMATCH`` or
    ``INVALID_RLE``.
    """
    if isinstance(segmentation, list):
        if not segmentation:
            raise ArchiveError(f"{what}: empty polygon list", ArchiveErrorCode.INVALID_POLYGON)
        polygons: list[list[float]] = []
        for polygon in segmentation:
            # frPyObjects reads a 4-number list as a box, so require >= 3 points.
            if (
                not isinstance(polygon, list)
                or len(polygon) < 6
                or len(polygon) % 2
                or not all(_number(v) for v in polygon)
            ):
                raise ArchiveError(
                    f"{what}: a polygon must be a flat list of >= 3 (x, y) number pairs",
                    ArchiveErrorCode.INVALID_POLYGON,
                )
            polygons.append([float(v) for v in polygon])
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
            try:
                return check_rle(segmentation, height, width)
            except ValueError as exc:
                raise ArchiveError(f"{what}: {exc}", ArchiveErrorCode.INVALID_RLE) from exc
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
                name=req_str(record, "name", what),
                color=default_color(index) if color is None else check_color(color, what),
            )
        )
    return categories


def _images(raw: Any, resolver: ImageResolver) -> list[ImportImage]:
    if not isinstance(raw, list):
        raise invalid("COCO file", "'images' must be a list")
    images: list[ImportImage] = []
    for index, item in enumerate(raw):
        images.append(resolver.image(item, f"image #{index}"))
        raw[index] = None  # free the parsed entry now
    return images


def _annotations(
    raw: Any, images: dict[int, ImportImage], category_ids: set[int]
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
                rle=segmentation_to_rle(record["segmentation"], image.height, image.width, what),
                score=opt_float(record, "score", what),
            )
        )
        raw[index] = None
    return annotations


def load_coco(
    data: bytes, source: CheckedZip | None, *, require_images: bool, name: str
) -> ImportBundle:
    """Parse and validate COCO JSON ``data``; images are looked up in ``source``.

    ``name`` names the file in error messages. Raises :class:`ArchiveError`.
    """
    document = parse_json(data, name)
    del data
    if not isinstance(document, dict):
        raise invalid(name, "top level must be a JSON object")
    for key in ("images", "categories"):
        if key not in document:
            raise invalid(name, f"{key!r} missing")
    resolver = ImageResolver(source, require_images)
    categories = _categories(document.pop("categories"))
    images = _images(document.pop("images"), resolver)
    warnings = resolver.check()
    annotations = _annotations(
        document.pop("annotations", []),
        {image.id: image for image in images},
        {category.id for category in categories},
    )
    return ImportBundle(
        format="coco",
        categories=categories,
        images=images,
        annotations=sort_annotations(annotations, images),
        warnings=warnings,
    )
