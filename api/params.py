"""Query parameters, parsed in one place: a bad value is a 400 with the caller's code."""

from __future__ import annotations

import re

from rest_framework.request import Request

from annotator.errors import InvalidInput

# ASCII digits only ("²".isdigit() is true), and few enough for a 64-bit column.
_NON_NEGATIVE_INT = re.compile(r"[0-9]{1,18}")


def query_int(request: Request, name: str, message: str, code: str) -> int | None:
    """The non-negative integer of query parameter ``name``; ``None`` when absent,
    ``InvalidInput(message, code)`` when it is not one."""
    value = request.query_params.get(name)
    if value is None:
        return None
    if not _NON_NEGATIVE_INT.fullmatch(value):
        raise InvalidInput(message, code)
    return int(value)
