"""Django's error pages for what never reaches a DRF view (a URL that matches no route,
an uncaught exception with ``DEBUG`` off): JSON ``{"detail", "code"}`` under ``/api/``
(clients parse every API answer as JSON), Django's plain pages elsewhere. Neither says
anything about the error; Django logs the traceback (logger ``django.request``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "no such resource", "code": "not_found"}, status=404)
    response: Any = defaults.page_not_found(request, exception or Exception())
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "internal error", "code": "server_error"}, status=500)
    return defaults.server_error(request)
