"""Settings for the test suite: the project's settings with a test var/ directory, a
file-backed SQLite test database (so a real worker process can share it) and fast
password hashing."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("ANNOTATOR_ENV", "test")
os.environ.setdefault(
    "ANNOTATOR_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var" / "test")
)

from annotator.settings import *  # noqa: E402,F403
from annotator.settings import DATABASES, VAR_DIR  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test_db.sqlite3")}
# A worker process started by the tests connects straight to the test database.
_worker_db = os.environ.get("TEST_WORKER_DB_NAME")
if _worker_db:
    DATABASES["default"]["NAME"] = _worker_db

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# No automatic trainings behind tests' backs: the tests of retraining set it per project.
LEARNING_RETRAIN_AFTER = 0
# The first queue/next does not wait for a ranking no test worker may ever run.
QUEUE_RANK_WAIT_S = 0
