"""The 500 of an uncaught exception (with ``DEBUG`` off): JSON
``{"detail": "internal error", "code": "server_error"}`` under ``/api/``, Django's plain
page elsewhere. Neither says anything about the error; Django logs the traceback
(logger ``django.request``) before calling this."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import server_error as plain_server_error


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": "internal error", "code": "server_error"}, status=500)
    return plain_server_error(request)
