"""The Content-Security-Policy middleware (django-csp) with two relaxations, both for
third-party pages under ``/api/``; the browser UI gets ``CONTENT_SECURITY_POLICY`` as it is.

- ``CSP_INLINE_SCRIPT_PATHS``: the Swagger page (drf-spectacular) starts Swagger UI from
  an inline ``<script>`` that carries the page's CSRF token, so no hash fits: inline
  scripts are allowed on that page only.
- ``CSP_INLINE_STYLE_PREFIXES``: the browsable API (DRF) and the Swagger page style
  themselves in inline ``<style>`` elements: inline styles are allowed there.
"""

from __future__ import annotations

from typing import Any

from csp.constants import UNSAFE_INLINE
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.middleware import PolicyParts
from django.conf import settings
from django.http import HttpRequest


class CSPMiddleware(BaseCSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: Any, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        path = request.path_info
        update = dict(parts.update or {})
        if path in settings.CSP_INLINE_SCRIPT_PATHS:
            update["script-src"] = [UNSAFE_INLINE]
        if path.startswith(tuple(settings.CSP_INLINE_STYLE_PREFIXES)):
            update["style-src"] = [UNSAFE_INLINE]
        if update:
            parts.update = update
        return parts
