"""The 404 of a URL that matches no route: JSON ``{"detail", "code"}`` under ``/api/``
(clients parse every API answer as JSON), Django's plain page elsewhere."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "no such resource", "code": "not_found"}, status=404)
    response: Any = page_not_found(request, exception or Exception())
    return response
