"""Entry point of the import layer: :func:`validate_and_load`.

Everything is parsed and validated before the function returns, so the caller can store
the bundle inside one database transaction knowing the data is consistent. Failures
raise :class:`~workers.export.archive.ArchiveError` with a stable ``code``.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

from formats import archives
from workers.export.archive import (
    ArchiveError,
    ArchiveErrorCode,
    ArchiveLimits,
    CheckedZip,
    ImportBundle,
    check_json_size,
)
from workers.export.base import MANIFEST_NAME
from workers.export.coco import ANNOTATIONS_NAME as COCO_JSON
from workers.export.coco_import import load_coco
from workers.export.native_import import is_native, load_native

#: The formats read here: the list the web side validates requests against (one source).
IMPORT_FORMATS = archives.IMPORT_FORMATS


def _coco_member(source: CheckedZip) -> str:
    """The COCO JSON inside a zip: ``annotations.json``, else the only ``.json`` member."""
    if COCO_JSON in source.members:
        return COCO_JSON
    candidates = [
        name for name in source.members if name.lower().endswith(".json") and name != MANIFEST_NAME
    ]
    if len(candidates) != 1:
        found = "none" if not candidates else ", ".join(sorted(candidates)[:5])
        raise ArchiveError(
            f"cannot tell which JSON file holds the COCO annotations (found: {found}); "
            f"name it {COCO_JSON}",
            ArchiveErrorCode.MISSING_ANNOTATIONS,
        )
    return candidates[0]


def validate_and_load(
    path: str | os.PathLike[str],
    *,
    images_zip: str | os.PathLike[str] | None = None,
    format: str | None = None,
    limits: ArchiveLimits | None = None,
    require_images: bool = True,
) -> ImportBundle:
    """Parse and validate an upload into an :class:`ImportBundle` (close it when done).

    ``path`` is a zip (native export, or COCO JSON plus ``images/``) or a bare COCO JSON
    file. ``images_zip`` optionally supplies the image files (looked up by ``file_name``
    or ``images/<file_name>``) instead of ``path``. ``format`` is ``"coco"``,
    ``"native"`` or ``None`` to detect (native when the manifest says so). When
    ``require_images`` is false, images without bytes get ``open_image=None`` (the
    caller matches them to existing assets by ``file_name``) instead of failing with
    ``MISSING_IMAGE``.
    """
    if format not in (None, *IMPORT_FORMATS):
        raise ValueError(f"unknown import format {format!r}")
    limits = limits or ArchiveLimits()
    sources: list[CheckedZip] = []
    try:
        if Path(path).suffix.lower() == ".zip" or zipfile.is_zipfile(path):
            archive = CheckedZip(path, limits)
            sources.append(archive)
            images = archive
            if images_zip is not None:
                images = CheckedZip(images_zip, limits)
                sources.append(images)
            if format == "native" or (format is None and is_native(archive)):
                bundle = load_native(archive, require_images=require_images, limits=limits)
            else:
                member = _coco_member(archive)
                check_json_size(archive.members[member].file_size, member, limits)
                bundle = load_coco(
                    archive.read(member),
                    images,
                    require_images=require_images,
                    name=member,
                    limits=limits,
                )
        else:
            if format == "native":
                raise ArchiveError(
                    "a native import must be the exported zip", ArchiveErrorCode.UNSUPPORTED_FORMAT
                )
            check_json_size(os.path.getsize(path), Path(path).name, limits)
            image_source = None
            if images_zip is not None:
                image_source = CheckedZip(images_zip, limits)
                sources.append(image_source)
            bundle = load_coco(
                Path(path).read_bytes(),
                image_source,
                require_images=require_images,
                name=Path(path).name,
                limits=limits,
            )
    except BaseException:
        for source in sources:
            source.close()
        raise
    bundle._sources.extend(sources)
    return bundle
