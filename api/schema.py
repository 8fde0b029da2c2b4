"""The OpenAPI description of every answer an endpoint can give, errors included.

Every error of the API has one shape, ``{"detail": str, "code": str, ...}``
(``api.exceptions``), described once as the ``Error`` component. ``ApiSchema`` adds to
each operation the errors that follow from how its view is built, so a new view is
described with them without writing them down:

- 401: the view authenticates (a missing or bad token);
- 403: a project view whose method needs more than reading (``capabilities``), or any
  change with session authentication (CSRF);
- 404: the path names an object, or the list is paginated (a page past the end);
- 400, 413, 415: the operation takes a body (malformed, over the size limit, of a media
  type the view does not parse), or 400 when it takes query parameters.

What only the domain knows (a 409 for a stale version, the 503 of a busy worker) a view
declares in its ``extend_schema(responses=...)`` with :func:`errors`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import SAFE_METHODS

from api.access import Capability

DESCRIPTIONS = {
    400: "The request is malformed or fails validation; `code` says which check.",
    401: "Not signed in, or the token is not valid.",
    403: "Not allowed: the caller's role in the project does not allow this (or a session "
    "request came without its CSRF token).",
    404: "No such object, or it belongs to a project the caller is not a member of.",
    409: "The request conflicts with the current state (a stale `version`, a name taken, "
    "the last owner).",
    413: "The request body or upload is over the server's limit.",
    415: "The body's media type is not one this endpoint reads.",
    429: "Too many attempts; retry after `Retry-After` seconds.",
    502: "A worker failed while serving the request.",
    503: "No worker can serve the request now; retry after `Retry-After` seconds.",
}


class ErrorSerializer(serializers.Serializer[None]):
    """Every error answer. Validation errors add ``errors`` (the message of each field), a
    409 on an annotation adds ``current`` (the annotation as it is now)."""

    detail = serializers.CharField(help_text="What went wrong, for people.")
    code = serializers.CharField(help_text="What went wrong, for programs.")


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """``extend_schema(responses={200: Serializer, **errors(409)})``."""
    return {status: OpenApiResponse(ErrorSerializer, DESCRIPTIONS[status]) for status in statuses}


#: ``extend_schema(request={JSON: Serializer})``: a body that only JSON can carry (nested
#: objects, an RLE), not the form encodings the view's parsers also read.
JSON = "application/json"

RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    response=[429, 503],
    required=True,
    description="Seconds to wait before trying again.",
)


class ApiSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the errors of ``error_statuses()``."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for status in sorted(self.error_statuses()):
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(
                    errors(status)[status], str(status), direction=direction
                )
        return responses

    def error_statuses(self) -> set[int]:
        """The errors that follow from the view's construction (see the module doc)."""
        view, method = self.view, self.method
        statuses: set[int] = set()
        authenticators = view.get_authenticators()
        if authenticators:
            statuses.add(401)
        if method not in SAFE_METHODS and (
            self._needs_more_than_reading()
            or any(isinstance(a, SessionAuthentication) for a in authenticators)
        ):
            statuses.add(403)
        if "{" in self.path or (self._is_list_view() and self._get_paginator() is not None):
            statuses.add(404)
        if self._takes_body():
            statuses |= {400, 413, 415}
        if any(
            isinstance(p, OpenApiParameter) and p.location == OpenApiParameter.QUERY
            for p in self.get_override_parameters()
        ):
            statuses.add(400)
        return statuses

    def _needs_more_than_reading(self) -> bool:
        capabilities = getattr(self.view, "capabilities", None)
        if capabilities is None:
            return False
        default = Capability.READ if self.method in SAFE_METHODS else Capability.MANAGE
        return capabilities.get(self.method, default) is not Capability.READ

    def _takes_body(self) -> bool:
        return self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
