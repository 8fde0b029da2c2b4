"""Django-free formats that the web side and the workers both import.

- :mod:`formats.rle`: COCO RLE masks (validation, measurement, conversion).
- :mod:`formats.prompts`: the prompt schema of ``POST /api/assets/{id}/predict/``.
- :mod:`formats.archives`: the dataset formats of exports and imports.
- :mod:`formats.errors`: :class:`FormatError`, the base of their errors (an API 400).

Nothing here imports Django, Celery, torch or another package of this project
(import-linter checks it in CI), so both sides can depend on it.
"""
