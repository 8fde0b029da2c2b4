from typing import Any

from django.core.management.base import BaseCommand

from annotator.services.exports import delete_expired_exports


class Command(BaseCommand):
    help = "Delete expired export archives (also done before every export job)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"deleted {delete_expired_exports()} expired export(s)")
