from __future__ import annotations

from rest_framework import serializers

from annotator.models import Job


class JobSerializer(serializers.ModelSerializer[Job]):
    class Meta:
        model = Job
        fields = [
            "id",
            "project",
            "asset",
            "kind",
            "status",
            "progress",
            "message",
            "result",
            "error",
            "created",
            "started",
            "finished",
        ]
        read_only_fields = fields
