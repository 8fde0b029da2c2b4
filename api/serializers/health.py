"""The documented shape of ``GET /api/health/``."""

from __future__ import annotations

from rest_framework import serializers


class HealthSerializer(serializers.Serializer[None]):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    database = serializers.CharField(help_text='"ok" or "error: ..."')
    redis = serializers.CharField(help_text='"ok" or "error: ..."')
    workers = serializers.DictField(
        child=serializers.BooleanField(), help_text="Queue name -> whether a worker serves it."
    )
