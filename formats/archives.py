"""The dataset formats of the export and import API (``docs/api.md``).

The writers and readers live in ``workers.export``; this is the list the web side
validates requests against, and a test pins it to the workers' registries.
"""

from __future__ import annotations

EXPORT_FORMATS = ("coco", "masks", "yolo-seg", "native", "davis")
IMPORT_FORMATS = ("coco", "native")
