"""Page-number pagination whose ``next`` / ``previous`` links never echo a ``Host``
header the server did not choose to answer: they are absolute on ``PUBLIC_URL`` when
that is configured; absolute on the request's host when ``ALLOWED_HOSTS`` names the
hosts (Django has refused any other ``Host`` with a 400 before this runs; ``manage.py
serve`` on a loopback address names them); else, with ``ALLOWED_HOSTS = ["*"]``,
root-relative (``/api/projects/1/assets/?page=2``), to be resolved against the URL the
client called (what a browser, ``fetch`` and ``urllib.parse.urljoin`` do)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class _LinkBase:
    """The request as the paginator sees it: ``build_absolute_uri`` gives the base its
    links are made from (DRF builds next, previous and the browsable API's page links
    from it); everything else is the request's."""

    def __init__(self, request: Request) -> None:
        self._request = request

    def build_absolute_uri(self, location: str | None = None) -> str:
        path = self._request.get_full_path()
        if settings.PUBLIC_URL:
            return f"{settings.PUBLIC_URL}{path}"
        if "*" not in settings.ALLOWED_HOSTS:
            return str(self._request.build_absolute_uri(path))
        return path

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


class StandardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        page: list[Any] | None = super().paginate_queryset(queryset, request, view)
        self.request: Any = _LinkBase(request)
        return page

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        answer = super().get_paginated_response_schema(schema)
        for name, page in (("next", 4), ("previous", 2)):
            answer["properties"][name].update(
                {
                    "format": "uri-reference",
                    "example": f"/api/projects/1/assets/?{self.page_query_param}={page}",
                }
            )
        return answer
