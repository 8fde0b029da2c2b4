"""Dataset exports: a zip in media storage, downloadable by project members until it
expires."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.db import models

from .jobs import Job
from .projects import Project


class Export(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    job = models.OneToOneField(Job, on_delete=models.CASCADE, related_name="export")
    format = models.CharField(max_length=16)
    options = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to="exports/", max_length=500, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.format} export {self.pk} of project {self.project_id}"
