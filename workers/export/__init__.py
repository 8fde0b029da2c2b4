"""Dataset export/import compute layer: plain records in, archive members out (and back).

No Django here: the Celery tasks query the database, build :mod:`records`, feed a
writer from :func:`build_writer` and, for imports, store what
:func:`validate_and_load` returns.
"""

from workers.export.archive import ArchiveError, ArchiveErrorCode, ArchiveLimits
from workers.export.base import FORMATS, ExportError, Writer, build_writer
from workers.export.importers import ImportBundle, validate_and_load
from workers.export.records import (
    ExportAnnotation,
    ExportCategory,
    ExportImage,
    ExportVideo,
    ImportAnnotation,
    ImportImage,
)

__all__ = [
    "FORMATS",
    "ArchiveError",
    "ArchiveErrorCode",
    "ArchiveLimits",
    "ExportAnnotation",
    "ExportCategory",
    "ExportError",
    "ExportImage",
    "ExportVideo",
    "ImportAnnotation",
    "ImportBundle",
    "ImportImage",
    "Writer",
    "build_writer",
    "validate_and_load",
]
