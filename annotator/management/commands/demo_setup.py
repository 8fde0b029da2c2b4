"""Create the demo user and project (once) and print the login."""

from __future__ import annotations

import io
import secrets
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand
from PIL import Image

from annotator.models import Project
from annotator.services.assets import ingest_upload
from annotator.services.projects import create_project


def sample_image(seed: int = 0, width: int = 640, height: int = 480) -> bytes:
    """A synthetic picture with a few objects, so a fresh install has something to click."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.empty((height, width, 3), dtype=np.float64)
    image[...] = (70 + 40 * yy / height)[..., None] * np.array([0.6, 0.9, 1.0])
    image += rng.normal(0, 6, image.shape)
    shapes = [
        ((200, 220), 90, (220, 60, 50)),
        ((430, 260), 70, (60, 160, 60)),
        ((330, 120), 45, (240, 200, 40)),
    ]
    for (cx, cy), r, color in shapes:
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
        image[inside] = np.array(color) + rng.normal(0, 10, (int(inside.sum()), 3))
    buffer = io.BytesIO()
    Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def ensure_demo() -> str:
    """Create the demo superuser and project if missing; return ``"demo / <password>"``."""
    login_file = Path(settings.VAR_DIR) / "demo-login.txt"
    user = User.objects.filter(username="demo").first()
    if user is None or not login_file.exists():
        password = secrets.token_urlsafe(9)
        if user is None:
            user = User.objects.create_superuser("demo", "demo@example.com", password)
        else:
            user.set_password(password)
            user.save()
        login_file.write_text(password)
    password = login_file.read_text().strip()
    if not Project.objects.filter(memberships__user=user).exists():
        project = create_project(
            user,
            "Demo project",
            "Sample images to try clicks, boxes and scribbles on.",
            [{"name": "object", "color": "#e6194b"}, {"name": "background", "color": "#4363d8"}],
        )
        for seed in range(2):
            upload = SimpleUploadedFile(f"sample-{seed}.png", sample_image(seed), "image/png")
            ingest_upload(project, upload, user)
    return f"demo / {password}"


class Command(BaseCommand):
    help = "Create the demo user and project if missing; print the login."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(ensure_demo())
