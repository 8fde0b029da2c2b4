"""The web process must never load torch or segment-anything (ARCHITECTURE.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
import annotator.wsgi
import api.urls
from django.test import Client
Client().get("/api/schema/")
HEAVY = {"torch", "segment_anything", "torchvision", "workers"}
heavy = sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)
print("heavy:" + ",".join(heavy))
"""


def test_importing_the_web_side_does_not_load_torch() -> None:
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="tests.settings")
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = [line for line in result.stdout.splitlines() if line.startswith("heavy:")]
    assert report == ["heavy:"], result.stdout
