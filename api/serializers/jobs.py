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


class JobStartedSerializer(serializers.Serializer[None]):
    """The answer (202) of a request that started a job: poll ``GET /api/jobs/{job}/``."""

    job = serializers.IntegerField()
