"""Liveness for load balancers and compose health checks: database, Redis, workers."""

from __future__ import annotations

import logging

from django.db import connection
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotator.redis_client import get_redis, queue_has_worker
from annotator.task_routes import QUEUES
from api.serializers.health import HealthSerializer

logger = logging.getLogger(__name__)


class HealthView(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    @extend_schema(responses={200: HealthSerializer, 503: HealthSerializer})
    def get(self, request: Request) -> Response:
        checks: dict[str, object] = {}
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            checks["database"] = "ok"
        except Exception:
            # Open to anyone: the reason (hosts, users, paths) goes to the log only.
            logger.exception("health: the database does not answer")
            checks["database"] = "error: unreachable"
        try:
            get_redis().ping()
            checks["redis"] = "ok"
        except Exception:
            logger.exception("health: Redis does not answer")
            checks["redis"] = "error: unreachable"
        checks["workers"] = {queue: queue_has_worker(queue) for queue in QUEUES}
        healthy = checks["database"] == "ok" and checks["redis"] == "ok"
        return Response(
            {"status": "ok" if healthy else "degraded", **checks}, status=200 if healthy else 503
        )
