"""The Django project and the domain: settings, Celery app, models, services, formats."""

from annotator.celery import app as celery_app

__all__ = ("celery_app",)
