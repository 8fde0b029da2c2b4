"""Read a native export (:mod:`workers.export.native`) back into an :class:`ImportBundle`.

Lossless: every annotation field, including the interaction, comes back. The JSON-lines
members are streamed line by line, so only the compact records are held in memory.
"""

from __future__ import annotations

from typing import Any

from formats.rle import SizeMismatch, check_rle
from workers.export.archive import (
    ArchiveError,
    ArchiveErrorCode,
    CheckedZip,
    ImageResolver,
    ImportBundle,
    check_color,
    invalid,
    iter_json_lines,
    opt_float,
    opt_int,
    opt_str,
    parse_json,
    req_dict,
    req_int,
    req_str,
    sort_annotations,
)
from workers.export.base import FORMAT_VERSION, MANIFEST_NAME
from workers.export.native import ANNOTATIONS_NAME, CATEGORIES_NAME, IMAGES_NAME
from workers.export.records import ExportCategory, ImportAnnotation, ImportImage


def is_native(source: CheckedZip) -> bool:
    """Whether the archive claims to be a native export (manifest or member names)."""
    if MANIFEST_NAME in source.members:
        manifest = parse_json(source.read(MANIFEST_NAME), MANIFEST_NAME)
        return isinstance(manifest, dict) and manifest.get("format") == "native"
    return ANNOTATIONS_NAME in source.members and IMAGES_NAME in source.members


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_point(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(_is_number(v) for v in value)


def check_interaction(value: Any, what: str) -> dict[str, Any] | None:
    """Structural check of an interaction record; returns it unchanged (extra keys kept)."""
    if value is None:
        return None
    record = req_dict(value, f"{what} interaction")
    clicks = record.get("clicks", [])
    if not isinstance(clicks, list) or not all(
        isinstance(c, dict) and _is_number(c.get("x")) and _is_number(c.get("y")) for c in clicks
    ):
        raise invalid(what, "interaction clicks must be objects with numeric x and y")
    box = record.get("box")
    if box is not None and not (
        isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)
    ):
        raise invalid(what, "interaction box must be [x0, y0, x1, y1] or null")
    scribbles = record.get("scribbles", [])
    if not isinstance(scribbles, list) or not all(
        isinstance(s, dict)
        and isinstance(s.get("points"), list)
        and all(_is_point(p) for p in s["points"])
        for s in scribbles
    ):
        raise invalid(what, "interaction scribbles must be objects with points [[x, y], ...]")
    return record


def _categories(source: CheckedZip) -> list[ExportCategory]:
    raw = parse_json(source.read(CATEGORIES_NAME), CATEGORIES_NAME)
    if not isinstance(raw, list):
        raise invalid(CATEGORIES_NAME, "must be a list")
    categories: list[ExportCategory] = []
    for index, item in enumerate(raw):
        what = f"category #{index}"
        record = req_dict(item, what)
        categories.append(
            ExportCategory(
                id=req_int(record, "id", what),
                name=req_str(record, "name", what),
                color=check_color(record.get("color"), what),
            )
        )
    if len({c.id for c in categories}) != len(categories):
        raise ArchiveError("duplicate category id", ArchiveErrorCode.DUPLICATE_ID)
    return categories


def _images(source: CheckedZip, resolver: ImageResolver) -> list[ImportImage]:
    return [
        resolver.image(item, f"{IMAGES_NAME} line {line}")
        for line, item in iter_json_lines(source, IMAGES_NAME)
    ]


def _annotation(
    item: Any, what: str, images: dict[int, ImportImage], category_ids: set[int]
) -> ImportAnnotation:
    record = req_dict(item, what)
    annotation_id = req_int(record, "id", what)
    image_id = req_int(record, "image_id", what)
    image = images.get(image_id)
    if image is None:
        raise ArchiveError(f"{what}: unknown image id {image_id}", ArchiveErrorCode.UNKNOWN_IMAGE)
    category_id = req_int(record, "category_id", what)
    if category_id not in category_ids:
        raise ArchiveError(
            f"{what}: unknown category id {category_id}", ArchiveErrorCode.UNKNOWN_CATEGORY
        )
    try:
        rle = check_rle(record.get("rle"), image.height, image.width)
    except SizeMismatch as exc:
        raise ArchiveError(f"{what}: {exc}", ArchiveErrorCode.RLE_SIZE_MISMATCH) from exc
    except ValueError as exc:
        raise ArchiveError(f"{what}: {exc}", ArchiveErrorCode.INVALID_RLE) from exc
    return ImportAnnotation(
        id=annotation_id,
        image_id=image_id,
        category_id=category_id,
        rle=rle,
        score=opt_float(record, "score", what),
        source=opt_str(record, "source", what),
        review_status=opt_str(record, "review_status", what),
        author=opt_str(record, "author", what),
        version=opt_int(record, "version", what),
        created=opt_str(record, "created", what),
        interaction=check_interaction(record.get("interaction"), what),
    )


def load_native(source: CheckedZip, *, require_images: bool) -> ImportBundle:
    """Parse and validate a native export archive. Raises :class:`ArchiveError`."""
    if MANIFEST_NAME in source.members:
        manifest = req_dict(parse_json(source.read(MANIFEST_NAME), MANIFEST_NAME), MANIFEST_NAME)
        version = manifest.get("format_version")
        if (
            manifest.get("format") != "native"
            or not isinstance(version, int)
            or version > FORMAT_VERSION
        ):
            raise ArchiveError(
                f"unsupported native archive (format {manifest.get('format')!r}, "
                f"version {version!r}; this server reads version <= {FORMAT_VERSION})",
                ArchiveErrorCode.UNSUPPORTED_FORMAT,
            )
    for name in (CATEGORIES_NAME, IMAGES_NAME, ANNOTATIONS_NAME):
        if name not in source.members:
            raise ArchiveError(f"native archive lacks {name}", ArchiveErrorCode.MISSING_ANNOTATIONS)
    categories = _categories(source)
    resolver = ImageResolver(source, require_images)
    images = _images(source, resolver)
    warnings = resolver.check()
    by_id = {image.id: image for image in images}
    category_ids = {category.id for category in categories}
    annotations: list[ImportAnnotation] = []
    seen: set[int] = set()
    for line, item in iter_json_lines(source, ANNOTATIONS_NAME):
        annotation = _annotation(item, f"{ANNOTATIONS_NAME} line {line}", by_id, category_ids)
        if annotation.id in seen:
            raise ArchiveError(
                f"duplicate annotation id {annotation.id}", ArchiveErrorCode.DUPLICATE_ID
            )
        seen.add(annotation.id)
        annotations.append(annotation)
    return ImportBundle(
        format="native",
        categories=categories,
        images=images,
        annotations=sort_annotations(annotations, images),
        warnings=warnings,
    )
