"""Every API error is ``{"detail": str, "code": str, ...}`` with a 4xx/5xx status.

Domain errors from ``annotator.errors`` (and format errors from ``formats``) are mapped
here, in one place, so views stay thin.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.db import DataError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from annotator.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    TooLarge,
    Unavailable,
    WorkerFailed,
)
from formats.errors import FormatError

logger = logging.getLogger(__name__)

_STATUS: dict[type[DomainError], int] = {
    InvalidInput: status.HTTP_400_BAD_REQUEST,
    TooLarge: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    Conflict: status.HTTP_409_CONFLICT,
    Unavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    WorkerFailed: status.HTTP_502_BAD_GATEWAY,
}


class ApiConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def _first_message(detail: Any) -> tuple[str, str]:
    """The first (message, code) in a DRF error structure, with its field path."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            message, code = _first_message(value)
            prefix = "" if key in ("non_field_errors", "detail") else f"{key}: "
            return prefix + message, code
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    code = getattr(detail, "code", None) or "invalid"
    return str(detail), str(code)


def handle_api_exception(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, FormatError):
        # Input that breaks a shared format (an RLE, the prompt schema): always a 400.
        return Response({"detail": exc.message, "code": exc.code}, status=400)
    if isinstance(exc, DomainError):
        status_code = next(
            (code for cls, code in _STATUS.items() if isinstance(exc, cls)),
            status.HTTP_400_BAD_REQUEST,
        )
        body: dict[str, Any] = {"detail": exc.message, "code": exc.code}
        body.update({k: v for k, v in exc.extra.items() if k != "retry_after"})
        headers = {}
        if isinstance(exc, Unavailable):
            headers["Retry-After"] = str(exc.retry_after)
        return Response(body, status=status_code, headers=headers)
    if isinstance(exc, RequestDataTooBig):
        # Django's own body limit (a multipart field, a form): the same 413 as ours.
        return Response({"detail": str(exc), "code": "body_too_large"}, status=413)
    if isinstance(exc, SuspiciousOperation):
        return Response({"detail": str(exc), "code": "suspicious_request"}, status=400)
    if isinstance(exc, OperationalError):
        # The database is down, restarting, or (SQLite) locked past its busy timeout.
        logger.warning("database unavailable: %s", exc)
        return Response(
            {"detail": "the database is busy or unreachable; try again", "code": "database_busy"},
            status=503,
            headers={"Retry-After": "2"},
        )
    if isinstance(exc, DataError | OverflowError):
        # The last line of defence: a value that reached the database out of its
        # column's range (each input is bounded where it is parsed, see api/parsers.py).
        return Response(
            {"detail": "a value is out of the range this server stores", "code": "out_of_range"},
            status=400,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "not found")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        if isinstance(exc, exceptions.ValidationError):
            message, code = _first_message(exc.detail)
            response.data = {"detail": message, "code": code, "errors": exc.detail}
        else:
            detail = exc.detail
            message = (
                str(detail) if not isinstance(detail, dict | list) else _first_message(detail)[0]
            )
            codes = exc.get_codes()
            code = codes if isinstance(codes, str) else _first_message(detail)[1]
            extra = detail if isinstance(detail, dict) else {}
            response.data = {**extra, "detail": message, "code": code}
    return response
