"""Read a native export (:mod:`workers.export.native`) back into an :class:`ImportBundle`.

Lossless: every annotation field, including the interaction, comes back. The JSON-lines
members are streamed line by line, so only the compact records are held in memory.

An interaction is stored as it comes (extra keys kept), so all of it must be storable:
:func:`check_interaction` checks the prompts' shape and walks the whole value for what a
JSON column refuses (NaN or infinite numbers, NUL characters, lone surrogates) or a
client cannot read back (numbers beyond :data:`MAX_INTERACTION_MAGNITUDE`).
"""

from __future__ import annotations

from typing import Any

from workers.export.archive import (
    ArchiveError,
    ArchiveErrorCode,
    ArchiveLimits,
    CheckedZip,
    ImportBundle,
    iter_json_lines,
)
from workers.export.base import FORMAT_VERSION, MANIFEST_NAME
from workers.export.fields import (
    ImageResolver,
    check_color,
    check_storable,
    finite,
    import_rle,
    invalid,
    label_name,
    opt_float,
    opt_int,
    opt_str,
    opt_track,
    preview,
    req_dict,
    req_int,
    sort_annotations,
)
from workers.export.native import ANNOTATIONS_NAME, CATEGORIES_NAME, IMAGES_NAME
from workers.export.records import ExportCategory, ImportAnnotation, ImportImage

#: ``Interaction.engine``'s column.
MAX_ENGINE_CHARS = 32
#: No number of an interaction is larger than this in magnitude (the prompt schema's).
MAX_INTERACTION_MAGNITUDE = 1e15


def is_native(source: CheckedZip) -> bool:
    """Whether the archive claims to be a native export (manifest or member names)."""
    if MANIFEST_NAME in source.members:
        manifest = source.read_json(MANIFEST_NAME)
        return isinstance(manifest, dict) and manifest.get("format") == "native"
    return ANNOTATIONS_NAME in source.members and IMAGES_NAME in source.members


def _is_point(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(finite(v) for v in value)


def _check_storable_json(value: Any, what: str) -> None:
    """Every string (keys too) storable, every number finite and of a sane magnitude;
    walked without recursion (the parser allows deeper nesting than a recursive walk)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in item:
                check_storable(key, f"{what} interaction")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            check_storable(item, f"{what} interaction")
        elif isinstance(item, int | float) and not (
            isinstance(item, bool) or (finite(item) and abs(item) <= MAX_INTERACTION_MAGNITUDE)
        ):
            raise invalid(
                what, f"interaction holds a number out of range (at most 1e15): {item!r:.40}"
            )


def check_interaction(value: Any, what: str) -> dict[str, Any] | None:
    """Check an interaction record; returns it unchanged (extra keys kept)."""
    if value is None:
        return None
    record = req_dict(value, f"{what} interaction")
    clicks = record.get("clicks", [])
    if not isinstance(clicks, list) or not all(
        isinstance(c, dict) and finite(c.get("x")) and finite(c.get("y")) for c in clicks
    ):
        raise invalid(what, "interaction clicks must be objects with numeric x and y")
    box = record.get("box")
    if box is not None and not (
        isinstance(box, list) and len(box) == 4 and all(finite(v) for v in box)
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
    engine = record.get("engine")
    if engine is not None and not isinstance(engine, str):
        raise invalid(what, "interaction engine must be a string")
    if isinstance(engine, str) and len(engine) > MAX_ENGINE_CHARS:
        raise ArchiveError(
            f"{what}: the interaction's engine name is {len(engine)} characters long, "
            f"the limit is {MAX_ENGINE_CHARS}",
            ArchiveErrorCode.FIELD_TOO_LONG,
        )
    _check_storable_json(record, what)
    return record


def _categories(source: CheckedZip) -> list[ExportCategory]:
    raw = source.read_json(CATEGORIES_NAME)
    if not isinstance(raw, list):
        raise invalid(CATEGORIES_NAME, "must be a list")
    categories: list[ExportCategory] = []
    for index, item in enumerate(raw):
        what = f"category #{index}"
        record = req_dict(item, what)
        categories.append(
            ExportCategory(
                id=req_int(record, "id", what),
                name=label_name(record, what),
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
    item: Any,
    what: str,
    images: dict[int, ImportImage],
    category_ids: set[int],
    limits: ArchiveLimits,
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
    return ImportAnnotation(
        id=annotation_id,
        image_id=image_id,
        category_id=category_id,
        rle=import_rle(record.get("rle"), image.height, image.width, what, limits),
        score=opt_float(record, "score", what, low=0, high=1),
        source=opt_str(record, "source", what),
        review_status=opt_str(record, "review_status", what),
        author=opt_str(record, "author", what),
        version=opt_int(record, "version", what),
        created=opt_str(record, "created", what),
        interaction=check_interaction(record.get("interaction"), what),
        track=opt_track(record, "track", what),
    )


def load_native(
    source: CheckedZip, *, require_images: bool, limits: ArchiveLimits | None = None
) -> ImportBundle:
    """Parse and validate a native export archive. Raises :class:`ArchiveError`."""
    if MANIFEST_NAME in source.members:
        manifest = req_dict(source.read_json(MANIFEST_NAME), MANIFEST_NAME)
        version = manifest.get("format_version")
        if (
            manifest.get("format") != "native"
            or not isinstance(version, int)
            or version > FORMAT_VERSION
        ):
            raise ArchiveError(
                f"unsupported native archive (format {preview(manifest.get('format'))}, "
                f"version {preview(version)}; this server reads version <= {FORMAT_VERSION})",
                ArchiveErrorCode.UNSUPPORTED_FORMAT,
            )
    for name in (CATEGORIES_NAME, IMAGES_NAME, ANNOTATIONS_NAME):
        if name not in source.members:
            raise ArchiveError(f"native archive lacks {name}", ArchiveErrorCode.MISSING_ANNOTATIONS)
    categories = _categories(source)
    limits = limits or source.limits
    resolver = ImageResolver(source, require_images, limits)
    images = _images(source, resolver)
    warnings = resolver.check()
    by_id = {image.id: image for image in images}
    category_ids = {category.id for category in categories}
    annotations: list[ImportAnnotation] = []
    seen: set[int] = set()
    for line, item in iter_json_lines(source, ANNOTATIONS_NAME):
        what = f"{ANNOTATIONS_NAME} line {line}"
        annotation = _annotation(item, what, by_id, category_ids, limits)
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
