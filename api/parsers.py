"""The one JSON parser of the API: bounded in size, depth and number range.

Everything a client can put in a JSON body passes here before any serializer, service
or C library sees it, so a whole class of faults stops at the door:

- a body over the view's limit (the setting its ``max_body_setting`` names, else
  ``DATA_UPLOAD_MAX_MEMORY_SIZE``)
  is a 413 ``body_too_large``, read no further than the limit;
- nesting deeper than :data:`MAX_DEPTH` (Python's parser and DRF's error reporting both
  recurse; a deep body used to end in ``RecursionError``) is a 400 ``parse_error``;
- integers beyond +-2**53 (no JSON client can hold them exactly, no column of ours
  fits a 400-digit number, and ``float()`` of one raises ``OverflowError``), ``NaN``,
  ``Infinity`` and numbers that overflow to infinity are a 400 ``parse_error``;
- NUL characters in strings or keys (PostgreSQL stores none: a DataError mid-transaction)
  are a 400 ``parse_error``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from annotator.errors import TooLarge

#: Deeper than any body of the API (an import manifest's polygon is 4 levels down).
MAX_DEPTH = 32
#: The largest integer magnitude a JSON body may hold (JavaScript's safe integers).
MAX_INT = 2**53


def _refuse_constant(name: str) -> Any:
    raise ParseError(f"JSON parse error - {name} is not a number JSON allows")


def body_limit(view: Any) -> int:
    """The largest body, in bytes, that ``view`` accepts."""
    name = getattr(view, "max_body_setting", None) or "DATA_UPLOAD_MAX_MEMORY_SIZE"
    return int(getattr(settings, name))


def read_bounded(stream: Any, limit: int, length: int | None) -> bytes:
    """Read at most ``limit`` bytes of ``stream``; :class:`TooLarge` beyond that."""
    too_large = TooLarge(f"the request body is over the limit of {limit} bytes", "body_too_large")
    if length is not None and length > limit:
        raise too_large
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise too_large
    return bytes(data)


def check_shape(value: Any) -> None:
    """Walk a parsed body without recursion: depth and number range."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            if any("\x00" in key for key in node):
                raise ParseError("JSON parse error - a key holds a NUL character")
            children: Any = node.values()
        else:
            children = node
        for child in children:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
            elif isinstance(child, int) and not isinstance(child, bool):
                if not -MAX_INT <= child <= MAX_INT:
                    raise ParseError(
                        f"JSON parse error - the integer {str(child)[:20]}... is out of range "
                        f"(at most {MAX_INT} in magnitude)"
                    )
            elif isinstance(child, float) and not math.isfinite(child):
                raise ParseError("JSON parse error - a number overflows to infinity")
            elif isinstance(child, str) and "\x00" in child:
                raise ParseError("JSON parse error - a string holds a NUL character")


def parse_json(data: bytes) -> Any:
    if not data.strip():
        return None
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limits
        raise ParseError(f"JSON parse error - {exc}") from None
    if isinstance(value, dict | list):
        check_shape(value)
    else:
        check_shape([value])
    return value


class BoundedJSONParser(BaseParser):
    media_type = "application/json"

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        context = parser_context or {}
        request = context.get("request")
        length = None
        if request is not None:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0) or None
            except ValueError:
                length = None
        data = read_bounded(stream, body_limit(context.get("view")), length)
        return parse_json(data)
