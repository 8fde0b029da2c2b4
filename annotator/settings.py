"""Django settings, read from the environment in one place (see ``annotator.env``).

Embedded defaults (a fresh clone): SQLite and media under ``var/``, the Redis that
``scripts/run`` starts on a unix socket under ``var/``. Production: ``DATABASE_URL``,
``REDIS_URL``, ``SECRET_KEY``, ``ALLOWED_HOSTS`` and optionally S3 media.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from annotator import task_routes
from annotator.env import (
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_required,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ANNOTATOR_VAR_DIR") or BASE_DIR / "var")

ENVIRONMENT = env_choice("ANNOTATOR_ENV", "development", ("development", "test", "production"))
DEBUG = env_bool("DEBUG", ENVIRONMENT == "development")


def _secret_key() -> str:
    if ENVIRONMENT == "production":
        return env_required("SECRET_KEY", "it signs sessions and tokens in production")
    explicit = env_str("SECRET_KEY")
    if explicit:
        return explicit
    # Development and tests: a random key kept under var/ so sessions survive restarts.
    path = VAR_DIR / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(50)
        path.write_text(key)
        return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["*"] if ENVIRONMENT != "production" else ["localhost", "127.0.0.1"]
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served by us: no CDN needed offline
    "annotator",
    "api",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "annotator.urls"
WSGI_APPLICATION = "annotator.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------
_database_url = env_str("DATABASE_URL")
if _database_url:
    try:
        DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "annotator.sqlite3"),
            # Reuse connections: reconnecting (and re-running the PRAGMAs) per request
            # costs a millisecond or two on the click path.
            "CONN_MAX_AGE": 60,
            # WAL lets the web process read while a worker writes; busy timeout instead of
            # "database is locked" under concurrent writers.
            "OPTIONS": {
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- broker / result backend ---------------------------------------------------------
# The embedded default is the Redis that scripts/run starts on a unix socket in var/.
REDIS_URL = env_str("REDIS_URL") or f"redis+socket://{VAR_DIR / 'redis.sock'}"
if not REDIS_URL.startswith(("redis://", "rediss://", "redis+socket://", "unix://")):
    raise ImproperlyConfigured(f"REDIS_URL={REDIS_URL!r} must be a redis:// or redis+socket:// URL")

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_DEFAULT_QUEUE = task_routes.JOBS
# Routes come from the one list of tasks (annotator/task_routes.py); call sites never
# name a queue.
CELERY_TASK_ROUTES = {name: {"queue": queue} for name, queue in task_routes.TASK_QUEUES.items()}
# One message at a time per process: a long job must not hold interactive clicks hostage.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ALWAYS_EAGER = False
# Job tasks are acknowledged when they end (acks_late) and a lost pool process does not
# requeue the message (reject_on_worker_lost off): the job lifecycle decides instead,
# from the job's heartbeat (workers/runtime/lifecycle.py), so a job that kills its
# worker is retried a bounded number of times, not forever.
CELERY_TASK_REJECT_ON_WORKER_LOST = False

# --- media storage --------------------------------------------------------------------
MEDIA_ROOT = Path(env_str("MEDIA_ROOT") or VAR_DIR / "media")
MEDIA_URL = "/media/"
_s3_bucket = env_str("S3_BUCKET")
if _s3_bucket:
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _s3_bucket,
            "endpoint_url": env_str("S3_ENDPOINT_URL"),
            "region_name": env_str("S3_REGION"),
            "access_key": env_str("S3_ACCESS_KEY_ID"),
            "secret_key": env_str("S3_SECRET_ACCESS_KEY"),
            "location": env_str("S3_PREFIX", "") or "",
            "default_acl": None,
            "file_overwrite": True,
            "querystring_auth": True,
        },
    }
else:
    _media_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT)},
    }
STORAGES = {
    "default": _media_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing root

# --- uploads --------------------------------------------------------------------------
MAX_UPLOAD_MB = env_int("MAX_UPLOAD_MB", 200, minimum=1)
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Pillow's decompression-bomb guard: images above this many pixels are refused.
MAX_IMAGE_PIXELS = env_int("MAX_IMAGE_PIXELS", 100_000_000, minimum=1)
EXPORT_TTL_HOURS = env_int("EXPORT_TTL_HOURS", 72, minimum=1)
# Imports: the archive limits (compressed upload, uncompressed content).
MAX_IMPORT_MB = env_int("MAX_IMPORT_MB", 2048, minimum=1)
THUMBNAIL_SIZE = env_int("THUMBNAIL_SIZE", 256, minimum=32)

# --- engines ---------------------------------------------------------------------------
SAM_CHECKPOINT = env_str("SAM_CHECKPOINT") or None
SAM_MODEL_TYPE = env_choice("SAM_MODEL_TYPE", "vit_b", ("vit_b", "vit_l", "vit_h", "tiny"))
if env_str("SAM_CHECKPOINT") is None and (VAR_DIR / "models" / "active.json").is_file():
    # Registered with `python -m workers.runtime.sam_checkpoint`; the environment wins.
    _active = json.loads((VAR_DIR / "models" / "active.json").read_text())
    SAM_CHECKPOINT = str(_active["checkpoint"])
    SAM_MODEL_TYPE = str(_active["model_type"])
if SAM_CHECKPOINT and ENVIRONMENT == "production" and not Path(SAM_CHECKPOINT).is_file():
    raise ImproperlyConfigured(f"SAM_CHECKPOINT={SAM_CHECKPOINT!r} does not exist")
EMBEDDING_CACHE_MB = env_int("EMBEDDING_CACHE_MB", 1024, minimum=0)
# Images embedded in one encoder pass by the embed queue (SAM); queued jobs are claimed.
EMBED_BATCH_SIZE = env_int("EMBED_BATCH_SIZE", 4, minimum=1)
PREDICT_TIMEOUT_S = env_float("PREDICT_TIMEOUT_S", 10.0, minimum=0.1)

# --- job lifecycle (workers/runtime/lifecycle.py) ----------------------------------------
# A running job's worker stamps ``Job.heartbeat`` every JOB_HEARTBEAT_S; a job without a
# stamp for JOB_STALE_AFTER_S lost its worker and is run again (a fresh delivery), at
# most JOB_MAX_ATTEMPTS times in all, then failed with an error that says why.
JOB_HEARTBEAT_S = env_float("JOB_HEARTBEAT_S", 10.0, minimum=0.1)
JOB_STALE_AFTER_S = env_float("JOB_STALE_AFTER_S", 60.0, minimum=0.5)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 2, minimum=1)
if JOB_STALE_AFTER_S < 2 * JOB_HEARTBEAT_S:
    raise ImproperlyConfigured(
        f"JOB_STALE_AFTER_S={JOB_STALE_AFTER_S:g} must be at least twice "
        f"JOB_HEARTBEAT_S={JOB_HEARTBEAT_S:g} (one late beat must not look like a dead worker)"
    )

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.handle_api_exception",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Sparse-hint segmentation annotation API",
    "DESCRIPTION": "Projects, assets, annotations (COCO RLE), interactive prediction, jobs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO") or "INFO"},
}
ALLOW_SIGNUP = env_bool("ALLOW_SIGNUP", ENVIRONMENT != "production")
